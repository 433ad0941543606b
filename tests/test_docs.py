"""Docs stay true: every command has help with an example and is in the README; every
`releaser …` line in runbooks/*.md parses against the real CLI."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from releaser.cli.main import main

ROOT = Path(__file__).resolve().parents[1]


def leaf_commands() -> Iterator[tuple[str, click.Command]]:
    ctx = click.Context(main)

    def walk(group: click.Group, prefix: str) -> Iterator[tuple[str, click.Command]]:
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            assert command is not None
            path = f"{prefix} {name}".strip()
            if isinstance(command, click.Group):
                yield from walk(command, path)
            else:
                yield path, command

    yield from walk(main, "")


LEAVES = dict(leaf_commands())


@pytest.mark.parametrize("path", sorted(LEAVES))
def test_command_help_has_an_example(path: str) -> None:
    """Every command explains itself and shows at least one example invocation."""
    command = LEAVES[path]
    text = command.help or ""
    assert text.strip(), f"{path} has no help text"
    assert "Example" in text, f"`releaser {path} --help` shows no example"
    assert f"releaser {path}" in text, f"`releaser {path} --help` example does not run {path}"


@pytest.mark.parametrize("path", sorted(LEAVES))
def test_command_is_in_the_readme(path: str) -> None:
    """Every command appears in README.md."""
    readme = (ROOT / "README.md").read_text()
    assert f"releaser {path}" in readme, f"README.md does not mention `releaser {path}`"


def runbook_commands() -> Iterator[tuple[str, int, str]]:
    for book in sorted((ROOT / "runbooks").glob("*.md")):
        in_code = False
        for number, line in enumerate(book.read_text().splitlines(), 1):
            if line.strip().startswith("```"):
                in_code = not in_code
                continue
            stripped = line.strip().lstrip("$ ").strip()
            if in_code and stripped.startswith("releaser "):
                yield book.name, number, stripped


RUNBOOK_LINES = list(runbook_commands())


def _resolve(args: list[str]) -> tuple[click.Command, list[str], list[str]]:
    command: click.Command = main
    path: list[str] = []
    ctx = click.Context(main)
    while isinstance(command, click.Group) and args and not args[0].startswith("-"):
        sub = command.get_command(ctx, args[0])
        assert sub is not None, f"unknown command {' '.join([*path, args[0]])!r}"
        path.append(args.pop(0))
        command = sub
    return command, path, args


@pytest.mark.parametrize(("book", "number", "line"), RUNBOOK_LINES)
def test_runbook_commands_parse(book: str, number: int, line: str) -> None:
    """A runbook command names real commands and options the CLI accepts."""
    text = re.sub(r"\s+#.*$", "", line)  # trailing shell comments
    text = re.sub(r"\s*[|>].*$", "", text)  # pipes and redirections are the shell's business
    args = shlex.split(text)[1:]
    command, path, rest = _resolve(args)
    assert not isinstance(command, click.Group), f"{book}:{number}: incomplete command"
    ctx = command.make_context(f"releaser {' '.join(path)}", rest, resilient_parsing=False)
    assert ctx is not None, f"{book}:{number}: {line}"


def test_runbooks_exist_and_use_releaser() -> None:
    """The runbooks the issues ask for exist and contain commands."""
    books = {b for b, _, _ in RUNBOOK_LINES}
    assert books, "no runbook commands found"


def test_commands_reference_is_generated_from_help() -> None:
    """docs/commands.md is exactly what `scripts/gen-docs` produces from every `--help`."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen-docs"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, (
        f"docs/commands.md differs from the commands' --help: run scripts/gen-docs. {done.stderr}"
    )
