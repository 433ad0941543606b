"""Evidence of Render-native drills (a Render export restored, a PITR instance checked),
stored in the database's snapshot store beside our own drills' evidence.

Layout: ``@render/<database>/<kind>/<time>-passed.json`` (``@`` is never in a snapshot id,
so snapshot listings and prune leave these alone). Which kinds count for go-no-go, and how
old each may be, is per database in ``releaser.toml`` (``evidence``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from releaser.db.catalog import parse_evidence_name
from releaser.db.checks import Check
from releaser.db.evidence import PhaseTiming
from releaser.db.storage import Store

RenderKind = Literal["render-export", "render-pitr"]
PREFIX = "@render"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


class RenderDrillEvidence(BaseModel):
    kind: RenderKind
    database: str
    render_id: str
    subject: str  # the export id, or the recovery instance's id
    data_at: datetime  # the export's createdAt, or the PITR restore time
    drilled_at: datetime
    passed: bool
    target: str  # masked: where the copy was checked
    phases: dict[str, PhaseTiming] = Field(default_factory=dict)
    rto_seconds: float
    rpo_seconds: float | None = None  # an export's age when drilled; PITR: continuous
    checks: list[Check] = Field(default_factory=list)
    error: str | None = None
    instance_deleted: bool | None = None  # PITR: the billed recovery instance is gone
    sha256: str | None = None  # export: of the archive as downloaded
    size_bytes: int | None = None


def _folder(database: str, kind: str) -> str:
    return f"{PREFIX}/{_SAFE.sub('_', database)}/{kind}/"


def write_render_evidence(store: Store, evidence: RenderDrillEvidence) -> str:
    stamp = evidence.drilled_at.strftime("%Y%m%dT%H%M%S.%fZ")
    outcome = "passed" if evidence.passed else "failed"
    key = f"{_folder(evidence.database, evidence.kind)}{stamp}-{outcome}.json"
    store.create(key, evidence.model_dump_json(indent=2).encode())
    return key


@dataclass(frozen=True)
class RenderDrillSummary:
    """Per database and kind: the newest passing drill (with its evidence) and failure."""

    database: str
    kind: RenderKind
    last_passed: RenderDrillEvidence | None
    last_failed_at: datetime | None


def render_drills(store: Store, database: str | None = None) -> list[RenderDrillSummary]:
    prefix = _folder(database, "")[:-1] if database else PREFIX + "/"
    newest: dict[tuple[str, str], tuple[datetime | None, str | None, datetime | None]] = {}
    for obj in store.list(prefix):
        parts = obj.key.split("/")
        if len(parts) != 4 or parts[2] not in ("render-export", "render-pitr"):
            continue
        parsed = parse_evidence_name(parts[3])
        if parsed is None:
            continue
        when, passed = parsed
        best_pass, best_key, best_fail = newest.get((parts[1], parts[2]), (None, None, None))
        if passed and (best_pass is None or when > best_pass):
            best_pass, best_key = when, obj.key
        if not passed and (best_fail is None or when > best_fail):
            best_fail = when
        newest[(parts[1], parts[2])] = (best_pass, best_key, best_fail)
    result = []
    for (name, kind), (_, key, failed_at) in sorted(newest.items()):
        evidence = _read(store, key) if key else None
        result.append(
            RenderDrillSummary(
                database=evidence.database if evidence else name,
                kind=kind,  # type: ignore[arg-type]
                last_passed=evidence,
                last_failed_at=failed_at,
            )
        )
    return result


def _read(store: Store, key: str) -> RenderDrillEvidence | None:
    try:
        return RenderDrillEvidence.model_validate_json(store.read_bytes(key))
    except (ValidationError, ValueError):
        return None  # unreadable evidence proves nothing


def evidence_time(evidence: RenderDrillEvidence) -> datetime:
    """What an age limit is measured from: an export's data time (like a snapshot's), a
    PITR drill's own time (PITR reaches any moment in its window; the drill proves it works)."""
    return evidence.data_at if evidence.kind == "render-export" else evidence.drilled_at
