"""``db prune``: delete old snapshots by count and age, never the ones that matter.

Per database: a complete snapshot is deleted when it is beyond the newest ``keep`` OR
older than ``max_age``, except the newest complete one and the newest drill-verified one,
which are always kept. Incomplete snapshots (no manifest) go once older than a day
(younger ones may still be uploading). Anything under an S3 object lock (retention or
legal hold) is reported and left alone. Planning only reads, so ``--dry-run`` is the plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from releaser.db.catalog import SnapshotEntry, list_snapshots
from releaser.db.storage import Store
from releaser.errors import EnvironmentProblem, UsageError

INCOMPLETE_GRACE = timedelta(days=1)
Action = Literal["delete", "keep", "locked", "deleted"]


@dataclass
class PruneDecision:
    entry: SnapshotEntry
    action: Action
    reason: str

    @property
    def size(self) -> int:
        return self.entry.dump_size or 0


def plan_prune(
    store: Store,
    *,
    keep: int,
    max_age_seconds: float | None = None,
    now: datetime | None = None,
) -> list[PruneDecision]:
    if keep < 1:
        raise UsageError("--keep must be at least 1", "A store must keep a snapshot to restore")
    now = now or datetime.now(UTC)
    entries = list_snapshots(store)  # newest first
    decisions: list[PruneDecision] = []
    by_db: dict[str, list[SnapshotEntry]] = {}
    for entry in entries:
        if not entry.complete:
            old = now - entry.modified > INCOMPLETE_GRACE
            decisions.append(
                PruneDecision(
                    entry,
                    "delete" if old else "keep",
                    "incomplete (no manifest or no dump), older than a day"
                    if old
                    else "incomplete, may still be uploading",
                )
            )
        elif entry.manifest is not None:
            by_db.setdefault(entry.manifest.database, []).append(entry)
    for group in by_db.values():
        # "Verified" as the newest evidence says: a snapshot whose newest drill failed is
        # not protected, and the older intact one it would displace is.
        newest_verified = next((e for e in group if e.verified), None)
        for rank, entry in enumerate(group):
            age = (now - entry.taken_at).total_seconds()
            if rank == 0:
                decisions.append(PruneDecision(entry, "keep", "newest snapshot"))
            elif entry is newest_verified:
                decisions.append(PruneDecision(entry, "keep", "newest verified snapshot"))
            elif rank >= keep:
                decisions.append(PruneDecision(entry, "delete", f"beyond the newest {keep}"))
            elif max_age_seconds is not None and age > max_age_seconds:
                decisions.append(PruneDecision(entry, "delete", "older than --max-age"))
            else:
                decisions.append(PruneDecision(entry, "keep", f"within the newest {keep}"))
    for decision in decisions:
        if decision.action == "delete":
            reason = _lock_reason(store, decision.entry)
            if reason:
                decision.action = "locked"
                decision.reason = f"object lock: {reason}"
    decisions.sort(key=lambda d: d.entry.taken_at, reverse=True)
    return decisions


def _lock_reason(store: Store, entry: SnapshotEntry) -> str | None:
    for key in entry.keys:
        reason = store.lock_reason(key)
        if reason:
            return f"{key}: {reason}"
    return None


def apply_prune(store: Store, decisions: list[PruneDecision]) -> list[PruneDecision]:
    """Delete what the plan says. The manifest goes first, so a half-pruned snapshot is
    merely "incomplete", never a complete-looking one with its dump missing."""
    for decision in decisions:
        if decision.action != "delete":
            continue
        keys = sorted(decision.entry.keys, key=lambda k: not k.endswith("/manifest.json"))
        try:
            for key in keys:
                store.delete(key)
        except EnvironmentProblem as exc:
            # A lock set after planning, or a policy: report it, carry on with the rest.
            decision.action = "locked"
            decision.reason = f"delete refused: {exc.message}"
            continue
        decision.action = "deleted"
    return decisions
