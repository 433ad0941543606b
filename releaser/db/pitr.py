"""Point-in-time recovery drills: recover a Render Postgres into a NEW instance, check it,
and delete that instance whatever happens.

The recovery instance is billed until deleted, so: planning reads only (availability, the
restorable window, the plan it will be billed at); the CLI confirms that plan; the instance
is deleted in a ``finally`` (also on Ctrl-C and SIGTERM); a failed delete is looked at (never
retried blindly) and, if the instance is still there, is exit 4 naming it and the command
that deletes it. RTO: POST to ``available``, plus the checks.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from releaser.db.dsn import Dsn
from releaser.db.evidence import PhaseTiming
from releaser.db.progress import Reporter
from releaser.db.recovered import check_invariants, compare_with_source
from releaser.db.render_evidence import RenderDrillEvidence, write_render_evidence
from releaser.db.render_export import RenderDrillResult, poll_sleep
from releaser.db.storage import Store
from releaser.errors import (
    EnvironmentProblem,
    NegativeVerdict,
    NotFoundError,
    ReleaserError,
    UnsafeState,
    UsageError,
    WriteOutcomeUnknown,
)

if TYPE_CHECKING:
    from releaser.render.client import RenderClient
    from releaser.render.models import Postgres

MIN_AGE = timedelta(minutes=10)  # Render refuses restore times within the last 10 minutes


@dataclass
class PitrPlan:
    source: Postgres
    restore_time: datetime
    restore_name: str
    starts_at: datetime

    @property
    def plan(self) -> str:
        return self.source.plan or "the source's plan"

    @property
    def body(self) -> dict[str, str]:
        body = {
            "restoreTime": self.restore_time.isoformat().replace("+00:00", "Z"),
            "restoreName": self.restore_name,
        }
        if self.source.plan:
            body["plan"] = self.source.plan  # never lower than the source's
        if self.source.environment_id:
            body["environmentId"] = self.source.environment_id
        return body


def plan_pitr(
    client: RenderClient, postgres_id: str, *, at: datetime | None, ago: timedelta | None
) -> PitrPlan:
    """Reads only: the owner, the source, its recovery window, the restore time."""
    if not client.owner_id:
        raise UsageError(
            "RENDER_OWNER_ID is not set; a PITR drill creates a billed instance in a workspace",
            "export RENDER_OWNER_ID=tea-… (the workspace that owns the database), then retry",
        )
    source = client.get_postgres(postgres_id)
    if source.owner is not None and source.owner.id != client.owner_id:
        raise UsageError(
            f"{postgres_id} belongs to workspace {source.owner.id}, not RENDER_OWNER_ID "
            f"{client.owner_id}",
            "Set RENDER_OWNER_ID to the workspace that owns the database",
        )
    info = client.recovery_info(postgres_id)
    if info.recovery_status != "AVAILABLE" or info.starts_at is None:
        raise NegativeVerdict(
            f"point-in-time recovery of {postgres_id} is {info.recovery_status or 'unknown'}; "
            "nothing was changed",
            "PITR needs a paid plan and a first backup (BACKUP_NOT_READY: retry later)",
        )
    now = client.server_now()
    latest = now - MIN_AGE
    when = at if at is not None else now - (ago or timedelta(minutes=30))
    starts = info.starts_at if info.starts_at.tzinfo else info.starts_at.replace(tzinfo=UTC)
    if not starts <= when <= latest:
        raise UsageError(
            f"restore time {when:%Y-%m-%d %H:%M:%S} UTC is outside the recoverable window "
            f"{starts:%Y-%m-%d %H:%M:%S} to {latest:%Y-%m-%d %H:%M:%S} UTC",
            "Pick --at/--ago inside it (not within the last 10 minutes)",
        )
    label = source.name or postgres_id
    name = f"{label}-drill-{now:%Y%m%d%H%M}-{secrets.token_hex(2)}"
    return PitrPlan(source=source, restore_time=when, restore_name=name, starts_at=starts)


def delete_command(client: RenderClient, postgres_id: str) -> str:
    return (
        f'curl -X DELETE -H "Authorization: Bearer $RENDER_API_KEY" '
        f"{client.base_url}/postgres/{postgres_id}"
    )


def delete_instance(client: RenderClient, postgres_id: str) -> str | None:
    """Delete; on any doubt look (never delete twice). None: gone; else what went wrong."""
    try:
        client.delete_postgres(postgres_id)
        return None
    except NotFoundError:
        return None
    except ReleaserError as exc:
        problem = exc.message
    try:
        client.get_postgres(postgres_id)
    except NotFoundError:
        return None  # the delete went through after all
    except ReleaserError as exc:
        return f"{problem}; looking afterwards failed too ({exc.message})"
    return problem


def _still_billed(
    client: RenderClient, postgres_id: str, name: str | None, plan: PitrPlan, problem: str
) -> UnsafeState:
    return UnsafeState(
        f"the recovery instance {postgres_id} ({name or plan.restore_name}, plan {plan.plan}) "
        f"is STILL RUNNING AND BILLED: deleting it failed ({problem})",
        f"Delete it now: {delete_command(client, postgres_id)} (or on the Render dashboard)",
    )


def _create(client: RenderClient, plan: PitrPlan, reporter: Reporter) -> Postgres:
    reporter.phase(
        f"Creating recovery instance {plan.restore_name} ({plan.plan}) of "
        f"{plan.source.id} at {plan.restore_time:%Y-%m-%d %H:%M:%S} UTC"
    )
    try:
        return client.create_recovery(plan.source.id, plan.body)
    except KeyboardInterrupt:
        # Interrupted with the request in flight: the billed instance may exist. Delete
        # what carries our unique name before leaving.
        for made in client.list_postgres(name=plan.restore_name):
            problem = delete_instance(client, made.id)
            if problem is not None:
                raise _still_billed(client, made.id, made.name, plan, problem) from None
        raise
    except WriteOutcomeUnknown as exc:
        # It may exist and be billed: look for it by its unique name, never POST again.
        found = client.list_postgres(name=plan.restore_name)
        if found:
            return found[0]
        raise UnsafeState(
            f"the recovery request's outcome is unknown ({exc.message}) and no instance named "
            f"{plan.restore_name} is listed yet",
            f"Check the Render dashboard for {plan.restore_name} and delete it if it appears",
        ) from None


def _wait_available(
    client: RenderClient, instance: Postgres, wait_seconds: float, reporter: Reporter
) -> None:
    reporter.phase(f"Waiting for {instance.id} to become available")
    started = time.monotonic()
    attempt = 0
    while True:
        status = client.get_postgres(instance.id).status
        if status == "available":
            return
        if status == "recovery_failed":
            raise NegativeVerdict(f"the recovery instance {instance.id} ended recovery_failed", "")
        if time.monotonic() - started > wait_seconds:
            raise EnvironmentProblem(
                f"the recovery instance {instance.id} is still {status} after {wait_seconds:.0f}s",
                "Retry with a longer --wait; large databases take a while to recover",
            )
        poll_sleep(attempt)
        attempt += 1


def _keep(client: RenderClient, instance: Postgres, minutes: float, reporter: Reporter) -> None:
    reporter.phase(
        f"Keeping {instance.id} ({instance.name}) for {minutes:g} minutes (billed); Ctrl-C "
        f"deletes it now. To delete it yourself: {delete_command(client, instance.id)}"
    )
    with contextlib.suppress(KeyboardInterrupt):
        time.sleep(minutes * 60)


def run_pitr_drill(
    client: RenderClient,
    store: Store,
    plan: PitrPlan,
    *,
    database: str,
    source: Dsn,
    invariants: dict[str, str],
    drift_per_day: float,
    keep_minutes: float,
    wait_seconds: float,
    reporter: Reporter,
) -> RenderDrillResult:
    from releaser.db.resolve import render_dsn
    from releaser.db.snapshot import sigterm_as_interrupt

    phases: dict[str, PhaseTiming] = {}
    checks = []
    error: str | None = None
    with sigterm_as_interrupt():
        started = time.monotonic()
        instance = _create(client, plan, reporter)
        target = f"{instance.id} ({instance.name or plan.restore_name})"
        problem: str | None = None
        try:
            try:
                _wait_available(client, instance, wait_seconds, reporter)
                phases["recovery"] = PhaseTiming(seconds=round(time.monotonic() - started, 3))
                reporter.phase(f"Checking {instance.id} against the source")
                checked = time.monotonic()
                recovered = render_dsn(client, client.get_postgres(instance.id))
                age = (client.server_now() - plan.restore_time).total_seconds()
                checks = compare_with_source(
                    source, recovered, age_seconds=age, drift_per_day=drift_per_day
                )
                checks += check_invariants(recovered, invariants)
                phases["verify"] = PhaseTiming(seconds=round(time.monotonic() - checked, 3))
            except NegativeVerdict as exc:
                error = exc.message
            if keep_minutes > 0:
                _keep(client, instance, keep_minutes, reporter)
        finally:
            reporter.phase(f"Deleting recovery instance {instance.id}")
            problem = delete_instance(client, instance.id)
            evidence = RenderDrillEvidence(
                kind="render-pitr",
                database=database,
                render_id=plan.source.id,
                subject=instance.id,
                data_at=plan.restore_time,
                drilled_at=datetime.now(UTC),
                passed=error is None and bool(checks) and all(c.ok for c in checks),
                target=target,
                phases=phases,
                rto_seconds=round(sum(p.seconds for p in phases.values()), 3),
                checks=checks,
                error=error,
                instance_deleted=problem is None,
            )
            if problem is not None:
                with contextlib.suppress(ReleaserError):
                    write_render_evidence(store, evidence)
                raise _still_billed(client, instance.id, instance.name, plan, problem)
    key = write_render_evidence(store, evidence)
    return RenderDrillResult(evidence=evidence, evidence_key=key, store_url=store.url)
