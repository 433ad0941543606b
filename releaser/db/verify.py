"""``db verify``: is the stored archive the one the manifest describes, and readable?

Re-downloads the object, re-hashes it against the manifest's SHA-256 (S3's own multipart
checksum is a checksum of parts, not of the file), and fully reads it with pg_restore,
counting each table's rows on the way. No database is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

from releaser.db.archive import full_read
from releaser.db.catalog import load_manifest
from releaser.db.checks import Check, all_ok, check, compare_archive_rows
from releaser.db.manifest import Manifest
from releaser.db.pgtools import find_tool, parse_version_output
from releaser.db.progress import Reporter, mb_per_s
from releaser.db.storage import Store


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
    reporter = reporter or Reporter()
    manifest = load_manifest(store, snapshot_id)
    pg_restore = find_tool("pg_restore", archive_major(manifest))
    reporter.phase(f"Reading {store.url}/{manifest.dump.key} in full ({pg_restore.path})")
    read = full_read(store, manifest.dump.key, pg_restore, reporter)
    checks = [
        check("size (bytes)", manifest.dump.size_bytes, read.transfer.size),
        check("sha256", manifest.dump.sha256, read.transfer.sha256),
        check(
            "archive reads in full (pg_restore)",
            "exit 0",
            f"exit {read.exit_code}" + (f": {read.stderr}" if read.exit_code else ""),
        ),
    ]
    checks.extend(compare_archive_rows(manifest.facts, read.copied_rows))
    return VerifyResult(
        manifest=manifest,
        checks=checks,
        seconds=round(read.transfer.seconds, 3),
        mb_per_s=mb_per_s(read.transfer.size, read.transfer.seconds),
    )
