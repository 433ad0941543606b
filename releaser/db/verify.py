"""``db verify``: is the stored archive the one the manifest describes, and readable?

Re-downloads the object, re-hashes it against the manifest's SHA-256 (S3's own multipart
checksum is a checksum of parts, not of the file), checks that the manifest belongs to the
id asked for, and fully reads the archive with pg_restore: its table of contents (every
table, matview and sequence of the manifest, and no table data the manifest does not know)
and each table's row count. No database is needed, and so verify cannot prove the data
itself (a swapped dump with a patched checksum and the same row counts passes): only a
drill, which restores and fingerprints every row, proves that.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from releaser.db.archive import full_read
from releaser.db.catalog import dump_key, load_manifest
from releaser.db.checks import (
    Check,
    all_ok,
    check,
    compare_archive_contents,
    compare_archive_rows,
)
from releaser.db.evidence import DrillEvidence, write_evidence
from releaser.db.manifest import Manifest
from releaser.db.pgtools import find_tool, parse_version_output
from releaser.db.progress import Reporter, mb_per_s
from releaser.db.storage import Store
from releaser.errors import IncompleteSnapshot, ReleaserError


@dataclass
class VerifyResult:
    manifest: Manifest
    checks: list[Check]
    seconds: float
    mb_per_s: float

    @property
    def passed(self) -> bool:
        return all_ok(self.checks)


def archive_major(manifest: Manifest) -> int:
    """pg_restore must be at least as new as the pg_dump that wrote the archive."""
    parsed = parse_version_output(manifest.dump.pg_dump_version)
    return parsed[0] if parsed else 0


def verify_snapshot(
    store: Store, snapshot_id: str, reporter: Reporter | None = None
) -> VerifyResult:
    """Check what can be checked without a database; a failure is recorded as evidence
    (so the snapshot stops counting as verified). A pass records nothing: only a drill
    proves the data restores."""
    try:
        manifest = load_manifest(store, snapshot_id)
    except IncompleteSnapshot as exc:
        record_failure(store, snapshot_id, exc.manifest, [], exc.one_line())
        raise
    result = _verify(store, manifest, reporter or Reporter())
    if not result.passed:
        record_failure(store, snapshot_id, manifest, result.checks, None)
    return result


def record_failure(
    store: Store,
    snapshot_id: str,
    manifest: Manifest | None,
    checks: list[Check],
    error: str | None,
) -> str | None:
    """Failed evidence for ``snapshot_id``, where the store lets us write it."""
    now = datetime.now(UTC)
    evidence = DrillEvidence(
        snapshot_id=snapshot_id,
        database=manifest.database if manifest else "",
        taken_at=manifest.taken_at if manifest else now,
        drilled_at=now,
        passed=False,
        kind="verify",
        checks=checks,
        error=error,
    )
    try:
        return write_evidence(store, evidence)
    except ReleaserError:  # a read-only store: the verdict still stands, exit code says it
        return None


def _verify(store: Store, manifest: Manifest, reporter: Reporter) -> VerifyResult:
    snapshot_id = manifest.snapshot_id
    pg_restore = find_tool("pg_restore", archive_major(manifest))
    reporter.phase(f"Reading {store.url}/{manifest.dump.key} in full ({pg_restore.path})")
    read = full_read(store, manifest.dump.key, pg_restore, reporter)
    checks = [
        check("snapshot id", snapshot_id, manifest.snapshot_id),
        check("dump key", dump_key(snapshot_id), manifest.dump.key),
        check("size (bytes)", manifest.dump.size_bytes, read.transfer.size),
        check("sha256", manifest.dump.sha256, read.transfer.sha256),
        check(
            "archive reads in full (pg_restore)",
            "exit 0",
            f"exit {read.exit_code}" + (f": {read.stderr}" if read.exit_code else ""),
        ),
    ]
    checks.extend(compare_archive_rows(manifest.facts, read.copied_rows))
    checks.extend(compare_archive_contents(manifest.facts, read.contents))
    return VerifyResult(
        manifest=manifest,
        checks=checks,
        seconds=round(read.transfer.seconds, 3),
        mb_per_s=mb_per_s(read.transfer.size, read.transfer.seconds),
    )
