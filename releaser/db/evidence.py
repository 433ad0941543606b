"""Drill evidence: what a drill proved, stored next to the snapshot it restored.

``latest_verified`` is the function go-no-go's "recent verified backup" check calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
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
    """The newest snapshot that a drill restored and checked successfully."""

    snapshot_id: str
    database: str
    taken_at: datetime
    verified_at: datetime
    store_url: str


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
    store_url: str, *, endpoint_url: str | None = None, database: str | None = None
) -> VerifiedBackup | None:
    """The newest drill-verified snapshot in ``store_url`` (optionally of one database), or
    None. Raises UsageError (bad URL, exit 2) or EnvironmentProblem (store unreachable,
    exit 3). Age policy (``max_backup_age``) is the caller's: compare ``taken_at``."""
    return newest_verified(open_store(store_url, endpoint_url), database)
