"""The ledger records the database writes too: restore, drill and prune (file:// store)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import Result
from psycopg import sql

from releaser.state.pg import PostgresStore

Run = Callable[..., Result]


@pytest.fixture
def databases(state_dsn: str) -> Iterator[Callable[[], str]]:
    """New databases on the test server (dropped afterwards); returns their DSNs."""
    info = psycopg.conninfo.conninfo_to_dict(state_dsn)
    admin = psycopg.connect(state_dsn, autocommit=True)
    names: list[str] = []

    def make() -> str:
        names.append(f"releaser_ldb_{secrets.token_hex(4)}")
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(names[-1])))
        return psycopg.conninfo.make_conninfo("", **{**info, "dbname": names[-1]})

    yield make
    for name in names:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
    admin.close()


def test_db_restore_drill_and_prune_are_in_the_ledger(
    state_dsn: str,
    databases: Callable[[], str],
    run_cli: Run,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each db write is one entry with who and verdict; the target's password never shows."""
    monkeypatch.setenv("RELEASER_ACTOR", "dba-dana")
    source = databases()
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 50) g")
    store = f"file://{tmp_path / 'store'}"
    snaps = []
    for _ in range(2):
        taken = run_cli("db", "snapshot", source, "--to", store, "-o", "json")
        assert taken.exit_code == 0, taken.stderr
        snaps.append(json.loads(taken.stdout)["snapshot_id"])
    target = databases()
    restored = run_cli("db", "restore", snaps[0], "--to", store, "--target", target, "--yes")
    assert restored.exit_code == 0, restored.stderr
    drilled = run_cli("db", "drill", source, "--to", store, "--use-latest")
    assert drilled.exit_code == 0, drilled.stderr
    pruned = run_cli("db", "prune", "--to", store, "--keep", "1", "--yes")
    assert pruned.exit_code == 0, pruned.stderr
    assert run_cli("db", "prune", "--to", store, "--keep", "1", "--dry-run").exit_code == 0

    ledger = PostgresStore(state_dsn)
    entries = ledger.entries()
    ledger.close()
    assert [(e.action, e.verdict, e.who) for e in entries] == [
        ("db restore", "ok", "dba-dana"),
        ("db drill", "passed", "dba-dana"),
        ("db prune", "ok", "dba-dana"),
    ]
    restore, drill, prune = entries
    assert restore.from_ref == snaps[0] and restore.service.startswith("db:")
    assert drill.to_ref == snaps[1] and drill.report
    assert prune.detail["deleted"] == [snaps[0]]
