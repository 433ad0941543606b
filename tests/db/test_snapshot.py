"""db snapshot: consistent, streamed, manifest last, nothing half-done on failure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from dbsupport import (
    SECRET_PASSWORD,
    count_rows,
    create_database,
    dsn_for,
    fake_pg_bin,
    s3_keys,
    url_for,
)

from releaser.db.catalog import list_snapshots
from releaser.db.dsn import parse_dsn
from releaser.db.progress import Reporter
from releaser.db.restore import drop_database, plan_restore, run_restore
from releaser.db.snapshot import take_snapshot
from releaser.db.storage import open_store
from releaser.errors import EnvironmentProblem


def test_snapshot_to_s3_writes_dump_and_manifest(
    run_cli: Any, source_db: str, s3_store: str, s3: Any, bucket: str
) -> None:
    """A snapshot to S3 leaves a dump and a manifest whose facts describe the database."""
    result = run_cli("db", "snapshot", url_for(source_db), "--to", s3_store, "-o", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    snapshot_id = doc["snapshot_id"]
    keys = s3_keys(s3, bucket)
    assert sorted(keys) == [
        f"backups/app/{snapshot_id}/dump.pgcustom",
        f"backups/app/{snapshot_id}/manifest.json",
    ]
    head = s3.head_object(Bucket=bucket, Key=f"backups/app/{snapshot_id}/dump.pgcustom")
    assert head["ContentLength"] == doc["dump"]["size_bytes"]
    assert head["ServerSideEncryption"] == "AES256"
    tables = {t["schema_name"] + "." + t["name"]: t for t in doc["facts"]["tables"]}
    assert tables["public.customers"]["rows"] == 2000
    assert tables["sales.orders"]["rows"] == 5000
    assert tables['Audit Log.Events "quoted"']["rows"] == 300
    assert tables["sales.totals"]["kind"] == "matview"
    # built-in types hash as records; an extension type (hstore) falls back to row text
    assert tables["sales.orders"]["fingerprint_method"] == "hash_record"
    assert tables["public.customers"]["fingerprint_method"] == "md5_text"
    assert tables['Audit Log.Events "quoted"']["fingerprint_method"] == "md5_text"  # enum
    assert tables["sales.not_populated"]["rows"] is None
    assert doc["facts"]["large_objects"] == 1
    assert "hstore" in doc["facts"]["extensions"]
    sequences = {s["schema_name"] + "." + s["name"]: s for s in doc["facts"]["sequences"]}
    assert sequences["sales.invoice_no"]["last_value"] == 1004
    assert doc["facts"]["encoding"] == "UTF8"
    assert doc["facts"]["server_version_num"] >= 100000


def test_password_never_printed(run_cli: Any, source_db: str, file_store: str) -> None:
    """The DSN's password appears nowhere: not on stdout, stderr, nor in the manifest."""
    result = run_cli("db", "snapshot", url_for(source_db), "--to", file_store)
    assert result.exit_code == 0, result.stderr
    assert SECRET_PASSWORD not in result.stdout + result.stderr
    assert "******" in result.stdout
    root = Path(file_store.removeprefix("file://"))
    manifest = next(root.glob("*/manifest.json")).read_text()
    assert SECRET_PASSWORD not in manifest


class InsertDuringDump(Reporter):
    """Commits new rows right after the snapshot is exported and again once pg_dump runs:
    neither the dump nor the facts may include them."""

    def __init__(self, dbname: str) -> None:
        self.dbname = dbname
        self.inserted = 0

    def event(self, name: str) -> None:
        if name in ("snapshot-exported", "dump-started"):
            with psycopg.connect(dsn_for(self.dbname), autocommit=True) as conn:
                conn.execute(
                    "INSERT INTO sales.orders (customer_id, amount) "
                    "SELECT 1, 1 FROM generate_series(1, 50)"
                )
                conn.execute("SELECT nextval('sales.invoice_no')")
            self.inserted += 50


def test_rows_inserted_during_dump_are_in_neither_dump_nor_facts(
    mutable_db: str, file_store: str, db_names: Any
) -> None:
    """Facts come from pg_dump's own snapshot, so a restore matches them exactly."""
    store = open_store(file_store)
    reporter = InsertDuringDump(mutable_db)
    result = take_snapshot(parse_dsn(url_for(mutable_db)), store, reporter=reporter, jobs=2)
    orders = next(t for t in result.manifest.facts.tables if t.qualified == "sales.orders")
    assert reporter.inserted == 100
    assert orders.rows == 5000
    assert count_rows(mutable_db, "sales.orders") == 5100

    target = parse_dsn(dsn_for(db_names("releaser_rst")))
    plan = plan_restore(store, result.manifest.snapshot_id, target, create=True)
    outcome = run_restore(plan, store)
    assert outcome.passed, [c for c in outcome.checks if not c.ok]
    assert count_rows(target.dbname, "sales.orders") == 5000


def test_pg_dump_killed_mid_stream_aborts_multipart_upload(
    pg_admin: str,
    db_names: Any,
    s3: Any,
    bucket: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """pg_dump dying after 12 MB (one 8 MiB part already sent) leaves no object, no open
    multipart upload and no manifest."""
    name = db_names("releaser_big")
    create_database(
        name,
        "CREATE EXTENSION pgcrypto; CREATE TABLE blobs AS "
        "SELECT i, gen_random_bytes(1000) AS b FROM generate_series(1, 20000) AS i",
    )
    bindir = fake_pg_bin(
        tmp_path / "bin",
        'case "$1" in --version) exec "$REAL" --version;; esac\n'
        '"$REAL" "$@" | head -c 12000000\nkill -9 $$',
    )
    monkeypatch.setenv("RELEASER_PG_BINDIR", str(bindir))
    store = open_store(f"s3://{bucket}/backups")
    with pytest.raises(EnvironmentProblem) as caught:
        take_snapshot(parse_dsn(url_for(name)), store)
    assert "pg_dump was killed by signal 9" in caught.value.message
    assert s3_keys(s3, bucket) == []
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert list_snapshots(store) == []


def test_pg_dump_writing_garbage_is_refused(
    source_db: str, file_store: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, run_cli: Any
) -> None:
    """A pg_dump that exits 0 but writes no archive (the "20-byte backup") fails, exit 3."""
    bindir = fake_pg_bin(
        tmp_path / "bin",
        'case "$1" in --version) exec "$REAL" --version;; esac\necho "pg_dump: oops"',
    )
    monkeypatch.setenv("RELEASER_PG_BINDIR", str(bindir))
    result = run_cli("db", "snapshot", url_for(source_db), "--to", file_store)
    assert result.exit_code == 3
    assert "not a custom-format archive" in result.stderr
    root = Path(file_store.removeprefix("file://"))
    assert not root.exists() or list(root.rglob("*.pgcustom")) == []
    assert not root.exists() or list(root.rglob("manifest.json")) == []


def test_pg_dump_older_than_server_fails_before_upload(
    source_db: str,
    s3_store: str,
    s3: Any,
    bucket: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    run_cli: Any,
) -> None:
    """Only an older pg_dump available: exit 3 naming both versions and the fix, nothing
    uploaded, pg_dump never run for a dump."""
    marker = tmp_path / "dumped"
    bindir = fake_pg_bin(
        tmp_path / "bin",
        f'case "$1" in --version) echo "pg_dump (PostgreSQL) 9.6.24";; *) touch {marker};; esac',
    )
    monkeypatch.setenv("RELEASER_PG_BINDIR", str(bindir))
    result = run_cli("db", "snapshot", dsn_for(source_db), "--to", s3_store)
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: pg_dump ")
    assert "9.6.24" in result.stderr
    assert "postgresql-client-" in result.stderr
    assert result.stderr.count("\n") == 1
    assert s3_keys(s3, bucket) == []
    assert not marker.exists()


def test_drop_in_failure_of_source_is_exit_3(run_cli: Any, file_store: str) -> None:
    """An unreachable source is an environment problem (exit 3), DSN masked."""
    dsn = f"postgresql://u:{SECRET_PASSWORD}@127.0.0.1:1/nothing"
    result = run_cli("db", "snapshot", dsn, "--to", file_store)
    assert result.exit_code == 3
    assert "cannot connect to the source database" in result.stderr
    assert SECRET_PASSWORD not in result.stderr


def test_bad_dsn_and_bad_store_are_exit_2(run_cli: Any, source_db: str) -> None:
    """A malformed DSN or a store URL that is neither s3:// nor file:// is bad input."""
    bad_dsn = run_cli(
        "db", "snapshot", "host=x port=abc password=hunter22", "--to", "file:///tmp/x"
    )
    assert bad_dsn.exit_code == 2
    assert "hunter22" not in bad_dsn.stderr
    bad_store = run_cli("db", "snapshot", url_for(source_db), "--to", "ftp://x/y")
    assert bad_store.exit_code == 2
    assert "not an s3:// or file:// URL" in bad_store.stderr


def test_env_source_and_config_defaults(
    run_cli: Any, source_db: str, file_store: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`db snapshot main-db` takes source (env:VAR) and store from releaser.toml."""
    monkeypatch.setenv("MAIN_DB_URL", url_for(source_db))
    (tmp_path / "releaser.toml").write_text(
        f'[databases.main-db]\nsource = "env:MAIN_DB_URL"\nstore = "{file_store}"\n'
    )
    result = run_cli("db", "snapshot", "main-db", "-o", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["database"] == "main-db"
    assert doc["snapshot_id"].startswith("main-db-")
    listed = run_cli("db", "list", "-o", "json")
    assert [s["snapshot_id"] for s in json.loads(listed.stdout)["snapshots"]] == [
        doc["snapshot_id"]
    ]


def test_restore_helper_cleans_up(db_names: Any) -> None:
    """drop_database is idempotent (used by every cleanup path)."""
    target = parse_dsn(dsn_for(db_names("releaser_gone")))
    drop_database(target)
    drop_database(target)
