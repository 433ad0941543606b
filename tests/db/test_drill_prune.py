"""db drill and db prune: evidence, RPO/RTO, scratch always dropped, retention rules."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dbsupport import database_exists, url_for

from releaser.db.catalog import list_snapshots
from releaser.db.drill import run_drill
from releaser.db.dsn import parse_dsn
from releaser.db.evidence import latest_verified
from releaser.db.progress import Reporter
from releaser.db.prune import apply_prune, plan_prune
from releaser.db.snapshot import take_snapshot
from releaser.db.storage import open_store


def test_drill_end_to_end_with_report(
    run_cli: Any, source_db: str, s3_store: str, s3: Any, tmp_path: Path
) -> None:
    """A drill snapshots, restores into scratch, checks, drops scratch, stores evidence,
    writes the Markdown report, and db list shows it as verified."""
    report = tmp_path / "drill.md"
    result = run_cli(
        "db", "drill", url_for(source_db), "--to", s3_store, "--report", str(report), "-o", "json"
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["passed"] is True
    assert set(doc["phases"]) == {"download", "restore", "analyze", "verify"}
    assert doc["phases"]["download"]["mb_per_s"] is not None
    assert doc["rto_seconds"] > 0
    assert 0 <= doc["rpo_seconds"] < 300
    assert all(c["ok"] for c in doc["checks"]) and len(doc["checks"]) > 10
    assert not database_exists(doc["scratch_database"])
    bucket, _, prefix = s3_store.removeprefix("s3://").partition("/")
    evidence = s3.get_object(Bucket=bucket, Key=f"{prefix}/{doc['evidence_key']}")
    assert json.loads(evidence["Body"].read())["passed"] is True
    text = report.read_text()
    assert text.startswith("# Recovery drill PASSED")
    assert "| rows sales.orders | 5000 | 5000 | yes |" in text

    listed = json.loads(run_cli("db", "list", "--to", s3_store, "-o", "json").stdout)
    assert listed["snapshots"][0]["last_verified"] is not None
    verified = latest_verified(s3_store)
    assert verified is not None
    assert verified.snapshot_id == doc["snapshot_id"]
    assert verified.verified_at >= verified.taken_at


def test_drill_of_corrupt_snapshot_fails_and_records_it(
    run_cli: Any, source_db: str, file_store: str
) -> None:
    """--use-latest on a corrupted dump: exit 1, failed evidence, scratch dropped, and
    the snapshot does not count as verified."""
    store = open_store(file_store)
    manifest = take_snapshot(parse_dsn(url_for(source_db)), store).manifest
    dump = Path(file_store.removeprefix("file://")) / manifest.dump.key
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    result = run_cli(
        "db", "drill", url_for(source_db), "--to", file_store, "--use-latest", "-o", "json"
    )
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["passed"] is False and "is corrupt" in doc["error"]
    assert not database_exists(doc["scratch_database"])
    assert latest_verified(file_store) is None
    assert list_snapshots(store)[0].last_drill_failed is not None


class InterruptOnRestore(Reporter):
    """Ctrl-C in the middle of a drill, once the scratch database exists."""

    scratch: str = ""

    def phase(self, text: str) -> None:
        if text.startswith("Restoring into scratch database "):
            self.scratch = text.rsplit(" ", 1)[-1]

    def event(self, name: str) -> None:
        if name == "restore-started":
            assert database_exists(self.scratch)
            raise KeyboardInterrupt


def test_drill_drops_scratch_on_ctrl_c(source_db: str, file_store: str) -> None:
    """KeyboardInterrupt mid-restore still drops the scratch database; no evidence."""
    store = open_store(file_store)
    reporter = InterruptOnRestore()
    with pytest.raises(KeyboardInterrupt):
        run_drill(store, source=parse_dsn(url_for(source_db)), reporter=reporter)
    assert reporter.scratch.startswith("releaser_drill_")
    assert not database_exists(reporter.scratch)
    assert all(entry.last_verified is None for entry in list_snapshots(store))


def _snapshots(dsn: str, store_url: str, count: int) -> list[str]:
    store = open_store(store_url)
    ids = []
    for _ in range(count):
        ids.append(take_snapshot(parse_dsn(dsn), store, name="app").manifest.snapshot_id)
        time.sleep(0.01)  # distinct snapshot times, so "newest" is unambiguous
    return ids[::-1]  # newest first


def _passed_evidence(store: Any, snapshot_id: str, when: str = "2024-01-01T00:00:00Z") -> str:
    """Evidence as a passing drill writes it (the content is what counts, not the name)."""
    from releaser.db.catalog import load_manifest
    from releaser.db.evidence import DrillEvidence, write_evidence

    manifest = load_manifest(store, snapshot_id)
    evidence = DrillEvidence.model_validate(
        {
            "snapshot_id": snapshot_id,
            "database": manifest.database,
            "taken_at": manifest.taken_at,
            "drilled_at": when,
            "passed": True,
        }
    )
    return str(write_evidence(store, evidence))


@pytest.fixture(scope="module")
def tiny_db(pg_admin: str) -> Any:
    from dbsupport import create_database, drop, unique_name

    name = unique_name("releaser_tiny")
    create_database(name, "CREATE TABLE t AS SELECT 1 AS x")
    yield name
    drop(name)


def test_prune_keeps_newest_and_newest_verified(
    run_cli: Any, tiny_db: str, file_store: str
) -> None:
    """--keep 1 deletes older snapshots but keeps the newest and the newest verified one;
    --dry-run deletes nothing; an incomplete day-old snapshot goes too."""
    newest, middle, oldest = _snapshots(url_for(tiny_db), file_store, 3)
    store = open_store(file_store)
    _passed_evidence(store, oldest)
    root = Path(file_store.removeprefix("file://"))
    stale = root / "app-20200101T000000Z-dead" / "dump.pgcustom"
    stale.parent.mkdir()
    stale.write_bytes(b"PGDMP partial")
    old = time.time() - 3 * 86400
    os.utime(stale, (old, old))

    dry = run_cli("db", "prune", "--to", file_store, "--keep", "1", "--dry-run", "-o", "json")
    assert dry.exit_code == 0, dry.stderr
    actions = {r["snapshot_id"]: r["action"] for r in json.loads(dry.stdout)["snapshots"]}
    assert actions == {
        newest: "keep",
        middle: "would delete",
        oldest: "keep",
        "app-20200101T000000Z-dead": "would delete",
    }
    assert len(list_snapshots(store)) == 4

    real = run_cli("db", "prune", "--to", file_store, "--keep", "1", "--yes")
    assert real.exit_code == 0, real.stderr
    assert {e.snapshot_id for e in list_snapshots(store)} == {newest, oldest}
    assert not (root / middle).exists()


def test_prune_by_age(tiny_db: str, file_store: str) -> None:
    """--max-age deletes old snapshots even within --keep, never the newest."""
    newest, older = _snapshots(url_for(tiny_db), file_store, 2)
    store = open_store(file_store)
    later = datetime.now(UTC) + timedelta(days=40)
    plan = {
        d.entry.snapshot_id: d
        for d in plan_prune(store, keep=5, max_age_seconds=30 * 86400, now=later)
    }
    assert plan[newest].action == "keep" and plan[newest].reason == "newest snapshot"
    assert plan[older].action == "delete" and plan[older].reason == "older than --max-age"


def test_prune_leaves_object_locked_snapshots(tiny_db: str, s3: Any) -> None:
    """Objects under S3 object lock are reported as locked and not deleted."""
    bucket = "releaser-locked"
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    store_url = f"s3://{bucket}/b"
    newest, locked = _snapshots(url_for(tiny_db), store_url, 2)
    until = datetime.now(UTC) + timedelta(days=1)
    for name in ("dump.pgcustom", "manifest.json"):
        s3.put_object_retention(
            Bucket=bucket,
            Key=f"b/{locked}/{name}",
            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": until},
        )
    store = open_store(store_url)
    decisions = apply_prune(store, plan_prune(store, keep=1))
    by_id = {d.entry.snapshot_id: d for d in decisions}
    assert by_id[locked].action == "locked"
    assert "governance retention until" in by_id[locked].reason
    assert {e.snapshot_id for e in list_snapshots(store)} == {newest, locked}
