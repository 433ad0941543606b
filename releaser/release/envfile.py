"""Reading ``.env`` files with python-dotenv's parser, strictly.

``dotenv_values`` skips a line it cannot parse with a logged warning; a release tool must not
guess, so we walk the parser's bindings ourselves: a malformed line or a key without ``=`` is
a ConfigError naming the file and line (exit 2). Values are kept literal (no ``${VAR}``
expansion) because Render stores them literally.

We also flag values that would break ``source .env`` in a shell (``&``, ``)``, ``$`` ...):
the file is read correctly by dotenv, but a deploy script that sources it gets a different
value, or a syntax error, which is how a password with ``&`` takes a release down.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from releaser.errors import ConfigError

KEY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
# Characters a POSIX shell treats specially in an unquoted word.
SHELL_SPECIAL_UNQUOTED = frozenset("&|;<>()$`\\\"' \t*?[]~")
# Inside double quotes the shell still expands these.
SHELL_SPECIAL_DOUBLE = frozenset("$`\\")


class EnvEntry(BaseModel):
    key: str
    value: str
    line: int
    shell_reason: str | None = None  # why 'source .env' would mangle it; None: safe


class EnvFile(BaseModel):
    path: Path
    entries: list[EnvEntry]

    def values(self) -> dict[str, str]:
        """Key -> value; a key repeated in the file keeps its last value, like dotenv."""
        return {e.key: e.value for e in self.entries}

    @property
    def shell_unsafe(self) -> list[EnvEntry]:
        return [e for e in self.entries if e.shell_reason]


def _raw_value(original: str, key: str) -> str:
    """The text after ``KEY=`` exactly as written (quotes included), comment-free."""
    text = original.strip()
    if text.startswith("export"):
        text = text[len("export") :].lstrip()
    text = text[len(key) + 2 :] if text.startswith(f"'{key}'") else text[len(key) :]
    return text.lstrip()[1:].lstrip()  # drop "=" and the spaces around it


def shell_problem(raw: str) -> str | None:
    """Why ``KEY=<raw>`` would not survive ``source`` unchanged, or None."""
    if not raw:
        return None
    if "\x00" in raw:  # quoting cannot help: no shell variable can hold a NUL byte
        return "value contains a NUL byte, which the shell cannot hold"
    if raw[0] == "'":
        return None  # single quotes: the shell takes everything literally
    if raw[0] == '"':
        inner = raw[1:].rsplit('"', 1)[0]
        bad = sorted(set(inner) & SHELL_SPECIAL_DOUBLE)
        if bad:
            return f"double-quoted value contains {' '.join(bad)} which the shell expands"
        return None
    # Unquoted: dotenv stops at " #"; the shell treats the rest as a comment too.
    value = re.sub(r"\s+#.*", "", raw).rstrip()
    bad = sorted(set(value) & SHELL_SPECIAL_UNQUOTED)
    if bad:
        shown = " ".join("space" if c == " " else "tab" if c == "\t" else c for c in bad)
        return f"unquoted value contains {shown}; wrap it in single quotes"
    return None


def parse_env_text(text: str, path: Path) -> EnvFile:
    """Parse ``.env`` text; ConfigError with ``path:line`` on anything doubtful."""
    import io

    from dotenv.parser import parse_stream

    entries: list[EnvEntry] = []
    for binding in parse_stream(io.StringIO(text)):
        original = binding.original.string
        # The parser's mark includes blank lines before the binding: skip them for the number.
        leading = original[: len(original) - len(original.lstrip())]
        line = binding.original.line + leading.count("\n")
        if binding.error:
            raise ConfigError(
                f"{path}:{line}: cannot parse this line (unbalanced quote or stray character)",
                "Fix that line: KEY=value, one per line, quote values with spaces",
            )
        if binding.key is None:
            continue  # blank line or comment
        if not KEY_PATTERN.fullmatch(binding.key):
            raise ConfigError(
                f"{path}:{line}: not a valid variable name",
                "Names are letters, digits and underscores, not starting with a digit",
            )
        if binding.value is None:
            raise ConfigError(
                # Not naming the "key": a line without '=' is often a pasted value.
                f"{path}:{line}: this line has no '='",
                "Write KEY=value (KEY= for an empty value)",
            )
        entries.append(
            EnvEntry(
                key=binding.key,
                value=binding.value,
                line=line,
                shell_reason=shell_problem(_raw_value(original, binding.key)),
            )
        )
    return EnvFile(path=path, entries=entries)


def read_env_file(path: Path) -> EnvFile:
    """Read and parse a ``.env`` file (ConfigError, exit 2, if missing or malformed)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"env file {path} does not exist", "Check the path") from None
    except OSError as exc:
        raise ConfigError(
            f"cannot read env file {path}: {exc.strerror}", "Check the path"
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text", "Save the file as UTF-8") from None
    return parse_env_text(text, path)
