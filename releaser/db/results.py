"""What each ``releaser db`` command returns: a ``Result`` with its outcome, JSON and text.

One class per command (snapshot, list, verify, restore and its plan, drill and its cleanup,
the Render-native drills, prune, export and its list). Each is built from what the core in
``releaser.db`` returns (``of(...)``), its JSON form is ``model_dump(mode="json")`` with the
keys scripts and docs read, and ``render_text()`` is the table or key/value lines a person
reads. A failed check is exit 1 with the names of the first mismatches, whatever the command.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    Field,
    PlainSerializer,
    SerializerFunctionWrapHandler,
    model_serializer,
)

from releaser.db.checks import Check
from releaser.db.evidence import DrillEvidence, PhaseTiming
from releaser.db.manifest import Manifest
from releaser.db.progress import human_bytes, mb_per_s
from releaser.db.render_evidence import RenderDrillEvidence
from releaser.errors import EXIT_ENVIRONMENT, EXIT_NEGATIVE, EXIT_OK, ReleaserError
from releaser.output import format_duration, format_time, pairs, table
from releaser.results import Outcome, Result

if TYPE_CHECKING:
    from releaser.db.catalog import SnapshotEntry
    from releaser.db.drill import DrillResult
    from releaser.db.prune import PruneDecision
    from releaser.db.render_evidence import RenderDrillSummary
    from releaser.db.render_export import RenderDrillResult, StoredExport
    from releaser.db.restore import RestoreOutcome, RestorePlan
    from releaser.db.snapshot import SnapshotResult
    from releaser.db.verify import VerifyResult
    from releaser.render.models import PostgresExport

# Times in these documents were always written with datetime.isoformat (``+00:00``), not
# pydantic's ``Z``: consumers that compare strings keep working.
IsoTime = Annotated[datetime, PlainSerializer(lambda t: t.isoformat(), when_used="json")]

NOT_TRUSTED = "Do not rely on this snapshot; see the checks above and use another one"


class Flattened(Result):
    """A result whose JSON puts one nested model's keys at the top level (as it always has)."""

    verdict_first: ClassVar[bool] = False  # opens with a table or key/value lines

    @model_serializer(mode="wrap")
    def _flatten(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        document: dict[str, Any] = handler(self)
        flat = document.pop("flat", {})
        return {**document, **flat}


def mismatches(checks: list[Check], what: str) -> str | None:
    """``"<what> failed: 2 of 30 checks do not match (a, b)"``, or None when all match."""
    failed = [c for c in checks if not c.ok]
    if not failed:
        return None
    names = ", ".join(c.name for c in failed[:3]) + (" …" if len(failed) > 3 else "")
    return f"{what} failed: {len(failed)} of {len(checks)} checks do not match ({names})"


def checks_table(checks: list[Check]) -> str:
    rows = [[c.name, c.expected, c.actual, "ok" if c.ok else "MISMATCH"] for c in checks]
    return table(rows, ["check", "expected", "actual", "result"])


def phases_and_checks(phases: dict[str, PhaseTiming], checks: list[Check]) -> str:
    """A drill's timings by phase and its checks, each as a table (after a blank line)."""
    text = ""
    if phases:
        rows = [[k, f"{v.seconds:.2f}", v.mb_per_s] for k, v in phases.items()]
        text += "\n\n" + table(rows, ["phase", "seconds", "MB/s"])
    if checks:
        text += "\n\n" + checks_table(checks)
    return text


# --- snapshot ---------------------------------------------------------------------------


class SnapshotOutcome(Outcome):
    TAKEN = "taken", EXIT_OK


class SnapshotTaken(Flattened):
    """``db snapshot``: the store and the manifest's keys (snapshot_id, dump, facts, ...)."""

    outcome: SnapshotOutcome = SnapshotOutcome.TAKEN
    store: str
    flat: Manifest

    @classmethod
    def of(cls, store_url: str, taken: SnapshotResult) -> SnapshotTaken:
        m = taken.manifest
        return cls(summary=f"snapshot {m.snapshot_id} taken", store=store_url, flat=m)

    def render_text(self) -> str:
        m = self.flat
        database = human_bytes(m.facts.size_bytes)
        rate = mb_per_s(m.dump.size_bytes, m.dump_seconds)
        return pairs(
            [
                ("snapshot", m.snapshot_id),
                ("store", self.store),
                ("source", m.source.display),
                ("taken at", f"{format_time(m.taken_at)} UTC"),
                ("size", f"{human_bytes(m.dump.size_bytes)} (database {database})"),
                ("sha256", m.dump.sha256),
                ("tables", f"{len(m.facts.tables)} ({m.facts.total_rows} rows)"),
                ("pg_dump", f"{m.dump.pg_dump_version} for server {m.facts.server_version}"),
                ("took", f"{format_duration(m.dump_seconds)} ({rate} MB/s)"),
            ]
        )


# --- list -------------------------------------------------------------------------------


class ListOutcome(Outcome):
    LISTED = "listed", EXIT_OK


class SnapshotRow(BaseModel):
    """One snapshot as ``db list`` shows it."""

    snapshot_id: str
    database: str | None
    taken_at: IsoTime
    complete: bool
    size_bytes: int | None
    sha256: str | None
    verified: bool
    last_verified: IsoTime | None
    last_drill_failed: IsoTime | None

    @classmethod
    def of(cls, e: SnapshotEntry) -> SnapshotRow:
        return cls(
            snapshot_id=e.snapshot_id,
            database=e.database,
            taken_at=e.taken_at,
            complete=e.complete,
            size_bytes=e.dump_size,
            sha256=e.manifest.dump.sha256 if e.manifest else None,
            verified=e.verified,
            last_verified=e.last_verified,
            last_drill_failed=e.last_drill_failed,
        )

    def verified_cell(self) -> object:
        """The newest evidence wins: a later failure shows FAILED even after a pass."""
        if self.verified:
            return self.last_verified
        if self.last_drill_failed or self.last_verified:
            return "FAILED"
        return "never"


class RenderDrillRow(BaseModel):
    """Render export and PITR drills: first-class evidence beside the snapshots."""

    database: str
    kind: str
    subject: str | None
    data_at: IsoTime | None
    last_verified: IsoTime | None
    last_drill_failed: IsoTime | None

    @classmethod
    def of(cls, s: RenderDrillSummary) -> RenderDrillRow:
        passed = s.last_passed
        return cls(
            database=s.database,
            kind=s.kind,
            subject=passed.subject if passed else None,
            data_at=passed.data_at if passed else None,
            last_verified=passed.drilled_at if passed else None,
            last_drill_failed=s.last_failed_at,
        )


def render_drills_table(rows: list[RenderDrillRow]) -> str:
    """The Render drills table after a blank line, or nothing when there are none."""
    if not rows:
        return ""
    body = [
        [
            r.database,
            r.kind,
            r.subject or "-",
            format_time(r.data_at),
            format_time(r.last_verified) if r.last_verified else "never",
            format_time(r.last_drill_failed),
        ]
        for r in rows
    ]
    headers = ["database", "Render drill", "export / instance", "data as of", "last verified"]
    return "\n\n" + table(body, [*headers, "last failed"])


class SnapshotList(Result):
    """``db list``: the store's snapshots, newest first, and its Render drills."""

    verdict_first: ClassVar[bool] = False  # opens with a table or key/value lines

    outcome: ListOutcome = ListOutcome.LISTED
    store: str
    snapshots: list[SnapshotRow]
    render_drills: list[RenderDrillRow]

    @classmethod
    def of(
        cls, store_url: str, entries: list[SnapshotEntry], drills: list[RenderDrillSummary]
    ) -> SnapshotList:
        return cls(
            summary=f"{len(entries)} snapshots in {store_url}",
            store=store_url,
            snapshots=[SnapshotRow.of(e) for e in entries],
            render_drills=[RenderDrillRow.of(s) for s in drills],
        )

    def render_text(self) -> str:
        if not self.snapshots:
            return f"No snapshots in {self.store}." + render_drills_table(self.render_drills)
        body = [
            [
                r.snapshot_id,
                r.database,
                r.taken_at,
                "complete" if r.complete else "INCOMPLETE",
                human_bytes(r.size_bytes) if r.size_bytes is not None else None,
                r.verified_cell(),
            ]
            for r in self.snapshots
        ]
        headers = ["snapshot", "database", "taken at (UTC)", "status", "size", "last verified"]
        return table(body, headers) + render_drills_table(self.render_drills)


# --- verify -----------------------------------------------------------------------------


class VerifyOutcome(Outcome):
    VERIFIED = "verified", EXIT_OK
    FAILED = "failed", EXIT_NEGATIVE


class Checked(Result):
    """A result that is a list of checks against a manifest: the table, then the verdict."""

    verdict_first: ClassVar[bool] = False  # opens with the checks table

    passed: bool
    checks: list[Check]

    def render_text(self) -> str:
        return checks_table(self.checks) + (f"\n{self.summary}" if self.ok else "")


class Verification(Checked):
    """``db verify``: every check of the archive against its manifest."""

    outcome: VerifyOutcome
    snapshot_id: str
    store: str
    seconds: float
    mb_per_s: float

    @classmethod
    def of(cls, store_url: str, snapshot_id: str, verified: VerifyResult) -> Verification:
        failed = mismatches(verified.checks, f"verification of {snapshot_id}")
        return cls(
            outcome=VerifyOutcome.FAILED if failed else VerifyOutcome.VERIFIED,
            summary=failed
            or (
                f"Snapshot {snapshot_id} verified: {len(verified.checks)} checks passed. The "
                "archive is intact and complete; only a drill proves the data restores."
            ),
            advice=NOT_TRUSTED if failed else "",
            snapshot_id=snapshot_id,
            store=store_url,
            passed=verified.passed,
            seconds=verified.seconds,
            mb_per_s=verified.mb_per_s,
            checks=verified.checks,
        )


# --- restore ----------------------------------------------------------------------------


class RestoreVerdict(Outcome):
    PLANNED = "planned", EXIT_OK
    RESTORED = "restored", EXIT_OK
    FAILED = "failed", EXIT_NEGATIVE


class RestorePlanned(Result):
    """``db restore --dry-run``: the steps, nothing written."""

    verdict_first: ClassVar[bool] = False  # opens with a table or key/value lines

    outcome: RestoreVerdict = RestoreVerdict.PLANNED
    dry_run: bool = True
    snapshot_id: str
    steps: list[str]

    @classmethod
    def of(cls, snapshot_id: str, plan: RestorePlan) -> RestorePlanned:
        return cls(
            summary=f"Plan for restoring {snapshot_id} (dry run, nothing written):",
            snapshot_id=snapshot_id,
            steps=plan.steps,
        )

    def render_text(self) -> str:
        return "\n".join(
            [self.summary, *(f"  {n}. {step}" for n, step in enumerate(self.steps, 1))]
        )


class Restored(Checked):
    """``db restore``: the restored copy checked against the manifest, and the RTO."""

    outcome: RestoreVerdict
    snapshot_id: str
    target: str
    rto_seconds: float
    phases: dict[str, PhaseTiming]
    not_restored: str

    @classmethod
    def of(cls, snapshot_id: str, target: str, restored: RestoreOutcome) -> Restored:
        from releaser.db.restore import NOT_RESTORED

        failed = mismatches(restored.checks, f"restore of {snapshot_id} into {target}")
        return cls(
            outcome=RestoreVerdict.FAILED if failed else RestoreVerdict.RESTORED,
            summary=failed or f"Restored {snapshot_id} into {target}; all checks passed.",
            advice=NOT_TRUSTED if failed else "",
            snapshot_id=snapshot_id,
            target=target,
            passed=restored.passed,
            rto_seconds=restored.rto_seconds,
            phases=restored.phases,
            checks=restored.checks,
            not_restored=NOT_RESTORED,
        )


# --- drill ------------------------------------------------------------------------------


class DrillOutcome(Outcome):
    PASSED = "passed", EXIT_OK
    FAILED = "failed", EXIT_NEGATIVE
    # Whatever the drill found, a result that is not recorded does not count: go-no-go and
    # 'db list' would not see it. The store is the environment: exit 3, run it again.
    NOT_RECORDED = "not_recorded", EXIT_ENVIRONMENT
    CLEANED_UP = "cleaned_up", EXIT_OK


def _drill_verdict(
    passed: bool, error: str | None, checks: list[Check], what: str, evidence_error: str | None
) -> tuple[DrillOutcome, str, str]:
    """(outcome, summary, advice) of a drill of our snapshots or of Render's copies."""
    if evidence_error:
        verdict = "passed" if passed else "failed"
        return (
            DrillOutcome.NOT_RECORDED,
            f"the drill {verdict} but its evidence could not be stored: {evidence_error}",
            "Fix the store, then run the drill again so the result is recorded",
        )
    if error:
        return DrillOutcome.FAILED, f"{what} failed: {error}", ""
    failed = mismatches(checks, what)
    if failed:
        return DrillOutcome.FAILED, failed, NOT_TRUSTED
    return DrillOutcome.PASSED, f"{what} passed", ""


class DrillReport(Flattened):
    """``db drill``: the evidence's keys (snapshot_id, passed, phases, checks, RPO, RTO...)."""

    outcome: DrillOutcome
    store: str
    evidence_key: str
    snapshot_taken_by_drill: bool
    cleaned_up: list[str]
    evidence_error: str | None = Field(default=None, exclude=True)
    flat: DrillEvidence
    markdown: str = Field(default="", exclude=True)

    @classmethod
    def of(cls, drilled: DrillResult) -> DrillReport:
        from releaser.db.report import drill_markdown

        ev = drilled.evidence
        outcome, summary, advice = _drill_verdict(
            ev.passed, ev.error, ev.checks, f"drill of {ev.snapshot_id}", drilled.evidence_error
        )
        return cls(
            outcome=outcome,
            summary=summary,
            advice=advice,
            store=drilled.store_url,
            evidence_key=drilled.evidence_key,
            snapshot_taken_by_drill=drilled.took_snapshot,
            cleaned_up=drilled.cleaned_up,
            evidence_error=drilled.evidence_error,
            flat=ev,
            markdown=drill_markdown(drilled),
        )

    def render_text(self) -> str:
        ev = self.flat
        stored = "NOT STORED" if self.evidence_error else f"{self.store}/{self.evidence_key}"
        lines: list[tuple[str, object]] = [
            ("drill", "PASSED" if ev.passed else "FAILED"),
            ("snapshot", f"{ev.snapshot_id} (taken {format_time(ev.taken_at)} UTC)"),
            ("restored on", f"{ev.target_server} as {ev.scratch_database} (dropped)"),
            ("RPO", format_duration(ev.rpo_seconds)),
            ("RTO", format_duration(ev.rto_seconds)),
            ("evidence", stored),
        ]
        return pairs(lines) + phases_and_checks(ev.phases, ev.checks)

    def render_markdown(self) -> str:
        return self.markdown

    def error(self, default_advice: str = "") -> ReleaserError | None:
        # A failed drill whose error says it all keeps its one line without added advice.
        return super().error("")


class Cleanup(Result):
    """``db drill --cleanup``: the scratch databases and roles of killed drills, dropped."""

    verdict_first: ClassVar[bool] = False  # opens with a table or key/value lines

    outcome: DrillOutcome = DrillOutcome.CLEANED_UP
    cleaned_up: list[str]

    @classmethod
    def of(cls, dropped: list[str]) -> Cleanup:
        return cls(summary=f"{len(dropped)} leftovers of killed drills dropped", cleaned_up=dropped)

    def render_text(self) -> str:
        if not self.cleaned_up:
            return "Nothing to clean up: no leftover of a killed drill."
        return "\n".join(
            f"Dropped {line}: left behind by a killed drill." for line in self.cleaned_up
        )


class RenderDrillReport(Flattened):
    """``db drill --from render-export|render-pitr``: the Render drill evidence's keys."""

    outcome: DrillOutcome
    store: str
    evidence_key: str
    flat: RenderDrillEvidence
    markdown: str = Field(default="", exclude=True)

    @classmethod
    def of(cls, drilled: RenderDrillResult) -> RenderDrillReport:
        from releaser.db.render_report import render_drill_markdown

        ev = drilled.evidence
        what = f"{ev.kind} drill of {ev.subject}"
        outcome, summary, advice = _drill_verdict(ev.passed, ev.error, ev.checks, what, None)
        return cls(
            outcome=outcome,
            summary=summary,
            advice=advice,
            store=drilled.store_url,
            evidence_key=drilled.evidence_key,
            flat=ev,
            markdown=render_drill_markdown(drilled),
        )

    def render_text(self) -> str:
        ev = self.flat
        export = ev.kind == "render-export"
        data_at = (
            f"{format_time(ev.data_at)} UTC ({'export created' if export else 'restore time'})"
        )
        lines: list[tuple[str, object]] = [
            ("drill", f"{ev.kind} {'PASSED' if ev.passed else 'FAILED'}"),
            ("source", f"{ev.database} {ev.render_id}"),
            (
                "export" if export else "recovery instance",
                ev.subject if export else f"{ev.subject} (deleted)",
            ),
            ("data as of", data_at),
            ("checked on", ev.target),
            ("RPO", format_duration(ev.rpo_seconds) if export else "point in time (WAL)"),
            ("RTO", format_duration(ev.rto_seconds)),
            ("evidence", f"{self.store}/{self.evidence_key}"),
        ]
        return pairs(lines) + phases_and_checks(ev.phases, ev.checks)

    def render_markdown(self) -> str:
        return self.markdown

    def error(self, default_advice: str = "") -> ReleaserError | None:
        return super().error("")


# --- prune ------------------------------------------------------------------------------


class PruneOutcome(Outcome):
    PLANNED = "planned", EXIT_OK
    PRUNED = "pruned", EXIT_OK


class PruneRow(BaseModel):
    snapshot_id: str
    database: str | None
    taken_at: IsoTime
    action: str
    reason: str
    size_bytes: int


class PruneReport(Result):
    """``db prune``: what was (or, with --dry-run, would be) deleted or kept, and why."""

    verdict_first: ClassVar[bool] = False  # opens with a table or key/value lines

    outcome: PruneOutcome
    store: str
    dry_run: bool
    snapshots: list[PruneRow]

    @classmethod
    def of(cls, store_url: str, dry_run: bool, decisions: list[PruneDecision]) -> PruneReport:
        rows = [
            PruneRow(
                snapshot_id=d.entry.snapshot_id,
                database=d.entry.database,
                taken_at=d.entry.taken_at,
                action="would delete" if dry_run and d.action == "delete" else d.action,
                reason=d.reason,
                size_bytes=d.size,
            )
            for d in decisions
        ]
        deleted = sum(1 for r in rows if r.action in ("deleted", "would delete"))
        verb = "would be deleted" if dry_run else "deleted"
        return cls(
            outcome=PruneOutcome.PLANNED if dry_run else PruneOutcome.PRUNED,
            summary=f"{deleted} of {len(rows)} snapshots {verb} from {store_url}",
            store=store_url,
            dry_run=dry_run,
            snapshots=rows,
        )

    @property
    def locked(self) -> int:
        return sum(1 for r in self.snapshots if r.action == "locked")

    def render_text(self) -> str:
        if not self.snapshots:
            return f"No snapshots in {self.store}."
        body = [
            [r.snapshot_id, r.database, r.taken_at, r.action, r.reason, human_bytes(r.size_bytes)]
            for r in self.snapshots
        ]
        return table(body, ["snapshot", "database", "taken at (UTC)", "action", "why", "size"])


# --- export -----------------------------------------------------------------------------


class ExportOutcome(Outcome):
    EXPORTED = "exported", EXIT_OK
    LISTED = "listed", EXIT_OK


class ExportRow(BaseModel):
    id: str
    created_at: IsoTime | None
    ready: bool


class ExportList(Result):
    """``db export --list``: SOURCE's exports that Render keeps."""

    verdict_first: ClassVar[bool] = False  # opens with a table or key/value lines

    outcome: ExportOutcome = ExportOutcome.LISTED
    render_id: str
    exports: list[ExportRow]

    @classmethod
    def of(cls, render_id: str, exports: list[PostgresExport]) -> ExportList:
        return cls(
            summary=f"{len(exports)} exports of {render_id}",
            render_id=render_id,
            exports=[
                ExportRow(id=e.id, created_at=e.created_at, ready=bool(e.url)) for e in exports
            ],
        )

    def render_text(self) -> str:
        body = [[e.id, format_time(e.created_at), e.ready] for e in self.exports]
        return table(body, ["export", "created at (UTC)", "has URL"])


class StoredCopy(BaseModel):
    store: str
    key: str
    manifest: str
    sha256: str
    size_bytes: int


class ExportMade(Result):
    """``db export``: the new export, and where it was copied with --download-to."""

    verdict_first: ClassVar[bool] = False  # opens with a table or key/value lines

    outcome: ExportOutcome = ExportOutcome.EXPORTED
    export_id: str
    render_id: str
    created_at: IsoTime | None
    stored: StoredCopy | None
    name: str = Field(exclude=True)

    @classmethod
    def of(
        cls,
        name: str,
        render_id: str,
        made: PostgresExport,
        store_url: str | None,
        stored: StoredExport | None,
    ) -> ExportMade:
        copy = (
            None
            if stored is None or store_url is None
            else StoredCopy(
                store=store_url,
                key=stored.key,
                manifest=stored.manifest_key,
                sha256=stored.sha256,
                size_bytes=stored.size,
            )
        )
        return cls(
            summary=f"export {made.id} of {render_id} ready",
            export_id=made.id,
            render_id=render_id,
            created_at=made.created_at,
            stored=copy,
            name=name,
        )

    def render_text(self) -> str:
        lines: list[tuple[str, object]] = [
            ("export", self.export_id),
            ("source", f"{self.name} {self.render_id}"),
            ("created at", f"{format_time(self.created_at)} UTC"),
        ]
        if self.stored is not None:
            copied = f"{self.stored.store}/{self.stored.key}"
            lines += [("copied to", copied), ("sha256", self.stored.sha256)]
        return pairs(lines)
