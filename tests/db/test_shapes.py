"""Every legal database snapshots, verifies and drills: the shapes of issue 14 (a column
named t, json/domain/composite/xml columns, a zero-column table, "Price (EUR)", an
inheritance parent, stale and non-deterministic matviews, descending and cycling
sequences) in a SQL_ASCII database with idle_in_transaction_session_timeout set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from dbsupport import create_shapes_database, drop, dsn_for, fake_pg_bin, unique_name, url_for

from releaser.db.dsn import parse_dsn
from releaser.db.progress import Reporter
from releaser.db.restore import plan_restore, run_restore
from releaser.db.snapshot import take_snapshot
from releaser.db.storage import open_store


@pytest.fixture(scope="module")
def shapes_db(pg_admin: str) -> Any:
    name = unique_name("releaser_shapes")
    create_shapes_database(name)
    yield name
    drop(name)


@pytest.fixture
def shapes_mut(pg_admin: str) -> Any:
    """A UTF8 copy a test may change (so each fix is tested apart from SQL_ASCII's)."""
    name = unique_name("releaser_shapes_mut")
    create_shapes_database(name, "UTF8")
    yield name
    drop(name)


def test_every_shape_snapshots_verifies_and_drills(
    run_cli: Any, shapes_db: str, file_store: str
) -> None:
    """snapshot, verify and drill all exit 0 on the awkward SQL_ASCII database; the
    manifest describes what a restore can promise."""
    snap = run_cli("db", "snapshot", url_for(shapes_db), "--to", file_store, "-o", "json")
    assert snap.exit_code == 0, snap.stderr
    manifest = json.loads(snap.stdout)
    tables = {t["schema_name"] + "." + t["name"]: t for t in manifest["facts"]["tables"]}
    assert manifest["facts"]["encoding"] == "SQL_ASCII"
    assert tables["public.animals"]["rows"] == 3  # ONLY the parent's own rows
    assert tables["public.nothing"]["rows"] == 7
    assert tables["public.Price (EUR)"]["rows"] == 40
    assert tables["public.mv_stale"]["rows"] == 61  # what a REFRESH gives, not stale 60
    assert tables["public.mv_now"]["deterministic"] is False
    assert tables["public.mv_random"]["deterministic"] is False
    assert tables["sales.totals"]["deterministic"] is True

    verify = run_cli("db", "verify", manifest["snapshot_id"], "--to", file_store)
    assert verify.exit_code == 0, verify.stdout + verify.stderr
    drill = run_cli("db", "drill", url_for(shapes_db), "--to", file_store, "-o", "json")
    assert drill.exit_code == 0, drill.stdout + drill.stderr
    checks = {c["name"]: c for c in json.loads(drill.stdout)["checks"]}
    assert checks["sequence public.countdown"]["expected"] == "<= -10"
    assert checks["rows public.letters"]["actual"] == "300"


def _fingerprint(dbname: str, store_url: str, table: str) -> str | None:
    manifest = take_snapshot(parse_dsn(url_for(dbname)), open_store(store_url)).manifest
    return next(t.fingerprint for t in manifest.facts.tables if t.qualified == table)


def test_fingerprint_covers_whole_rows_beside_a_column_named_t(
    shapes_mut: str, file_store: str
) -> None:
    """A change in a json column of a table that also has a column named t changes the
    fingerprint (it once hashed only the column t)."""
    before = _fingerprint(shapes_mut, file_store, "public.letters")
    with psycopg.connect(dsn_for(shapes_mut), autocommit=True) as conn:
        conn.execute("""UPDATE public.letters SET doc = '{"changed": 1}' WHERE t = 5""")
    assert _fingerprint(shapes_mut, file_store, "public.letters") != before
    with psycopg.connect(dsn_for(shapes_mut), autocommit=True) as conn:
        conn.execute("UPDATE public.letters SET pair = ROW(1, 'USD') WHERE t = 5")
    assert _fingerprint(shapes_mut, file_store, "public.letters") not in (before, None)


class ChangeDuringDump(Reporter):
    """Once pg_dump runs: try to TRUNCATE a table (must wait for the snapshot's lock), and
    move the descending and cycling sequences on (the dump then sees later values)."""

    def __init__(self, dbname: str) -> None:
        self.dbname = dbname
        self.truncate_error: str | None = None

    def event(self, name: str) -> None:
        if name != "dump-started":
            return
        with psycopg.connect(dsn_for(self.dbname), autocommit=True) as conn:
            conn.execute("SET lock_timeout = '300ms'")
            try:
                conn.execute("TRUNCATE public.letters")
            except psycopg.errors.LockNotAvailable as exc:
                self.truncate_error = type(exc).__name__
            conn.execute("SELECT nextval('public.countdown') FROM generate_series(1, 3)")
            conn.execute("SELECT nextval('public.wheel') FROM generate_series(1, 3)")


def test_dump_and_facts_describe_one_database_while_others_write(
    shapes_mut: str, file_store: str, db_names: Any
) -> None:
    """The snapshot holds ACCESS SHARE on every relation for the whole run (a TRUNCATE
    must wait), and sequences that moved on during the dump, downwards or round, pass."""
    store = open_store(file_store)
    reporter = ChangeDuringDump(shapes_mut)
    result = take_snapshot(parse_dsn(url_for(shapes_mut)), store, reporter=reporter)
    assert reporter.truncate_error == "LockNotAvailable"
    target = parse_dsn(url_for(db_names("releaser_rst")))
    outcome = run_restore(
        plan_restore(store, result.manifest.snapshot_id, target, create=True), store
    )
    assert outcome.passed, [c for c in outcome.checks if not c.ok]


def test_snapshot_survives_idle_in_transaction_timeout(
    shapes_mut: str, file_store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database sets idle_in_transaction_session_timeout = 1s; a pg_dump slower than
    that still yields a complete snapshot (releaser's session turns the timeout off)."""
    bindir = fake_pg_bin(tmp_path / "bin", '[ "$1" = --version ] || sleep 2.5\nexec "$REAL" "$@"')
    monkeypatch.setenv("RELEASER_PG_BINDIR", str(bindir))
    result = take_snapshot(parse_dsn(url_for(shapes_mut)), open_store(file_store))
    assert result.manifest.dump.size_bytes > 0
