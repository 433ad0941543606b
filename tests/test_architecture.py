"""The module picture holds: click stays in cli/, commands stay thin, a bug is not 'retry'.

docs/architecture.md describes the layers; these tests keep the code from drifting from it.
"""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

PACKAGE = Path(__file__).resolve().parents[1] / "releaser"

# Commands whose body is still longer than the limit (issue 13 shrinks them; remove a name
# here when its command reads parse, build, plan, confirm, execute, finish).
LONG_BODIES_PENDING: set[str] = set()
BODY_LIMIT = 25


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_module_below_cli_imports_click() -> None:
    """The core is usable as a library and testable without a terminal: click is cli/'s."""
    offenders = [
        str(path.relative_to(PACKAGE.parent))
        for path in sorted(PACKAGE.rglob("*.py"))
        if "cli" not in path.relative_to(PACKAGE).parts[:1]
        and any(name == "click" or name.startswith("click.") for name in _imports(path))
    ]
    assert offenders == []


# The simulator's HTTP error answer (a status and a body it serves to the client under
# test), not an error of releaser's: it never reaches releaser's error boundary.
EXCEPTIONS_OUTSIDE_ERRORS = {"sim/state.py": {"ApiProblem"}}


def _exception_classes(path: Path, known: set[str]) -> set[str]:
    """Classes in ``path`` whose base is an exception (a builtin one or one in ``known``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        bases = {ast.unparse(base).rsplit(".", 1)[-1] for base in node.bases}
        if any(b in known or b.endswith(("Error", "Exception")) for b in bases):
            found.add(node.name)
    return found


def test_every_error_class_lives_in_errors_py() -> None:
    """One place to learn the error tree and its exit codes (errors.py's docstring draws it)."""
    import releaser.errors as errors

    known = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, BaseException)
    }
    elsewhere = {
        rel: classes
        for path in sorted(PACKAGE.rglob("*.py"))
        if (rel := path.relative_to(PACKAGE).as_posix()) != "errors.py"
        and (classes := _exception_classes(path, known))
    }
    assert elsewhere == EXCEPTIONS_OUTSIDE_ERRORS
    tree = errors.__doc__ or ""
    assert [
        name for name in sorted(known - {"BaseException", "Exception"}) if name not in tree
    ] == []


def _commands() -> list[tuple[str, click.Command]]:
    from releaser.cli.main import main

    found: list[tuple[str, click.Command]] = []

    def walk(prefix: str, group: click.Group) -> None:
        ctx = click.Context(group)
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            assert command is not None
            path = f"{prefix} {name}".strip()
            if isinstance(command, click.Group):
                walk(path, command)
            else:
                found.append((path, command))

    walk("", main)
    return found


def _body_lines(command: click.Command) -> int:
    """Lines of the command's function body, without its docstring, blank lines or comments."""
    callback = inspect.unwrap(command.callback)  # type: ignore[arg-type]
    source = textwrap.dedent(inspect.getsource(callback))
    function = ast.parse(source).body[0]
    assert isinstance(function, ast.FunctionDef)
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    if not body:
        return 0
    lines = source.splitlines()[body[0].lineno - 1 : function.end_lineno]
    return sum(1 for line in lines if line.strip() and not line.strip().startswith("#"))


def test_command_bodies_are_short() -> None:
    """A command body reads parse, build, plan, confirm, execute, finish: the work is below."""
    long = {path: n for path, command in _commands() if (n := _body_lines(command)) > BODY_LIMIT}
    assert {p: n for p, n in long.items() if p not in LONG_BODIES_PENDING} == {}
    assert sorted(LONG_BODIES_PENDING - set(long)) == [], "shortened: remove from the list"


def test_a_bug_exits_70_with_one_line_never_the_retry_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An exception releaser did not expect is a bug: exit 70 and 'report it', not exit 3."""
    from releaser.cli import main as entry

    @click.command()
    def broken() -> None:
        empty: dict[str, str] = {}
        empty["missing"]  # noqa: B018 - the bug under test

    module = type(sys)("releaser_test_broken")
    module.broken = broken  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "releaser_test_broken", module)
    monkeypatch.setitem(entry.COMMANDS, "broken", "releaser_test_broken:broken")
    result = CliRunner().invoke(entry.main, ["broken"], prog_name="releaser")
    assert result.exit_code == 70
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "a bug in releaser" in lines[0] and "report it" in lines[0]
