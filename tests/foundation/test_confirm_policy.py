"""One confirmation policy for every command that writes (issue 11, item 5).

No terminal and no --yes: exit 2 before any request. Declined on a terminal: exit 1,
"nothing was changed", and no write reached Render.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from localstate import ledger_rows

Run = Callable[..., Result]
WEB = "srv-hjtl316kyssqmyi4ywa3"  # "web" in the demo scenario

COMMANDS: dict[str, tuple[str, list[str]]] = {
    "deploy": ("demo", ["deploy", "web", "--skip-checks"]),
    "rollback": ("demo", ["rollback", "web", "--to", "previous"]),
    "promote": (
        "deploy-promote",
        ["promote", "--from", "web-staging", "--to", "web-prod", "--skip-checks"],
    ),
    "env set": ("demo", ["env", "set", "web", "LOG_LEVEL=debug"]),
    "env set --unset": ("demo", ["env", "set", "web", "--unset", "PYTHON_VERSION"]),
    "env unset": ("demo", ["env", "unset", "web", "PYTHON_VERSION"]),
    "env restore": ("demo", ["env", "restore", "web", "backup.json"]),
}


@pytest.fixture
def started(sim_factory: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    def go(scenario: str) -> Any:
        server = sim_factory(scenario)
        monkeypatch.setenv("RENDER_API_URL", server.url)
        monkeypatch.setenv("RENDER_API_KEY", server.api_key)
        Path("backup.json").write_text(
            json.dumps(
                {
                    "format": "releaser-env-backup/1",
                    "service_id": WEB,
                    "taken_at": "2026-01-01T00:00:00Z",
                    "env_vars": [{"key": "ONLY_THIS", "value": "1"}],
                }
            )
        )
        return server

    return go


@pytest.mark.parametrize("name", list(COMMANDS))
def test_no_terminal_and_no_yes_is_exit_2_before_any_request(
    name: str, started: Callable[[str], Any], run_cli: Run
) -> None:
    """A script that forgot --yes gets exit 2 and Render sees no request at all."""
    scenario, args = COMMANDS[name]
    server = started(scenario)
    result = run_cli(*args)
    assert result.exit_code == 2, result.stderr
    assert result.stderr == (
        "Error: this command writes and there is no terminal to confirm on, so nothing was "
        "changed. Pass --yes to confirm non-interactively, or --dry-run to see the plan\n"
    )
    assert server.requests == []


@pytest.mark.parametrize("name", list(COMMANDS))
def test_declining_on_a_terminal_is_exit_1_and_changes_nothing(
    name: str, started: Callable[[str], Any], run_cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Answering no at the prompt: exit 1, 'nothing was changed', only reads were made."""
    scenario, args = COMMANDS[name]
    server = started(scenario)
    monkeypatch.setattr("releaser.cli.console.stdin_is_tty", lambda: True)
    result = run_cli(*args, input="n\n")
    assert result.exit_code == 1, result.stderr
    assert result.stderr.endswith("Error: not confirmed. Nothing was changed\n")
    assert "[y/N]" in result.stderr
    assert [r for r in server.requests if r.method != "GET"] == []
    assert not Path(".releaser/backups").exists()  # not even a backup
    assert ledger_rows(Path.cwd()) == 0  # and nothing for the ledger: nothing was done
