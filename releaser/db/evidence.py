"""Drill evidence: what a drill proved, stored next to the snapshot it restored.

``latest_verified`` is the function go-no-go's "recent verified backup" check calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from releaser.db.catalog import list_snapshots
from releaser.db.checks import Check
from releaser.db.manifest import DRILLS_DIR
from releaser.db.storage import Store, open_store


class PhaseTiming(BaseModel):
    seconds: float
    bytes: int | None = None
    mb_per_s: float | None = None


class DrillEvidence(BaseModel):
    snapshot_id: str
    database: str
    taken_at: datetime
    drilled_at: datetime
    passed: bool
    target_server: str = ""  # masked; "" for a verify
    scratch_database: str = ""
    # "verify" evidence is only ever written when a verify FAILED: a passing verify does
    # not prove the data restores, a failing one proves the snapshot is unusable.
    kind: Literal["drill", "verify"] = "drill"
    phases: dict[str, PhaseTiming] = Field(default_factory=dict)
    rto_seconds: float = 0.0
    rpo_seconds: float | None = None  # None: no verified snapshot at all
    checks: list[Check] = Field(default_factory=list)
    error: str | None = None


def evidence_key(evidence: DrillEvidence) -> str:
    stamp = evidence.drilled_at.strftime("%Y%m%dT%H%M%S.%fZ")
    outcome = "passed" if evidence.passed else "failed"
    return f"{evidence.snapshot_id}/{DRILLS_DIR}/{stamp}-{outcome}.json"


def write_evidence(store: Store, evidence: DrillEvidence) -> str:
    key = evidence_key(evidence)
    store.create(key, evidence.model_dump_json(indent=2).encode())
    return key


@dataclass(frozen=True)
class VerifiedBackup:
    """The newest snapshot that a drill restored and checked successfully (or, per
    ``releaser.toml``'s ``evidence``, a passed Render export or PITR drill)."""

    snapshot_id: str  # for Render kinds: the export id, or the recovery instance's id
    database: str
    taken_at: datetime  # what the age limit is measured from
    verified_at: datetime
    store_url: str
    kind: str = "snapshot"  # or render-export, render-pitr

    @property
    def what(self) -> str:
        if self.kind == "render-export":
            return f"Render export {self.snapshot_id}"
        if self.kind == "render-pitr":
            return f"PITR drill (recovery instance {self.snapshot_id})"
        return f"snapshot {self.snapshot_id}"


def newest_verified(store: Store, database: str | None = None) -> VerifiedBackup | None:
    for entry in list_snapshots(store, database):  # newest first
        if entry.manifest is not None and entry.verified and entry.last_verified is not None:
            return VerifiedBackup(
                snapshot_id=entry.snapshot_id,
                database=entry.manifest.database,
                taken_at=entry.manifest.taken_at,
                verified_at=entry.last_verified,
                store_url=store.url,
            )
    return None


def latest_verified(
    store_url: str,
    *,
    endpoint_url: str | None = None,
    database: str | None = None,
    accept: dict[str, float] | None = None,
) -> VerifiedBackup | None:
    """The newest drill-verified snapshot in ``store_url`` (optionally of one database), or
    None. Raises UsageError (bad URL, exit 2) or EnvironmentProblem (store unreachable,
    exit 3). Age policy (``max_backup_age``) is the caller's: compare ``taken_at``.

    ``accept`` (evidence kind -> max age in seconds, from ``releaser.toml``'s ``evidence``)
    also admits Render export and PITR drills; the evidence returned is the one furthest
    inside its own age limit."""
    store = open_store(store_url, endpoint_url)
    if accept is None:
        return newest_verified(store, database)
    from releaser.db.render_evidence import evidence_time, render_drills

    found = []
    if "snapshot" in accept:
        snapshot = newest_verified(store, database)
        if snapshot is not None:
            found.append(snapshot)
    if any(kind in accept for kind in ("render-export", "render-pitr")):
        for summary in render_drills(store, database):
            ev = summary.last_passed
            if ev is None or summary.kind not in accept:
                continue
            found.append(
                VerifiedBackup(
                    snapshot_id=ev.subject,
                    database=ev.database,
                    taken_at=evidence_time(ev),
                    verified_at=ev.drilled_at,
                    store_url=store.url,
                    kind=ev.kind,
                )
            )
    now = datetime.now(UTC)
    return max(
        found, key=lambda f: accept[f.kind] - (now - f.taken_at).total_seconds(), default=None
    )
