"""db verify and db restore: corruption is caught (exit 1), unsafe targets refused (exit 2),
dry runs write nothing, and a good restore matches its manifest check by check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from dbsupport import count_rows, database_exists, url_for

from releaser.db.dsn import parse_dsn
from releaser.db.snapshot import take_snapshot
from releaser.db.storage import open_store


@pytest.fixture
def snap(source_db: str, s3_store: str, s3: Any) -> str:
    """A fresh snapshot of the awkward database in S3."""
    result = take_snapshot(parse_dsn(url_for(source_db)), open_store(s3_store))
    return result.manifest.snapshot_id


def _object(s3_store: str) -> tuple[str, str]:
    bucket, _, prefix = s3_store.removeprefix("s3://").partition("/")
    return bucket, prefix


def _rewrite(s3: Any, s3_store: str, key: str, change: Any) -> None:
    bucket, prefix = _object(s3_store)
    full = f"{prefix}/{key}"
    body = s3.get_object(Bucket=bucket, Key=full)["Body"].read()
    s3.put_object(Bucket=bucket, Key=full, Body=change(body))


def test_verify_good_snapshot(run_cli: Any, snap: str, s3_store: str) -> None:
    """A good snapshot verifies: sha256, size, full read and per-table archive row counts."""
    result = run_cli("db", "verify", snap, "--to", s3_store, "-o", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    names = {c["name"]: c for c in doc["checks"]}
    assert doc["passed"] is True
    assert names["archive rows sales.orders"]["actual"] == "5000"
    assert names['archive rows Audit Log.Events "quoted"']["actual"] == "300"
    assert names["archive reads in full (pg_restore)"]["ok"] is True


def test_flipped_byte_fails_verify(run_cli: Any, snap: str, s3_store: str, s3: Any) -> None:
    """One flipped byte in the stored dump: verify exits 1 and names the sha256 check."""

    def flip(body: bytes) -> bytes:
        middle = len(body) // 2
        return body[:middle] + bytes([body[middle] ^ 0x01]) + body[middle + 1 :]

    _rewrite(s3, s3_store, f"{snap}/dump.pgcustom", flip)
    result = run_cli("db", "verify", snap, "--to", s3_store)
    assert result.exit_code == 1
    assert "sha256" in result.stdout and "MISMATCH" in result.stdout
    assert (
        result.stderr.strip().splitlines()[-1].startswith(f"Error: verification of {snap} failed:")
    )


def test_truncated_object_fails_verify(run_cli: Any, snap: str, s3_store: str, s3: Any) -> None:
    """A truncated dump: size, sha256 and the full read all fail, exit 1."""
    _rewrite(s3, s3_store, f"{snap}/dump.pgcustom", lambda body: body[: len(body) // 3])
    result = run_cli("db", "verify", snap, "--to", s3_store, "-o", "json")
    assert result.exit_code == 1
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert not checks["size (bytes)"]["ok"]
    assert not checks["sha256"]["ok"]
    assert not checks["archive reads in full (pg_restore)"]["ok"]


def test_wrong_checksum_in_manifest_fails_verify(
    run_cli: Any, snap: str, s3_store: str, s3: Any
) -> None:
    """A manifest whose sha256 does not match the object: exit 1."""

    def wrong(body: bytes) -> bytes:
        doc = json.loads(body)
        doc["dump"]["sha256"] = "0" * 64
        return json.dumps(doc).encode()

    _rewrite(s3, s3_store, f"{snap}/manifest.json", wrong)
    result = run_cli("db", "verify", snap, "--to", s3_store)
    assert result.exit_code == 1
    assert "0" * 64 in result.stdout


def test_missing_manifest_is_incomplete(run_cli: Any, snap: str, s3_store: str, s3: Any) -> None:
    """Without its manifest a snapshot is incomplete: verify exits 1, list says INCOMPLETE,
    and --use-latest does not pick it."""
    bucket, prefix = _object(s3_store)
    s3.delete_object(Bucket=bucket, Key=f"{prefix}/{snap}/manifest.json")
    result = run_cli("db", "verify", snap, "--to", s3_store)
    assert result.exit_code == 1
    assert f"Error: snapshot {snap} is incomplete" in result.stderr
    listed = run_cli("db", "list", "--to", s3_store)
    assert "INCOMPLETE" in listed.stdout
    drill = run_cli("db", "drill", url_for("x"), "--to", s3_store, "--use-latest")
    assert drill.exit_code == 2
    assert "no complete snapshot" in drill.stderr


def test_unknown_snapshot_and_bad_id_are_exit_2(run_cli: Any, s3_store: str, s3: Any) -> None:
    """An id that is not in the store, or not an id at all, is bad input."""
    unknown = run_cli("db", "verify", "nope-20240101T000000Z-abcd", "--to", s3_store)
    assert unknown.exit_code == 2
    assert "no snapshot nope-20240101T000000Z-abcd" in unknown.stderr
    bad = run_cli("db", "verify", "../etc", "--to", s3_store)
    assert bad.exit_code == 2


def test_unreachable_s3_is_exit_3(run_cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """S3 that does not answer is an environment problem."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "y",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    result = run_cli("db", "list", "--to", "s3://bkt/p", "--endpoint-url", "http://127.0.0.1:1")
    assert result.exit_code == 3
    assert "S3 is unreachable" in result.stderr


def test_restore_into_source_is_refused(
    run_cli: Any, snap: str, s3_store: str, source_db: str
) -> None:
    """The source itself (also spelled localhost instead of 127.0.0.1) is refused, exit 2,
    and nothing is written to it."""
    before = count_rows(source_db, "sales.orders")
    same = run_cli("db", "restore", snap, "--to", s3_store, "--target", url_for(source_db))
    assert same.exit_code == 2
    assert "it is the snapshot's source database" in same.stderr
    alias = url_for(source_db).replace("127.0.0.1", "localhost")
    again = run_cli("db", "restore", snap, "--to", s3_store, "--target", alias, "--yes")
    assert again.exit_code == 2
    assert count_rows(source_db, "sales.orders") == before


def test_restore_into_production_is_refused(
    run_cli: Any, snap: str, s3_store: str, db_names: Any, tmp_path: Path
) -> None:
    """A target marked production in releaser.toml is refused, by name or by DSN."""
    prod = db_names("releaser_prod")
    (tmp_path / "releaser.toml").write_text(
        f'[databases.prod-db]\nsource = "{url_for(prod)}"\nproduction = true\n'
    )
    by_name = run_cli("db", "restore", snap, "--to", s3_store, "--target", "prod-db")
    assert by_name.exit_code == 2
    assert "marked production" in by_name.stderr
    by_dsn = run_cli("db", "restore", snap, "--to", s3_store, "--target", url_for(prod), "--create")
    assert by_dsn.exit_code == 2
    assert "marked production" in by_dsn.stderr
    assert not database_exists(prod)


def test_restore_dry_run_writes_nothing(
    run_cli: Any, snap: str, s3_store: str, db_names: Any, s3: Any
) -> None:
    """--dry-run prints the plan; no database is created and the store is unchanged."""
    target = db_names("releaser_dry")
    bucket, _ = _object(s3_store)
    before = s3.list_objects_v2(Bucket=bucket)["Contents"]
    result = run_cli(
        "db",
        "restore",
        snap,
        "--to",
        s3_store,
        "--target",
        url_for(target),
        "--create",
        "--dry-run",
    )
    assert result.exit_code == 0, result.stderr
    assert "dry run, nothing written" in result.stdout
    assert "create database" in result.stdout
    assert not database_exists(target)
    assert s3.list_objects_v2(Bucket=bucket)["Contents"] == before


def test_restore_create_checks_every_fact(
    run_cli: Any, snap: str, s3_store: str, db_names: Any
) -> None:
    """--create restores into a new database in parallel and every check passes."""
    target = db_names("releaser_new")
    result = run_cli(
        "db", "restore", snap, "--to", s3_store, "--target", url_for(target),
        "--create", "--jobs", "2", "--yes", "-o", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    names = {c["name"]: c for c in doc["checks"]}
    assert doc["passed"] is True
    assert names["rows public.customers"] == {
        "name": "rows public.customers", "expected": "2000", "actual": "2000", "ok": True
    }  # fmt: skip
    assert names["matview sales.totals"]["ok"] and names["rows sales.totals"]["ok"]
    assert "fingerprint sales.totals" not in names  # refreshed on restore, not copied
    assert names["sequence sales.invoice_no"]["expected"] == ">= 1004"
    assert names["large objects"]["actual"] == "1"
    assert names["extension hstore"]["ok"]
    assert names["invalid indexes"]["actual"] == "none"
    assert set(doc["phases"]) == {"download", "restore", "analyze", "verify"}
    assert count_rows(target, "sales.orders") == 5000


def test_restore_reports_mismatch_with_exit_1(
    run_cli: Any, snap: str, s3_store: str, s3: Any, db_names: Any
) -> None:
    """A manifest fact that the restored database contradicts: every check reported,
    the wrong one with expected and actual, exit 1."""

    def lie(body: bytes) -> bytes:
        doc = json.loads(body)
        for table in doc["facts"]["tables"]:
            if table["name"] == "orders":
                table["rows"] = 4999
        return json.dumps(doc).encode()

    _rewrite(s3, s3_store, f"{snap}/manifest.json", lie)
    target = db_names("releaser_mis")
    result = run_cli(
        "db", "restore", snap, "--to", s3_store, "--target", url_for(target), "--create", "--yes"
    )
    assert result.exit_code == 1
    line = next(x for x in result.stdout.splitlines() if x.startswith("rows sales.orders"))
    assert line.split()[2:] == ["4999", "5000", "MISMATCH"]
    assert "rows public.customers" in result.stdout


def test_restore_of_corrupt_snapshot_touches_nothing(
    run_cli: Any, snap: str, s3_store: str, s3: Any, db_names: Any
) -> None:
    """A corrupt download is caught before the target is created: exit 1, no database."""
    _rewrite(s3, s3_store, f"{snap}/dump.pgcustom", lambda body: body[:-100])
    target = db_names("releaser_cor")
    result = run_cli(
        "db", "restore", snap, "--to", s3_store, "--target", url_for(target), "--create", "--yes"
    )
    assert result.exit_code == 1
    assert "is corrupt" in result.stderr
    assert not database_exists(target)


def test_restore_refuses_non_empty_or_missing_target(
    run_cli: Any, snap: str, s3_store: str, db_names: Any, source_db: str
) -> None:
    """Without --create the target must exist (exit 2) and be empty (exit 2)."""
    missing = db_names("releaser_mss")
    result = run_cli("db", "restore", snap, "--to", s3_store, "--target", url_for(missing))
    assert result.exit_code == 2
    assert "--create" in result.stderr
    # a non-empty database that is not the source: restore into it once, then again
    target = db_names("releaser_ne")
    first = run_cli(
        "db", "restore", snap, "--to", s3_store, "--target", url_for(target), "--create", "--yes"
    )
    assert first.exit_code == 0, first.stderr
    second = run_cli("db", "restore", snap, "--to", s3_store, "--target", url_for(target))
    assert second.exit_code == 2
    assert "is not empty" in second.stderr
