"""`releaser env list|diff|set|restore` over real HTTP against the simulator."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import Result
from conftest import WEB, env_of, writes

Run = Callable[..., Result]


def test_list_shows_sources_and_masks_secrets(start: Callable[..., Any], run_cli: Run) -> None:
    """env list shows each key's source (service or group) and masks secret values."""
    start("demo")
    result = run_cli("env", "list", "web", "-o", "json")
    assert result.exit_code == 0, result.stderr
    rows = {r["key"]: r for r in json.loads(result.stdout)}
    assert rows["SESSION_SECRET"]["source"] == "group:shared-secrets"
    assert rows["SECRET_KEY"]["value"].startswith("****** (len 64, fp ")
    assert rows["WEB_CONCURRENCY"]["value"] == "4"
    assert rows["DATABASE_URL"]["value"] == (
        "postgresql://main_db_user:******@dpg-7l12w8x43hfpnuskvnmm-a/main_db"
    )


def test_diff_reports_by_key_with_masked_values(start: Callable[..., Any], run_cli: Run) -> None:
    """env diff lists missing, Render-only and differing keys; values only masked."""
    start("demo")
    Path(".env").write_text("WEB_CONCURRENCY=8\nLOCAL_ONLY=1\nPYTHON_VERSION=3.11.9\n")
    result = run_cli("env", "diff", "web", "--env-file", ".env", "-o", "json")
    assert result.exit_code == 0, result.stderr
    rows = {r["key"]: r for r in json.loads(result.stdout)}
    assert rows["LOCAL_ONLY"]["status"] == "missing on Render"
    assert rows["SECRET_KEY"]["status"] == "only on Render"
    assert rows["WEB_CONCURRENCY"]["status"] == "differs"
    assert rows["WEB_CONCURRENCY"]["local"] == "****** (len 1)"  # too short for a fingerprint
    assert rows["PYTHON_VERSION"]["status"] == "same"
    table = run_cli("env", "diff", "web", "--env-file", ".env")
    assert "differs" in table.stdout and "keys differ." in table.stdout


def test_set_merges_and_never_drops(start: Callable[..., Any], run_cli: Run) -> None:
    """env set adds/changes/unsets only what it was told; every other var survives."""
    server = start("demo")
    before = env_of(server)
    result = run_cli(
        "env",
        "set",
        "web",
        "LOG_LEVEL=debug",
        "WEB_CONCURRENCY=8",
        "--unset",
        "PYTHON_VERSION",
        "--yes",
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[:4] == [
        f"Plan for web ({WEB}): 1 added, 1 changed, 1 removed",
        "  + LOG_LEVEL",
        "  ~ WEB_CONCURRENCY",
        "  - PYTHON_VERSION",
    ]
    after = env_of(server)
    expected = {k: v for k, v in before.items() if k != "PYTHON_VERSION"}
    assert after == {**expected, "LOG_LEVEL": "debug", "WEB_CONCURRENCY": "8"}
    assert "The change is live only after a deploy" in result.stderr
    # Key by key: nothing not named is ever sent, so nothing not named can be dropped.
    assert [(r.method, r.path) for r in writes(server)] == [
        ("PUT", f"/v1/services/{WEB}/env-vars/LOG_LEVEL"),
        ("PUT", f"/v1/services/{WEB}/env-vars/WEB_CONCURRENCY"),
        ("DELETE", f"/v1/services/{WEB}/env-vars/PYTHON_VERSION"),
    ]


def test_set_saves_a_private_backup_first(start: Callable[..., Any], run_cli: Run) -> None:
    """Before writing, the previous vars go to a 0600 file whose path is printed."""
    server = start("demo")
    before = env_of(server)
    result = run_cli("env", "set", "web", "LOG_LEVEL=debug", "--yes", "--backup-dir", "bk")
    [backup] = Path("bk").iterdir()
    assert f"Saved the previous variables to {backup}" in result.stderr
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    saved = json.loads(backup.read_text())
    assert {v["key"]: v["value"] for v in saved["env_vars"]} == before


def test_default_backup_dir(start: Callable[..., Any], run_cli: Run) -> None:
    """Without --backup-dir, backups go to .releaser/backups in the current directory."""
    start("demo")
    run_cli("env", "set", "web", "LOG_LEVEL=debug", "--yes")
    assert len(list(Path(".releaser/backups").glob(f"{WEB}-*.json"))) == 1


def test_dry_run_makes_zero_writes(start: Callable[..., Any], run_cli: Run) -> None:
    """--dry-run prints the plan and sends no request other than GETs, nor writes a backup."""
    server = start("demo")
    result = run_cli(
        "env",
        "set",
        "web",
        "LOG_LEVEL=debug",
        "--unset",
        "WEB_CONCURRENCY",
        "--dry-run",
        "--deploy",
        "--yes",
    )
    assert result.exit_code == 0, result.stderr
    assert "  + LOG_LEVEL" in result.stdout and "Dry run: nothing written." in result.stderr
    assert writes(server) == []
    assert not Path(".releaser").exists()


def test_without_tty_and_yes_nothing_is_written(start: Callable[..., Any], run_cli: Run) -> None:
    """In CI (no TTY) without --yes, env set refuses with exit 2 and writes nothing."""
    server = start("demo")
    result = run_cli("env", "set", "web", "LOG_LEVEL=debug")
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: this command writes and there is no terminal to confirm on, so nothing was "
        "changed. Pass --yes to confirm non-interactively, or --dry-run to see the plan\n"
    )
    assert writes(server) == []


def test_deploy_flag_starts_a_deploy_only_deploy(start: Callable[..., Any], run_cli: Run) -> None:
    """--deploy triggers a deploy_only deploy after the write, and says which."""
    server = start("demo")
    result = run_cli("env", "set", "web", "LOG_LEVEL=debug", "--yes", "--deploy", "-o", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["written"] is True and data["deploy_id"].startswith("dep-")
    post = [r for r in writes(server) if r.method == "POST"]
    assert [(r.path, r.json["deployMode"]) for r in post] == [
        (f"/v1/services/{WEB}/deploys", "deploy_only")
    ]
    assert f"Started {data['deploy_id']}" in result.stderr


def test_from_file_with_args_winning(start: Callable[..., Any], run_cli: Run) -> None:
    """--from-file sets every key in the file; KEY=VALUE arguments override it."""
    server = start("demo")
    Path("new.env").write_text("LOG_LEVEL=info\nFEATURE_X='on'\n")
    result = run_cli("env", "set", "web", "--from-file", "new.env", "LOG_LEVEL=warn", "--yes")
    assert result.exit_code == 0, result.stderr
    assert {k: env_of(server)[k] for k in ("LOG_LEVEL", "FEATURE_X")} == {
        "LOG_LEVEL": "warn",
        "FEATURE_X": "on",
    }


def test_invalid_new_values_are_refused(start: Callable[..., Any], run_cli: Run) -> None:
    """A new value failing its declared type is refused (exit 2) unless --force."""
    server = start("demo", '[services.web.types]\nCORS_ORIGINS = "json_list"\n')
    result = run_cli("env", "set", "web", "CORS_ORIGINS=[https://a.example]", "--yes")
    assert result.exit_code == 2
    assert "Error: refusing to write: CORS_ORIGINS (json_list): not valid JSON" in result.stderr
    assert writes(server) == []
    forced = run_cli("env", "set", "web", "CORS_ORIGINS=[https://a.example]", "--yes", "--force")
    assert forced.exit_code == 0 and env_of(server)["CORS_ORIGINS"] == "[https://a.example]"


def test_bad_arguments_exit_2_with_nothing_written(start: Callable[..., Any], run_cli: Run) -> None:
    """KEY=VALUE without '=', a malformed --from-file and no change at all: exit 2, no write."""
    server = start("demo")
    result = run_cli("env", "set", "web", "A=1", "JUSTAVALUE", "--yes")
    assert (result.exit_code, result.stderr) == (
        2,
        "Error: argument 2 of the KEY=VALUE list has no '='. "
        "Write KEY=VALUE (KEY= for an empty value); quote values with spaces\n",
    )
    Path("bad.env").write_text("OK=1\nNOT VALID\n")
    result = run_cli("env", "set", "web", "--from-file", "bad.env", "--yes")
    assert result.exit_code == 2 and result.stderr.startswith("Error: bad.env:2: cannot parse")
    result = run_cli("env", "set", "web", "--yes")
    assert result.exit_code == 2 and "nothing to change" in result.stderr
    assert writes(server) == []


def test_restore_puts_the_backup_back(start: Callable[..., Any], run_cli: Run) -> None:
    """env restore returns the vars to the backup exactly, backing up the current set first."""
    server = start("demo")
    before = env_of(server)
    run_cli(
        "env",
        "set",
        "web",
        "LOG_LEVEL=debug",
        "--unset",
        "WEB_CONCURRENCY",
        "--yes",
        "--backup-dir",
        "bk",
    )
    [backup] = Path("bk").iterdir()
    dry = run_cli("env", "restore", "web", str(backup), "--dry-run")
    assert "  + WEB_CONCURRENCY" in dry.stdout and "  - LOG_LEVEL" in dry.stdout
    result = run_cli("env", "restore", "web", str(backup), "--yes", "--backup-dir", "bk")
    assert result.exit_code == 0, result.stderr
    assert env_of(server) == before
    assert len(list(Path("bk").iterdir())) == 2


def test_restore_refuses_another_services_backup(start: Callable[..., Any], run_cli: Run) -> None:
    """A backup taken from one service is not restored onto another."""
    server = start("demo")
    run_cli("env", "set", "web", "LOG_LEVEL=debug", "--yes", "--backup-dir", "bk")
    [backup] = Path("bk").iterdir()
    server.clear_requests()
    result = run_cli("env", "restore", "worker", str(backup), "--yes")
    assert result.exit_code == 2 and f"the backup is of service {WEB}" in result.stderr
    assert writes(server) == []


def test_help_texts_carry_examples(run_cli: Run) -> None:
    """Every command of this issue has help with an example."""
    for args in (
        ["go-no-go"],
        ["env"],
        ["env", "list"],
        ["env", "diff"],
        ["env", "set"],
        ["env", "restore"],
    ):
        result = run_cli(*args, "--help")
        assert result.exit_code == 0 and "Example:" in result.stdout, args


def test_terminal_confirmation(start: Callable[..., Any], run_cli: Run, monkeypatch: Any) -> None:
    """On a terminal, env set asks first: 'n' writes nothing, 'y' applies the plan."""
    server = start("demo")
    monkeypatch.setattr("releaser.cli.console.stdin_is_tty", lambda: True)
    declined = run_cli("env", "set", "web", "LOG_LEVEL=debug", input="n\n")
    assert declined.exit_code == 1
    assert declined.stderr.endswith("Error: not confirmed. Nothing was changed\n")
    assert writes(server) == []
    accepted = run_cli("env", "set", "web", "LOG_LEVEL=debug", input="y\n")
    assert accepted.exit_code == 0, accepted.stderr
    assert "Write these changes to web? [y/N]" in accepted.stderr
    assert env_of(server)["LOG_LEVEL"] == "debug"
