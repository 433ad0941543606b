# Shared by scripts/*: a project venv with releaser installed. Sourced, not run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${RELEASER_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"

ensure_venv() {  # $1: extras, e.g. "dev" or ""
  local extras="${1:-}" spec="$ROOT" stamp
  [ -n "$extras" ] && spec="$ROOT[$extras]"
  if [ ! -x "$VENV/bin/python" ]; then
    echo "scripts: creating $VENV" >&2
    "$PY" -m venv "$VENV"
  fi
  # Reinstall only when pyproject.toml changed since the last install with these extras.
  stamp="$VENV/.releaser-installed-${extras:-base}"
  if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
    echo "scripts: installing releaser${extras:+[$extras]} into $VENV" >&2
    "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
    "$VENV/bin/python" -m pip install -q -e "$spec"
    touch "$stamp"
  fi
  export PATH="$VENV/bin:$PATH"
}
