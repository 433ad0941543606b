"""Errors name what is wrong and never repeat a secret value (issue 11, item 9)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

Run = Callable[..., Result]
PASSWORD = "p@ss:w/rd#Zq8v"


@pytest.mark.parametrize(
    "dsn",
    [
        f"postgresql://app:{PASSWORD}@db.internal:54x2/main",  # port error, unusual password
        f"host=db.internal port=abc password='{PASSWORD}' dbname=main",
        f"postgresq://app:{PASSWORD}@db.internal:5432/main",  # mistyped scheme
        f"postgress://app:{PASSWORD}@db.internal/main",
    ],
)
def test_bad_dsn_is_refused_without_echo_and_never_sent_to_render(
    sim: Any, run_cli: Run, dsn: str, tmp_path: Path
) -> None:
    """A malformed DSN is exit 2 naming the problem; the password is not shown and no
    request reaches Render (a mistyped scheme is not looked up as a database name)."""
    result = run_cli("db", "snapshot", dsn, "--to", (tmp_path / "store").as_uri())
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("Error: ")
    for part in (PASSWORD, "p@ss", "w/rd", "Zq8v"):
        assert part not in result.stdout + result.stderr
    assert sim.requests == []


def test_dsn_errors_do_not_echo_in_env_var_form(
    sim: Any, run_cli: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The same through env:VAR: the error names the variable, not its value."""
    monkeypatch.setenv("SOURCE_DSN", f"postgresql://app:{PASSWORD}@db:5x/main")
    result = run_cli("db", "snapshot", "env:SOURCE_DSN", "--to", (tmp_path / "s").as_uri())
    assert result.exit_code == 2
    assert "env:SOURCE_DSN" in result.stderr
    assert "Zq8v" not in result.stderr


@pytest.mark.parametrize(
    "mapping",
    [f"postgresql://app:{PASSWORD}@db/main", f"main-db=postgresq://app:{PASSWORD}@db/main"],
)
def test_sim_postgres_mapping_error_does_not_echo_the_dsn(run_cli: Run, mapping: str) -> None:
    """A malformed --postgres NAME=DSN is exit 2 without quoting the DSN."""
    result = run_cli("sim", "serve", "--postgres", mapping)
    assert result.exit_code == 2
    assert "--postgres value 1 is not NAME=postgresql://" in result.stderr
    assert "Zq8v" not in result.stderr and "p@ss" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["logs", f"postgresq://app:{PASSWORD}@db/main"],
        ["status", f"https://app:{PASSWORD}@web.example"],
        ["env", "list", f"host=db password={PASSWORD}"],
    ],
)
def test_a_connection_string_given_as_service_is_never_sent(
    sim: Any, run_cli: Run, args: list[str]
) -> None:
    """A DSN pasted where SERVICE goes: exit 2, not shown, not sent to Render as a name."""
    result = run_cli(*args)
    assert result.exit_code == 2, result.stderr
    assert "SERVICE looks like a URL or connection string" in result.stderr
    assert "Zq8v" not in result.stderr + result.stdout
    assert sim.requests == []
