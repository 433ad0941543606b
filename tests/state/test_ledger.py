"""The ledger: every write of the CLI is appended, with who, where, what and the verdict."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import demo
import psycopg
import pytest
from click.testing import Result
from statehelp import WEB

from releaser.sim import SimServer
from releaser.state.local import SqliteStore
from releaser.state.models import LedgerEntry
from releaser.state.pg import PostgresStore

Run = Callable[..., Result]
Start = Callable[..., SimServer]
LIVE = demo.LIVE  # demo: web's live deploy
QUICK = {"build_seconds": 20, "update_seconds": 10}
SECRET = "s3cr3t-value-that-must-never-be-stored-0123456789"
GITHUB = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_ACTOR": "octocat",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "acme/shop",
    "GITHUB_RUN_ID": "4242",
}
RUN_URL = "https://github.com/acme/shop/actions/runs/4242"


def ledger_json(run_cli: Run, *args: str) -> list[dict[str, object]]:
    result = run_cli("ledger", *args, "-o", "json")
    assert result.exit_code == 0, result.stderr
    entries: list[dict[str, object]] = json.loads(result.stdout)
    return entries


def test_every_write_of_a_ci_session_is_in_the_ledger_with_who_where_and_verdict(
    state_dsn: str, start_sim: Start, run_cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """deploy, env set (keys only), rollback: one entry each; dry runs and refusals add none."""
    for name, value in GITHUB.items():
        monkeypatch.setenv(name, value)
    sim = start_sim("demo")
    sim.queue_behaviour("web", "succeed", **QUICK)
    assert run_cli("deploy", "web", "--dry-run").exit_code == 0
    deployed = run_cli("deploy", "web", "--skip-checks", "--yes", "--soak", "30s")
    assert deployed.exit_code == 0, deployed.stderr
    assert run_cli("env", "set", "web", f"API_TOKEN={SECRET}", "--dry-run").exit_code == 0
    changed = run_cli("env", "set", "web", f"API_TOKEN={SECRET}", "LOG_LEVEL=debug", "--yes")
    assert changed.exit_code == 0, changed.stderr
    back = run_cli("rollback", "web", "--to", LIVE, "--yes")
    assert back.exit_code == 0, back.stderr

    entries = ledger_json(run_cli, "web")
    assert [(e["action"], e["verdict"], e["exit_code"]) for e in entries] == [
        ("deploy", "healthy", 0),
        ("env set", "ok", 0),
        ("rollback", "healthy", 0),
    ]
    assert {(e["who"], e["ci_url"], e["service"]) for e in entries} == {("octocat", RUN_URL, WEB)}
    deploy, env, rollback = entries
    new_deploy = [r for r in sim.requests if r.method == "POST" and r.path.endswith("/deploys")]
    assert deploy["from_ref"] == LIVE and deploy["to_ref"] not in (None, LIVE)
    assert len(new_deploy) == 1
    assert str(deploy["report"]).startswith("# Release report: web")
    assert env["detail"] == {
        "added": ["API_TOKEN", "LOG_LEVEL"],
        "changed": [],
        "removed": [],
        "written": True,
    }
    assert rollback["from_ref"] == deploy["to_ref"] and rollback["to_ref"] == LIVE
    assert "autodeploy" in str(rollback["detail"]["autodeploy"]).lower()  # type: ignore[index]
    raw = run_cli("ledger", "-o", "json").stdout
    assert SECRET not in raw and SECRET[:12] not in raw
    with psycopg.connect(state_dsn) as conn:  # nor anywhere in the database
        dump = str(conn.execute("SELECT * FROM releaser_ledger").fetchall())
    assert SECRET not in dump

    shown = run_cli("history", "web", "--limit", "5")  # the ledger beside Render's deploys
    assert shown.exit_code == 0, shown.stderr
    rows = shown.stdout.splitlines()
    [deploy_row] = [r for r in rows if str(deploy["to_ref"]) in r]
    assert "octocat" in deploy_row and "healthy (deploy)" in deploy_row
    [rollback_row] = [r for r in rows if "↩ rollback" in r]
    assert "octocat" in rollback_row and "healthy (rollback)" in rollback_row
    [untouched] = [r for r in rows if LIVE in r]
    assert "octocat" not in untouched
    as_json = json.loads(run_cli("history", "web", "-o", "json").stdout)
    mine = {d["id"]: d["ledger"] for d in as_json if d["ledger"]}
    assert mine[deploy["to_ref"]]["ci_url"] == RUN_URL
    assert len(mine) == 2


def test_a_refused_deploy_is_recorded_with_its_verdict(
    state_dsn: str, start_sim: Start, run_cli: Run
) -> None:
    """A failed deploy that rolled back: exit 1 and a 'rolled_back'-style verdict in the ledger."""
    sim = start_sim("demo")
    sim.queue_behaviour("web", "unhealthy_after_live", unhealthy_after=5, **QUICK)
    result = run_cli("deploy", "web", "--skip-checks", "--yes", "--soak", "30s", "-o", "json")
    assert result.exit_code == 1, result.stderr
    [entry] = ledger_json(run_cli, "web")
    assert entry["action"] == "deploy" and entry["exit_code"] == 1
    assert entry["verdict"] == json.loads(result.stdout or "{}").get("outcome", "rolled_back")
    assert entry["to_ref"] != LIVE and entry["from_ref"] == LIVE
    assert "rolled back" in str(entry["detail"]["error"]).lower()  # type: ignore[index]


def test_ledger_since_and_table_output(state_dsn: str, run_cli: Run) -> None:
    """--since 7d drops older entries; the table shows who, from → to and the verdict."""
    store = PostgresStore(state_dsn)
    now = datetime.now(UTC)
    for age, who in ((timedelta(days=30), "old-timer"), (timedelta(hours=2), "recent")):
        store.append(
            LedgerEntry(
                at=now - age,
                service=WEB,
                service_name="web",
                action="deploy",
                who=who,
                host="h",
                from_ref="dep-a",
                to_ref="dep-b",
                verdict="healthy",
                exit_code=0,
            )
        )
    store.close()
    assert [e["who"] for e in ledger_json(run_cli)] == ["old-timer", "recent"]
    assert [e["who"] for e in ledger_json(run_cli, "web", "--since", "7d")] == ["recent"]
    table = run_cli("ledger", "web", "--since", "7d")
    assert table.exit_code == 0
    assert "recent" in table.stdout and "dep-a → dep-b" in table.stdout
    assert "old-timer" not in table.stdout
    assert run_cli("ledger", "--since", "a week").exit_code == 2


def test_the_ledger_is_append_only_in_both_backends(state_dsn: str) -> None:
    """UPDATE, DELETE (and TRUNCATE) on the ledger are refused by the database itself."""
    entry = LedgerEntry(
        at=datetime.now(UTC),
        service=WEB,
        action="deploy",
        who="a",
        host="h",
        verdict="ok",
        exit_code=0,
    )
    shared = PostgresStore(state_dsn)
    shared.append(entry)
    shared.close()
    with psycopg.connect(state_dsn, autocommit=True) as conn:
        for statement in (
            "UPDATE releaser_ledger SET who = 'mallory'",
            "DELETE FROM releaser_ledger",
            "TRUNCATE releaser_ledger",
        ):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute(statement)
    local = SqliteStore()
    local.append(entry)
    for statement in ("UPDATE releaser_ledger SET who = 'mallory'", "DELETE FROM releaser_ledger"):
        with pytest.raises(Exception, match="append-only"):
            local._execute(statement)
    assert [e.who for e in local.entries()] == ["a"]
    local.close()


def test_schema_is_migrated_once_and_a_newer_schema_is_refused(
    state_dsn: str, run_cli: Run
) -> None:
    """A fresh database gets v1 once; a database from a newer releaser stops with exit 2."""
    PostgresStore(state_dsn).close()
    PostgresStore(state_dsn).close()
    with psycopg.connect(state_dsn, autocommit=True) as conn:
        versions = conn.execute("SELECT version FROM releaser_schema").fetchall()
        assert versions == [(1,)]
        conn.execute("INSERT INTO releaser_schema VALUES (99)")
    result = run_cli("ledger")
    assert result.exit_code == 2
    assert "has schema v99, newer than this releaser knows (v1)" in result.stderr


def test_an_unreachable_state_database_is_exit_3_without_the_password(
    run_cli: Run, unused_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shared backend down: one line, exit 3, the password never shown."""
    monkeypatch.setenv(
        "RELEASER_STATE_DSN", f"postgresql://rel:hunter2pass@127.0.0.1:{unused_port}/state"
    )
    result = run_cli("lock", "status")
    assert result.exit_code == 3
    assert result.stderr.startswith(f"Error: the state backend (PostgreSQL 127.0.0.1:{unused_port}")
    assert "hunter2pass" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_cancel_and_watch_are_recorded_and_hold_the_lock(
    state_dsn: str, start_sim: Start, run_cli: Run
) -> None:
    """`cancel` (a write) and `watch` (it may cancel or roll back) take the service's lock
    and leave one ledger entry each; a refused cancel leaves none."""
    sim = start_sim("render-shapes")
    running = "dep-sh4p3sbusy00000000c"  # render-shapes: checkout's deploy in progress
    assert run_cli("cancel", "checkout").exit_code == 2  # no terminal, no --yes: nothing
    assert ledger_json(run_cli) == []
    done = run_cli("cancel", "checkout", "--yes")
    assert done.exit_code == 0, done.stderr
    [entry] = ledger_json(run_cli)
    assert (entry["action"], entry["verdict"], entry["to_ref"]) == ("cancel", "canceled", running)
    sim.queue_behaviour("storefront", "succeed", build_seconds=20, update_seconds=10)
    store = next(s for s in sim.state.services.values() if s.config.name == "storefront")
    with sim.state.lock:
        sim.state.create_deploy(store.id, trigger="api")
    watched = run_cli("watch", store.id, "--soak", "30s")
    assert watched.exit_code == 0, watched.stderr
    assert [e["action"] for e in ledger_json(run_cli)] == ["cancel", "watch"]
