"""Rolling a service back to a previous deploy.

Selecting the target is pure (``select_target``); planning only reads (``plan_rollback``,
the whole of ``--dry-run``); writing is ``execute_rollback``. Render's rollback endpoint
reuses the target's build, so it is fast, but it leaves autodeploy on: the next push would
bring the bad code back, so we switch it off unless told not to, and say so.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from releaser.config import ServiceRules
from releaser.errors import NotFoundError, UsageError, WriteOutcomeUnknown
from releaser.release.health import DEFAULT_PROBE_TIMEOUT, HealthProber, health_check
from releaser.release.report import RollbackOutcome, RollbackReport
from releaser.release.watch import (
    HEALTHY,
    Observer,
    RequestBudget,
    ServerClock,
    WatchResult,
    WatchRules,
    log_owner,
    watch,
)
from releaser.release.writes import create_deploy_once
from releaser.render.client import DEPLOY_ID, RenderClient
from releaser.render.models import Deploy, Service

# Render keeps between 2 and 30 builds depending on the plan; only the floor is certain.
MIN_BUILD_RETENTION = 2
COMMIT_PREFIX = re.compile(r"^[0-9a-f]{7,40}$")
HISTORY_LIMIT = 100


@dataclass(frozen=True)
class RollbackTarget:
    deploy: Deploy
    live: Deploy | None
    warnings: tuple[str, ...] = ()


def _newest_first(deploys: Sequence[Deploy]) -> list[Deploy]:
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted(deploys, key=lambda d: d.created_at or oldest, reverse=True)


def select_target(
    deploys: Sequence[Deploy], spec: str, *, retention: int = MIN_BUILD_RETENTION
) -> RollbackTarget:
    """The deploy ``spec`` names (previous, a deploy id, a commit), checked; raises if unfit.

    ``previous`` is the newest successful (live or deactivated) deploy older than the live
    one, skipping deploys of the same version as live and deploys that were themselves
    rolled back away from: going "back" to the release you just escaped is not back.
    """
    history = _newest_first(deploys)
    live = next((d for d in history if d.status == "live"), None)
    if spec == "previous":
        target = _previous(history, live)
    elif DEPLOY_ID.match(spec):
        target = _by_id(history, spec)
    elif COMMIT_PREFIX.match(spec.lower()):
        target = _by_commit(history, spec.lower())
    else:
        raise UsageError(
            f"--to {spec!r} is neither 'previous', a deploy id (dep-…) nor a commit sha",
            "Pass --to previous, a dep-… id from 'releaser history', or 7+ hex digits of a commit",
        )
    if live is not None and target.id == live.id:
        raise UsageError(
            f"deploy {target.id} is the live deploy already", "Nothing to roll back to"
        )
    if not target.succeeded:
        raise UsageError(
            f"deploy {target.id} is {target.status}, it never went live",
            "Roll back only to a deploy that was live: see 'releaser history'",
        )
    return RollbackTarget(target, live, tuple(_warnings(history, target, live, retention)))


def _previous(history: list[Deploy], live: Deploy | None) -> Deploy:
    if live is None:
        raise NotFoundError(
            "the service has no live deploy, so there is no 'previous' one",
            "Name the deploy: --to dep-… (see 'releaser history')",
        )
    older = [
        d for d in history if live.created_at and d.created_at and d.created_at < live.created_at
    ]
    rolled_back_from = {
        older_deploy.id
        for newer, older_deploy in zip(history, history[1:], strict=False)
        if newer.is_rollback
    }
    for deploy in older:
        if not deploy.succeeded or deploy.id in rolled_back_from:
            continue
        # The same code as live (same commit, or same image digest: a tag is not enough).
        if deploy.identity is not None and deploy.identity == live.identity:
            continue
        return deploy
    raise NotFoundError(
        f"no successful deploy before the live one ({live.id}) to roll back to",
        "There is no known-good older version; fix forward with 'releaser deploy'",
    )


def _by_id(history: list[Deploy], deploy_id: str) -> Deploy:
    for deploy in history:
        if deploy.id == deploy_id:
            return deploy
    raise NotFoundError(
        f"deploy {deploy_id} is not among the service's last {HISTORY_LIMIT} deploys",
        "Check the id with 'releaser history SERVICE'",
    )


def _by_commit(history: list[Deploy], prefix: str) -> Deploy:
    of_commit = [d for d in history if d.commit and (d.commit.id or "").startswith(prefix)]
    if not of_commit:
        raise NotFoundError(
            f"no deploy of commit {prefix} in the service's history",
            "Check the sha with 'releaser history SERVICE', or deploy it: "
            "releaser deploy SERVICE --commit SHA",
        )
    good = [d for d in of_commit if d.succeeded]
    return good[0] if good else of_commit[0]


def _warnings(
    history: list[Deploy], target: Deploy, live: Deploy | None, retention: int
) -> list[str]:
    warnings = []
    builds_since = [
        d
        for d in history
        if target.created_at
        and d.created_at
        and d.created_at > target.created_at
        and not d.is_rollback
    ]
    if len(builds_since) >= retention:
        sha = target.commit.id if target.commit and target.commit.id else None
        fallback = f"releaser deploy SERVICE --commit {sha}" if sha else "deploy that version again"
        warnings.append(
            f"{len(builds_since)} builds since {target.id}; Render likely keeps about "
            f"{retention} on this plan, so its build may be gone; if the rollback is refused, "
            f"{fallback}"
        )
    if live is not None and live.is_rollback:
        warnings.append(f"the live deploy {live.id} is itself a rollback")
    return warnings


# --- the plan: everything a human should know before a write ------------------------------


@dataclass
class RollbackPlan:
    service: Service
    target: Deploy
    live: Deploy | None
    disable_autodeploy: bool
    warnings: list[str] = field(default_factory=list)
    config_changes: list[Deploy] = field(default_factory=list)  # service_updated since target
    not_undone: list[str] = field(default_factory=list)
    undo_command: str | None = None
    autodeploy_command: str | None = None
    secrets: list[str] = field(default_factory=list, repr=False)  # redacted from log lines
    startup_error_patterns: tuple[str, ...] = ()  # releaser.toml: judged as deploy judges them


def service_arg(service: Service) -> str:
    """SERVICE in a command printed for the user: the id unless the name is known unique."""
    return shlex.quote(service.cli_arg)


def autodeploy_on(service: Service) -> bool:
    """Render's default is on: only an explicit "no" (or trigger "off") is off."""
    return (service.auto_deploy or "yes") != "no" and service.auto_deploy_trigger != "off"


def autodeploy_setting(service: Service) -> str:
    """The exact setting, as Render shows it, for the record before it is changed."""
    setting = f'autoDeploy "{service.auto_deploy or "yes"}"'
    if service.auto_deploy_trigger:
        setting += f', autoDeployTrigger "{service.auto_deploy_trigger}"'
    return setting


def plan_rollback(
    client: RenderClient,
    service: Service,
    spec: str,
    *,
    keep_autodeploy: bool = False,
    rules: ServiceRules | None = None,
) -> RollbackPlan:
    """Read the history and decide: no writes, so this is all ``--dry-run`` does."""
    from releaser.release.envchange import service_secrets
    from releaser.release.gonogo import retention_for

    history = client.list_deploys(service.id, limit=HISTORY_LIMIT)
    chosen = select_target(history, spec, retention=retention_for(service.plan))
    target, live = chosen.deploy, chosen.live
    newer = [
        d
        for d in history
        if target.created_at and d.created_at and d.created_at > target.created_at
    ]
    config_changes = [d for d in newer if d.trigger == "service_updated"]
    plan = RollbackPlan(
        service=service,
        target=target,
        live=live,
        disable_autodeploy=autodeploy_on(service) and not keep_autodeploy,
        warnings=list(chosen.warnings),
        config_changes=config_changes,
        not_undone=not_undone_notes(config_changes),
        undo_command=(
            f"releaser rollback {service_arg(service)} --to {live.id}" if live is not None else None
        ),
        secrets=service_secrets(client, service, rules or ServiceRules()),
        startup_error_patterns=tuple(rules.startup_error_patterns) if rules else (),
    )
    if plan.disable_autodeploy:
        plan.autodeploy_command = enable_autodeploy_command(service)
    elif autodeploy_on(service):
        plan.warnings.append(
            "autodeploy stays on (--keep-autodeploy): the next push will deploy again"
        )
    return plan


def not_undone_notes(config_changes: Sequence[Deploy]) -> list[str]:
    """What a rollback leaves as it is: the code goes back, the world around it does not."""
    if config_changes:
        when = ", ".join(
            f"{d.id} ({d.created_at:%Y-%m-%d %H:%M})" if d.created_at else d.id
            for d in config_changes
        )
        env_note = (
            f"environment variable changes: {len(config_changes)} config deploy(s) since the "
            f"target ({when}); Render's API does not say which keys changed, so compare with "
            "'releaser env' before trusting the old code with the new values"
        )
    else:
        env_note = (
            "environment variable changes: none seen as config deploys since the target, but "
            "values changed without a deploy are not visible to releaser"
        )
    return [
        "database migrations: the schema stays as the newer code left it; the old code must "
        "cope, or restore a snapshot ('releaser db restore') deliberately",
        env_note,
        "persistent disks and external state (queues, buckets, caches) keep what was written",
    ]


def enable_autodeploy_command(service: Service) -> str:
    """The PATCH that puts back the setting ``service`` had (its autoDeployTrigger too:
    "yes" alone would turn "checksPass" into "commit")."""
    body = '{"autoDeploy": "yes"'
    if service.auto_deploy_trigger in ("commit", "checksPass"):
        body += f', "autoDeployTrigger": "{service.auto_deploy_trigger}"'
    body += "}"
    return (
        'curl -X PATCH -H "Authorization: Bearer $RENDER_API_KEY" '
        f"-H 'Content-Type: application/json' -d '{body}' "
        f'"${{RENDER_API_URL:-https://api.render.com/v1}}/services/{service.id}"'
        " (or Settings > Auto-Deploy in the dashboard)"
    )


# --- writes ---------------------------------------------------------------------------------


def disable_autodeploy(client: RenderClient, service: Service) -> None:
    """PATCH autoDeploy "no"; the PATCH is idempotent, so an unknown outcome is retried once."""
    try:
        client.update_service(service.id, {"autoDeploy": "no"})
    except WriteOutcomeUnknown:
        if client.get_service(service.id).auto_deploy != "no":
            client.update_service(service.id, {"autoDeploy": "no"})


def start_rollback(
    client: RenderClient,
    service: Service,
    target_id: str,
    *,
    clock: ServerClock,
) -> Deploy:
    """POST the rollback once; after an unknown outcome, look for it and never post again."""
    return create_deploy_once(
        client,
        service.id,
        lambda: client.rollback(service.id, target_id),
        lambda d: d.is_rollback,
        clock=clock,
        what=f"the rollback to {target_id}",
        check=f"'releaser history {service_arg(service)}'",
    )


def watch_rollback(
    client: RenderClient,
    service: Service,
    rollback: Deploy,
    clock: ServerClock,
    *,
    started: float,
    prober: HealthProber | None,
    secrets: Sequence[str],
    startup_error_patterns: Sequence[str],
    progress: Callable[[str], None],
    owner: str | None = None,
    budget: RequestBudget | None = None,
) -> WatchResult:
    """Watch a rollback to its verdict: one set of rules for ``releaser rollback`` and for the
    automatic rollback of a deploy gone bad (which shares its run's request budget)."""
    observer = Observer(client, service.id, owner, rollback, started, prober, secrets)
    rules = WatchRules(
        timeout=ROLLBACK_TIMEOUT,
        soak=ROLLBACK_SOAK,
        probing=prober is not None,
        extra_patterns=tuple(startup_error_patterns),
    )
    return watch(observer, rules, clock, started=started, progress=progress, budget=budget)


# --- the manual rollback, end to end ------------------------------------------------------

ROLLBACK_SOAK = 15.0  # server seconds of good health that confirm a rollback worked
ROLLBACK_TIMEOUT = 600.0  # a rollback reuses a build: ten minutes is already very slow


def _autodeploy_words(plan: RollbackPlan, done: bool) -> str:
    if plan.disable_autodeploy:
        was = autodeploy_setting(plan.service)
        return (
            f"turned off (was {was})"
            if done
            else f"will be turned off (now {was}; the next push would redeploy)"
        )
    if not autodeploy_on(plan.service):
        return "already off"
    return "kept on (--keep-autodeploy): the next push deploys again"


def rollback_report(
    plan: RollbackPlan, outcome: str = "planned", **fields: object
) -> RollbackReport:
    """The report of a plan (dry run) or, with fields filled in, of an executed rollback."""
    live = plan.live
    summary = (
        f"would roll {plan.service.label} back to {plan.target.id} ({plan.target.version})"
        if outcome == "planned"
        else str(fields.pop("summary", ""))
    )
    report = RollbackReport(
        service_id=plan.service.id,
        service_name=plan.service.name,
        outcome=RollbackOutcome(outcome),
        summary=summary,
        target_deploy_id=plan.target.id,
        target_version=plan.target.version,
        live_deploy_id=live.id if live else None,
        live_version=live.version if live else None,
        autodeploy=_autodeploy_words(plan, outcome != "planned"),
        autodeploy_command=plan.autodeploy_command,
        warnings=list(plan.warnings),
        not_undone=list(plan.not_undone),
        undo_command=plan.undo_command,
    )
    return report.model_copy(update=fields)


def execute_rollback(
    client: RenderClient,
    plan: RollbackPlan,
    clock: ServerClock,
    *,
    wait: bool = True,
    health_path: str | None = None,
    probe_timeout: float = DEFAULT_PROBE_TIMEOUT,
    progress: Callable[[str], None] = lambda _: None,
) -> RollbackReport:
    """Autodeploy off (unless kept), one rollback POST, then wait for live and healthy."""
    service = plan.service
    before = client.request_count
    if plan.disable_autodeploy:
        disable_autodeploy(client, service)
        progress(f"autodeploy turned off for {service.label}")
    deploy = start_rollback(client, service, plan.target.id, clock=clock)
    progress(f"rollback {deploy.id} started: back to {plan.target.id} ({plan.target.version})")
    if not wait:
        return rollback_report(
            plan,
            "started",
            summary=f"rollback {deploy.id} started (not waiting: --no-wait)",
            rollback_deploy_id=deploy.id,
            state_now=f"check with 'releaser status {service_arg(service)}'",
            api_requests=client.request_count - before,
        )
    check = health_check(service, health_path)
    prober = (
        HealthProber(check.url, strict=check.strict, timeout=probe_timeout) if check.url else None
    )
    try:
        state = watch_rollback(
            client,
            service,
            deploy,
            clock,
            started=clock.now(),
            owner=log_owner(client, service),
            prober=prober,
            secrets=plan.secrets,
            startup_error_patterns=plan.startup_error_patterns,
            progress=progress,
        ).state
    finally:
        if prober is not None:
            prober.close()
    healthy = state.verdict == HEALTHY
    return rollback_report(
        plan,
        "healthy" if healthy else "failed",
        summary=(
            f"{service.label} is back on {plan.target.version}, live and healthy"
            if healthy
            else f"the rollback {deploy.id} did not end healthy: {state.reason}"
        ),
        rollback_deploy_id=deploy.id,
        state_now=f"live: {deploy.id} ({state.last_probe or 'not probed: ' + check.judged})"
        if healthy
        else state.reason,
        api_requests=client.request_count - before,
        health_probes=prober.count if prober else 0,
    )
