"""`releaser release NAME`: several services, one commit, migration first, all or nothing.

The per-service work is the deploy core's (plan_deploy / execute_deploy) and the rollback
core's (plan_rollback / execute_rollback); this module only orders them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from releaser import timebase
from releaser.config import Config, ReleasePlan
from releaser.errors import (
    EXIT_NEGATIVE,
    EXIT_OK,
    EXIT_UNSAFE,
    NegativeVerdict,
    ReleaserError,
    UnsafeState,
)
from releaser.release.deploy import DeployOptions, DeployPlan, execute_deploy, plan_deploy
from releaser.release.report import CheckLine, DeployReport, RollbackReport
from releaser.release.rollback import (
    autodeploy_on,
    disable_autodeploy,
    enable_autodeploy_command,
    execute_rollback,
    plan_rollback,
)
from releaser.release.watch import ServerClock
from releaser.render.client import RenderClient
from releaser.render.models import Job, Service
from releaser.results import Outcome, Result

Progress = Callable[[str], None]
JOB_POLL_SECONDS = 2.0


class ServiceResult(BaseModel):
    service_id: str
    service_name: str | None
    included: bool = True
    why: str = ""
    deploy: DeployReport | None = None
    rollback: RollbackReport | None = None


class MigrationResult(BaseModel):
    service_id: str
    command: str
    job_id: str | None = None
    status: str
    seconds: float = 0.0


class ReleaseOutcome(Outcome):
    HEALTHY = "healthy", EXIT_OK
    DRY_RUN = "dry_run", EXIT_OK
    NOTHING_TO_DO = "nothing_to_do", EXIT_OK  # no service of the release changed
    NO_GO = "no_go", EXIT_NEGATIVE  # nothing changed
    MIGRATION_FAILED = "migration_failed", EXIT_NEGATIVE  # nothing deployed
    ROLLED_BACK = "rolled_back", EXIT_NEGATIVE  # every service is back
    UNSAFE = "unsafe", EXIT_UNSAFE  # not every service is back: a human is needed


class ReleaseReport(Result):
    name: str
    outcome: ReleaseOutcome
    deployed: str
    checks: list[CheckLine] = Field(default_factory=list)  # service: check, all services
    migration: MigrationResult | None = None
    services: list[ServiceResult] = Field(default_factory=list)
    autodeploy: list[str] = Field(default_factory=list)
    seconds: float = 0.0
    api_requests: int = 0

    def error(self, default_advice: str = "") -> ReleaserError | None:
        if self.outcome is ReleaseOutcome.UNSAFE:
            return UnsafeState(self.summary, "A human is needed: see the report above")
        if not self.ok:
            return NegativeVerdict(self.summary, self.advice or "See the report above")
        return None

    def render_text(self) -> str:
        return self.render_markdown()  # people read the same table on the terminal

    def render_markdown(self) -> str:
        """The whole release for an incident channel or a PR: per service verdict, rollback."""
        return _release_markdown(self)


@dataclass
class ReleaseRun:
    name: str
    plan: ReleasePlan
    services: list[Service]
    plans: list[DeployPlan] = field(default_factory=list)
    results: list[ServiceResult] = field(default_factory=list)
    checks: list[CheckLine] = field(default_factory=list)  # every service's go-no-go, as one


def plan_release(
    client: RenderClient,
    config: Config,
    name: str,
    services: list[Service],
    options: DeployOptions,
    select: Callable[[Service], tuple[bool, str]] | None = None,
) -> tuple[ReleaseRun, ReleaseReport | None]:
    """Select and go-no-go every service; a report when we must stop before writing. Reads only."""
    run = ReleaseRun(name, config.releases[name], services)
    for svc in services:
        included, why = select(svc) if select else (True, "listed in the release")
        run.results.append(
            ServiceResult(service_id=svc.id, service_name=svc.name, included=included, why=why)
        )
    chosen = [s for s, r in zip(services, run.results, strict=True) if r.included]
    run.plans = [plan_deploy(client, config, svc, options) for svc in chosen]
    run.checks = checks = [
        CheckLine(
            name=f"{p.service.name or p.service.id}: {c.name}", status=c.status, detail=c.detail
        )
        for p in run.plans
        for c in p.checks
    ]
    refusals = [f"{p.service.name or p.service.id}: {p.refusal}" for p in run.plans if p.refusal]
    if not chosen:
        return run, _report(
            run, options, "nothing_to_do", "no service of the release changed", checks=checks
        )
    if refusals:
        return run, _report(
            run,
            options,
            "no_go",
            "NO-GO: " + "; ".join(refusals),
            advice="Nothing was changed. Fix what failed, then release again",
            checks=checks,
        )
    return run, None


def execute_release(
    client: RenderClient, run: ReleaseRun, options: DeployOptions, progress: Progress
) -> ReleaseReport:
    """Autodeploy off, migrate, deploy in order; on a failure roll back what went out."""
    started, before = timebase.monotonic(), client.request_count
    clock = ServerClock(client.server_now)
    autodeploy = _autodeploy_off(client, [p.service for p in run.plans], progress)
    notes = [f"turned autodeploy off on {s.name or s.id}" for s in autodeploy]
    migration = None
    if run.plan.migrate is not None:
        migration = _migrate(
            client, run.plan.migrate.service, run.plan.migrate.command, options.timeout, progress
        )
        if migration.status != "succeeded":
            notes += _autodeploy_back(client, autodeploy, progress)
            return _finish(
                run,
                options,
                "migration_failed",
                f"the migration job {migration.status}: nothing was deployed",
                started,
                client.request_count - before,
                migration,
                notes,
            )
    done: list[tuple[DeployPlan, DeployReport]] = []
    failed: DeployReport | None = None
    for plan in run.plans:
        progress(f"release {run.name}: deploying {plan.service.label}")
        report = execute_deploy(client, plan, clock, progress=progress)
        _result(run, plan.service).deploy = report
        if not report.ok:
            failed = report
            break
        done.append((plan, report))
    if failed is None:
        notes += _autodeploy_back(client, autodeploy, progress)
        return _finish(
            run,
            options,
            "healthy",
            f"{len(done)} service(s) released and healthy",
            started,
            before,
            migration,
            notes,
        )
    back = failed.exit_code == EXIT_NEGATIVE  # failed, but the previous version serves
    for plan, _report_done in reversed(done):
        rollback = _roll_back(client, plan, clock, progress)
        _result(run, plan.service).rollback = rollback
        back = back and rollback is not None and rollback.ok
    notes += [
        f"autodeploy left OFF on {s.name or s.id}; turn it back on with: "
        f"{enable_autodeploy_command(s)}"
        for s in autodeploy
    ]
    label = failed.service_name or failed.service_id
    if back:
        return _finish(
            run,
            options,
            "rolled_back",
            f"{label} failed; every service is back on its previous deploy",
            started,
            client.request_count - before,
            migration,
            notes,
        )
    return _finish(
        run,
        options,
        "unsafe",
        f"{label} failed and not every service is back: a human is needed",
        started,
        client.request_count - before,
        migration,
        notes,
    )


def _result(run: ReleaseRun, service: Service) -> ServiceResult:
    return next(r for r in run.results if r.service_id == service.id)


def _autodeploy_off(
    client: RenderClient, services: list[Service], progress: Progress
) -> list[Service]:
    turned: list[Service] = []
    for svc in services:
        if autodeploy_on(svc):
            disable_autodeploy(client, svc)
            progress(f"autodeploy off on {svc.label} for the release")
            turned.append(svc)
    return turned


def _autodeploy_back(
    client: RenderClient, services: list[Service], progress: Progress
) -> list[str]:
    for svc in services:
        client.update_service(svc.id, {"autoDeploy": "yes"})  # idempotent PATCH
        progress(f"autodeploy back on on {svc.label}")
    return [f"turned autodeploy back on on {s.name or s.id}" for s in services]


def _migrate(
    client: RenderClient, service: str, command: str, timeout: float, progress: Progress
) -> MigrationResult:
    """Run the one-off job, print its log lines as they come, and wait for its exit status."""
    svc = client.resolve_service(service)
    started = timebase.monotonic()
    job = client.create_job(svc.id, command)
    progress(f"migration job {job.id} on {svc.label}: {command}")
    owner = client.owner_id_for(svc)
    seen: set[str] = set()
    status = job.status or "pending"
    while True:
        _job_logs(client, owner, job, seen, progress)
        if status in ("succeeded", "failed", "canceled"):
            break
        if timebase.monotonic() - started > timeout:
            status = "timed out"
            break
        timebase.sleep(JOB_POLL_SECONDS)
        job = client.get_job(svc.id, job.id)
        status = job.status or status
    progress(f"migration job {job.id}: {status}")
    return MigrationResult(
        service_id=svc.id,
        command=command,
        job_id=job.id,
        status=status,
        seconds=round(timebase.monotonic() - started, 1),
    )


def _job_logs(
    client: RenderClient, owner: str, job: Job, seen: set[str], progress: Progress
) -> None:
    """Print the job's log lines not printed yet; logs are evidence, not a reason to fail."""
    if job.created_at is None:
        return
    try:
        for entry in client.iter_logs(owner, job.id, start_time=job.created_at, max_entries=500):
            if entry.id not in seen:
                seen.add(entry.id)
                progress(f"  [job] {entry.message}")
    except ReleaserError as exc:
        progress(f"migration job logs unavailable: {exc.one_line()}")


def _roll_back(
    client: RenderClient, plan: DeployPlan, clock: ServerClock, progress: Progress
) -> RollbackReport | None:
    if plan.previous is None:
        return None
    progress(f"rolling back {plan.service.label} to {plan.previous.id}")
    try:
        back = plan_rollback(
            client, plan.service, plan.previous.id, keep_autodeploy=True, rules=plan.rules
        )
        return execute_rollback(
            client, back, clock, health_path=plan.rules.health_path, progress=progress
        )
    except ReleaserError as exc:
        progress(f"rollback of {plan.service.label} failed: {exc.one_line()}")
        return None


def _report(
    run: ReleaseRun,
    options: DeployOptions,
    outcome: str,
    summary: str,
    advice: str = "",
    checks: list[CheckLine] | None = None,
) -> ReleaseReport:
    return ReleaseReport(
        name=run.name,
        outcome=ReleaseOutcome(outcome),
        summary=summary,
        advice=advice,
        deployed=options.what,
        checks=checks or [],
        services=run.results,
    )


def _finish(
    run: ReleaseRun,
    options: DeployOptions,
    outcome: str,
    summary: str,
    started: float,
    requests: int,
    migration: MigrationResult | None,
    notes: list[str],
) -> ReleaseReport:
    report = _report(run, options, outcome, summary)
    report.migration, report.autodeploy = migration, notes
    report.seconds = round(timebase.monotonic() - started, 1)
    report.api_requests = requests
    return report


def _release_markdown(report: ReleaseReport) -> str:
    lines = [
        f"# Release report: {report.name}",
        "",
        f"**{report.outcome.value.upper()}**: {report.summary}",
        "",
        f"Deployed: {report.deployed}; took {report.seconds}s; {report.api_requests} API requests.",
        "",
    ]
    if report.migration:
        m = report.migration
        lines += [
            f"Migration: `{m.command}` on {m.service_id}: job {m.job_id} {m.status} ({m.seconds}s)",
            "",
        ]
    lines += ["| service | included | deploy | verdict | rollback |", "|---|---|---|---|---|"]
    for r in report.services:
        d, b = r.deploy, r.rollback
        lines.append(
            f"| {r.service_name or r.service_id} | {r.why} | {d.deploy_id if d else '-'} | "
            f"{d.outcome if d else '-'} | {(b.outcome + ' ' + b.target_deploy_id) if b else '-'} |"
        )
    if report.checks:
        lines += ["", "| check | status | detail |", "|---|---|---|"]
        lines += [f"| {c.name} | {c.status} | {c.detail} |" for c in report.checks]
    if report.autodeploy:
        lines += [""] + [f"- {n}" for n in report.autodeploy]
    return "\n".join(lines) + "\n"
