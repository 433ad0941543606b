"""Docs that cannot drift: every read-only or `--dry-run` `releaser …` line of the runbooks and
of the README quick start runs against the demo simulator and exits as documented."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

ROOT = Path(__file__).resolve().parents[1]

# Commands that never write, decided by command path; any other line runs only with --dry-run.
READ_ONLY = {
    "services",
    "status",
    "history",
    "logs",
    "go-no-go",
    "env list",
    "env diff",
    "env get",
    "sim scenarios",
    "lock status",
    "ledger",
    "db list",
}
GROUPS = {"env", "db", "sim", "lock"}


def _code_lines(path: Path, start: str | None = None) -> Iterator[tuple[int, str]]:
    """`releaser …` lines inside code blocks (after the heading `start`, up to the next one)."""
    in_code = False
    in_section = start is None
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if start is not None and line.startswith("## "):
            in_section = line.startswith(start)
        if line.strip().startswith("```"):
            in_code = not in_code
            continue
        text = line.strip().removeprefix("$").strip()
        if in_code and in_section and text.startswith("releaser "):
            yield number, text


def documented() -> Iterator[tuple[str, str]]:
    for number, text in _code_lines(ROOT / "README.md", "## Quick start"):
        yield f"README.md:{number}", text
    for book in sorted((ROOT / "runbooks").glob("*.md")):
        for number, text in _code_lines(book):
            yield f"{book.name}:{number}", text


def _args(line: str) -> list[str]:
    text = re.sub(r"\s+#.*$", "", line)  # trailing shell comments
    text = re.sub(r"\s*[|>&].*$", "", text)  # pipes, redirections, background: the shell's
    return shlex.split(text)[1:]


def _path(args: list[str]) -> str:
    words = [a for a in args if not a.startswith("-")]
    if words and words[0] in GROUPS and len(words) > 1:
        return f"{words[0]} {words[1]}"
    return words[0] if words else ""


def _runs(args: list[str]) -> bool:
    path = _path(args)
    if "--follow" in args:
        return False
    return path in READ_ONLY or "--dry-run" in args or "--help" in args or "--version" in args


# Lines that cannot run here, and why. Anything not listed runs, so a new runbook line runs too.
SKIPS = {
    "db prune --to s3://": "needs S3 with stored snapshots (covered by tests/db)",
    "db restore ": "needs a stored snapshot and a PostgreSQL target (covered by tests/db)",
    "--changed-since v1.4.0": "needs a git checkout with the tag v1.4.0 (covered by tests/state)",
}
# Placeholders in the docs, per book: the demo scenario's names for them.
RENAMES = {
    "multi-service-release.md": {"api": "web"},
    "deploy-and-rollback.md": {"web": "web-prod"},  # with web-staging: the promote scenario
}
# The next production values: keys Render has, one value changed (a new key would be an
# "env file drift" FAIL until it is written: runbooks/config-change.md says so).
ENV_PRODUCTION = "PYTHON_VERSION=3.11.9\nWEB_CONCURRENCY=8\n"
NEW_DATABASE_ENV = "DATABASE_URL=postgresql://app@new-db.internal:5432/app\n"
CONFIG = """
[databases.main-db]
source = "main-db"
store = "file://{store}"

[releases.shop]
services = ["web", "worker"]
"""


def _skip_reason(line: str) -> str | None:
    return next((why for key, why in SKIPS.items() if key in line), None)


LINES = [(where, line) for where, line in documented() if _runs(_args(line))]


def _substitute(where: str, args: list[str], tmp: Path, promote: bool) -> list[str]:
    renames = RENAMES.get(where.split(":")[0], {}) if promote or "multi" in where else {}
    out = [renames.get(arg, arg) for arg in args]
    if out[:2] == ["env", "restore"]:
        # The runbook's backup name is an example: use the backup an earlier `env set` wrote.
        out[3] = str(next((tmp / ".releaser" / "backups").glob("*.json")))
    return out


@pytest.mark.parametrize(("where", "line"), LINES, ids=[w for w, _ in LINES])
def test_documented_command_runs(
    where: str,
    line: str,
    tmp_path: Path,
    sim_factory: Callable[..., Any],
    run_cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The documented read-only or --dry-run command runs and exits 0, as its doc says."""
    reason = _skip_reason(line)
    if reason:
        pytest.skip(reason)
    args = _args(line)
    promote = "web-staging" in args
    server = sim_factory("deploy-promote" if promote else "demo")
    monkeypatch.setenv("RENDER_API_URL", server.url)
    monkeypatch.setenv("RENDER_API_KEY", server.api_key)
    (tmp_path / ".env.production").write_text(ENV_PRODUCTION)
    (tmp_path / "new-database.env").write_text(NEW_DATABASE_ENV)
    (tmp_path / "snapshots").mkdir(mode=0o700)
    (tmp_path / "releaser.toml").write_text(CONFIG.format(store=tmp_path / "snapshots"))
    if args[:2] == ["env", "restore"]:
        made = run_cli("env", "set", "web", "LOG_LEVEL=debug", "--yes")
        assert made.exit_code == 0, made.output
    result = run_cli(*_substitute(where, args, tmp_path, promote))
    assert result.exit_code == 0, f"{where}: `{line}` exited {result.exit_code}: {result.output}"


def test_the_drift_test_runs_commands_of_every_runbook() -> None:
    """The selection is not accidentally empty: each runbook and the quick start contribute."""
    sources = {where.split(":")[0] for where, _ in LINES}
    books = {book.name for book in (ROOT / "runbooks").glob("*.md")}
    assert sources >= books | {"README.md"}, sorted(books | {"README.md"} - sources)
