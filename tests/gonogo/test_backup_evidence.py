"""The database-backup check reads real drill evidence from a file:// snapshot store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from releaser.config import Config, DatabaseConfig, ServiceRules
from releaser.release.gonogo import check_database_backup


def _snapshot(store_dir: Path, snapshot_id: str, taken_at: datetime, drilled: bool) -> None:
    """Write a snapshot's manifest (and a passed drill) the way releaser.db lays them out."""
    from releaser.db.manifest import Manifest
    from releaser.db.storage import open_store

    manifest = Manifest.model_validate(
        {
            "snapshot_id": snapshot_id,
            "database": "main",
            "source": {"display": "main (masked)", "host": "h", "port": 5432, "database": "m"},
            "taken_at": taken_at,
            "finished_at": taken_at + timedelta(minutes=1),
            "dump_seconds": 60.0,
            "dump": {
                "key": f"{snapshot_id}/dump.pgcustom",
                "sha256": "0" * 64,
                "size_bytes": 10,
                "pg_dump_version": "16.4",
            },
            "facts": {
                "database": "m",
                "encoding": "UTF8",
                "size_bytes": 10,
                "server_version": "16.4",
                "server_version_num": 160004,
            },
        }
    )
    store = open_store(store_dir.as_uri())
    store.create(f"{snapshot_id}/dump.pgcustom", b"0123456789")
    store.create(f"{snapshot_id}/manifest.json", manifest.model_dump_json().encode())
    if drilled:
        stamp = (taken_at + timedelta(minutes=30)).strftime("%Y%m%dT%H%M%S.%fZ")
        # The content counts, not the name: an empty "{}" proves nothing (issue 11 #12).
        evidence = {"snapshot_id": snapshot_id, "passed": True}
        store.create(f"{snapshot_id}/drills/{stamp}-passed.json", json.dumps(evidence).encode())


def _config(store_dir: Path, production: bool = False) -> Config:
    db = DatabaseConfig(store=store_dir.as_uri(), max_backup_age="26h", production=production)
    return Config(databases={"main": db})


def test_recent_verified_snapshot_passes(tmp_path: Path) -> None:
    """A drill-verified snapshot younger than max_backup_age is a PASS naming it."""
    _snapshot(tmp_path, "main-new", datetime.now(UTC) - timedelta(hours=2), drilled=True)
    result = check_database_backup(ServiceRules(database="main"), _config(tmp_path))
    assert result.status == "PASS" and "main-new" in result.detail


def test_unverified_or_stale_snapshots_do_not_pass(tmp_path: Path) -> None:
    """A newer snapshot nobody drilled does not count; an old verified one is too old."""
    _snapshot(tmp_path, "main-old", datetime.now(UTC) - timedelta(hours=40), drilled=True)
    _snapshot(tmp_path, "main-new", datetime.now(UTC) - timedelta(hours=1), drilled=False)
    rules = ServiceRules(database="main")
    result = check_database_backup(rules, _config(tmp_path))
    assert result.status == "WARN" and "main-old" in result.detail
    assert check_database_backup(rules, _config(tmp_path, production=True)).status == "FAIL"


def test_empty_store_is_not_a_pass(tmp_path: Path) -> None:
    """No verified snapshot at all: FAIL for a production database, with what to run."""
    (tmp_path / "empty").mkdir()
    result = check_database_backup(
        ServiceRules(database="main"), _config(tmp_path / "empty", production=True)
    )
    assert result.status == "FAIL" and "releaser db drill main" in result.detail
