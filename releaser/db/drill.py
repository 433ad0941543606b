"""``db drill``: prove a backup restores. Snapshot (or take the latest), restore into a
scratch database created from template0, check it against the manifest, ALWAYS drop the
scratch database, and store the result next to the snapshot as evidence.

RPO here: now minus the snapshot time of the newest verified snapshot (how much data an
incident right now would lose, at best). RTO: the measured download + restore + analyze +
verify time (how long getting a copy back took).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from releaser.db.catalog import latest_complete
from releaser.db.dsn import Dsn
from releaser.db.evidence import DrillEvidence, evidence_key, newest_verified, write_evidence
from releaser.db.progress import Reporter
from releaser.db.restore import RestoreOutcome, drop_database, plan_restore, run_restore
from releaser.db.snapshot import sigterm_as_interrupt, take_snapshot
from releaser.db.storage import Store
from releaser.errors import EnvironmentProblem, NegativeVerdict, ReleaserError, UsageError

SCRATCH_PREFIX = "releaser_drill_"
# A scratch database or restore role older than this belongs to a drill that was killed
# (SIGKILL, OOM, a lost machine): no drill runs this long on a server this tool drills.
LEFTOVER_AGE = timedelta(hours=3)
_SCRATCH_TIME = re.compile(r"^releaser_drill_(\d{8}T\d{6})_[0-9a-f]+$")


@dataclass
class DrillResult:
    evidence: DrillEvidence
    took_snapshot: bool
    evidence_key: str
    store_url: str
    evidence_error: str | None = None  # why the evidence could not be stored
    cleaned_up: list[str] = field(default_factory=list)  # leftovers of killed drills


def scratch_name(now: datetime) -> str:
    """The creation time is in the name: a later drill can tell a leftover by its age."""
    return f"{SCRATCH_PREFIX}{now:%Y%m%dT%H%M%S}_{secrets.token_hex(4)}"


def cleanup_leftovers(
    server: Dsn, now: datetime | None = None, older_than: timedelta = LEFTOVER_AGE
) -> list[str]:
    """Drop scratch databases and restore roles that killed drills left on ``server``,
    when older than ``older_than``; return what was dropped ("database x (created …)").
    Younger ones may belong to a drill still running and are left alone."""
    import psycopg
    from psycopg import sql

    from releaser.db.restore import ROLE_PREFIX, maintenance_connect

    now = now or datetime.now(UTC)
    cutoff = now - older_than
    dropped: list[str] = []
    with maintenance_connect(server) as conn:
        names = [
            str(r[0])
            for r in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE 'releaser\\_drill\\_%'"
            ).fetchall()
        ]
        for name in sorted(names):
            match = _SCRATCH_TIME.match(name)
            if not match:
                continue
            created = datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
            if created >= cutoff:
                continue
            try:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
            except psycopg.Error:  # another user's leftover: not ours to drop, nor a failure
                continue
            dropped.append(f"database {name} (created {created:%Y-%m-%d %H:%M} UTC)")
        roles = conn.execute(
            "SELECT rolname, shobj_description(oid, 'pg_authid') FROM pg_roles"
            " WHERE rolname LIKE %s",
            (ROLE_PREFIX.replace("_", "\\_") + "%",),
        ).fetchall()
        for role, comment in roles:
            created_at = _role_created(comment)
            if created_at is None or created_at >= cutoff:
                continue
            try:
                with conn.transaction():
                    conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
                    conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
            except psycopg.Error:  # still owns objects elsewhere: a human must look
                continue
            dropped.append(f"role {role} (created {created_at:%Y-%m-%d %H:%M} UTC)")
    return dropped


def _role_created(comment: object) -> datetime | None:
    text = str(comment or "")
    marker = "created "
    if marker not in text:
        return None
    try:
        return datetime.fromisoformat(text.split(marker, 1)[1].strip())
    except ValueError:
        return None


def _drop_scratch(scratch: Dsn) -> None:
    try:
        drop_database(scratch)
    except ReleaserError as exc:
        raise EnvironmentProblem(
            f"could not drop the scratch database {scratch.dbname}: {exc.message}",
            f'Drop it by hand: DROP DATABASE "{scratch.dbname}" WITH (FORCE)',
        ) from exc


def run_drill(
    store: Store,
    *,
    source: Dsn | None,
    name: str | None = None,
    render_id: str | None = None,
    use_latest: bool = False,
    target_server: Dsn | None = None,
    jobs: int = 1,
    reporter: Reporter | None = None,
    workdir: str | None = None,
    production_source: bool = False,
) -> DrillResult:
    reporter = reporter or Reporter()
    server = target_server or source
    if server is None:
        raise UsageError(
            "a drill needs a server to restore on", "Pass --target-server DSN or a SOURCE"
        )
    if production_source and target_server is None:
        # A drill runs the dump's code (matviews, defaults, index expressions) on the
        # server it restores to: never the production server by default.
        raise UsageError(
            "the source is marked production, and a drill would restore it onto the "
            "production server",
            "Pass --target-server DSN: a separate server, or the production server "
            "explicitly if that is what you want",
        )
    cleaned = cleanup_leftovers(server)
    for line in cleaned:
        reporter.phase(f"Dropped a leftover of a killed drill: {line}")
    if use_latest:
        manifest = latest_complete(store, name).manifest
        assert manifest is not None
        reporter.phase(f"Using the latest snapshot {manifest.snapshot_id}")
    else:
        assert source is not None
        taken = take_snapshot(
            source, store, name=name, render_id=render_id, jobs=jobs, reporter=reporter
        )
        manifest = taken.manifest

    scratch = server.with_dbname(scratch_name(datetime.now(UTC)))
    outcome: RestoreOutcome | None = None
    error: str | None = None
    with sigterm_as_interrupt():
        try:
            plan = plan_restore(store, manifest.snapshot_id, scratch, create=True, jobs=jobs)
            reporter.phase(f"Restoring into scratch database {scratch.dbname}")
            outcome = run_restore(plan, store, reporter=reporter, workdir=workdir)
        except NegativeVerdict as exc:  # corrupt archive, failed restore: that IS the finding
            error = exc.one_line()
        finally:
            reporter.phase(f"Dropping scratch database {scratch.dbname}")
            _drop_scratch(scratch)

    drilled_at = datetime.now(UTC)
    passed = outcome is not None and outcome.passed
    # RPO counts from the newest verified snapshot: an earlier drill's, or this one's.
    previous = newest_verified(store, manifest.database)
    verified_taken = [previous.taken_at] if previous else []
    if passed:
        verified_taken.append(manifest.taken_at)
    newest_taken = max(verified_taken, default=None)
    evidence = DrillEvidence(
        snapshot_id=manifest.snapshot_id,
        database=manifest.database,
        taken_at=manifest.taken_at,
        drilled_at=drilled_at,
        passed=passed,
        target_server=server.masked,
        scratch_database=scratch.dbname,
        phases=outcome.phases if outcome else {},
        rto_seconds=outcome.rto_seconds if outcome else 0.0,
        rpo_seconds=(
            round((drilled_at - newest_taken).total_seconds(), 1) if newest_taken else None
        ),
        checks=outcome.checks if outcome else [],
        error=error,
    )
    key = evidence_key(evidence)
    evidence_error: str | None = None
    try:
        write_evidence(store, evidence)
    except ReleaserError as exc:  # read-only or full store: the verdict is still printed
        evidence_error = exc.one_line()
    return DrillResult(
        evidence=evidence,
        took_snapshot=not use_latest,
        evidence_key=key,
        store_url=store.url,
        evidence_error=evidence_error,
        cleaned_up=cleaned,
    )
