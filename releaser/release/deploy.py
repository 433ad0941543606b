"""``releaser deploy``: check, remember the way back, trigger, watch, and undo if it goes bad.

``plan_deploy`` only reads (it is all ``--dry-run`` does); ``execute_deploy`` writes: one
deploy POST (never a blind second one), and on a bad verdict one cancel or one rollback.
Every path ends in a DeployReport whose outcome carries the exit code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from releaser.config import Config, ServiceRules
from releaser.errors import (
    ApiError,
    NotFoundError,
    ReleaserError,
    UsageError,
    WatchAbandoned,
)
from releaser.release.classify import EXITED
from releaser.release.envchange import ServiceEnv, read_service_env, secret_values
from releaser.release.health import (
    DEFAULT_PROBE_TIMEOUT,
    HealthCheck,
    HealthProber,
    confirm_healthy,
    health_check,
)
from releaser.release.inspect import live_deploy
from releaser.release.report import (
    CheckLine,
    DeployOutcome,
    DeployReport,
    PhaseTiming,
    RollbackSummary,
)
from releaser.release.rollback import (
    autodeploy_on,
    autodeploy_setting,
    disable_autodeploy,
    enable_autodeploy_command,
    not_undone_notes,
    service_arg,
    start_rollback,
    watch_rollback,
)
from releaser.release.watch import (
    CANCELED,
    CRASH_LOOP,
    FAILED,
    HEALTHY,
    SUPERSEDED,
    TIMED_OUT,
    TURNED_BAD,
    WATCH_REQUESTS_PER_MINUTE,
    Observer,
    RequestBudget,
    ServerClock,
    WatchResult,
    WatchRules,
    WatchState,
    log_owner,
    watch,
)
from releaser.release.writes import (
    cancel_once,
    create_deploy_once,
    has_ended,
    look_after_cancel,
)
from releaser.render.client import RenderClient
from releaser.render.models import Deploy, Service

Progress = Callable[[str], None]


@dataclass(frozen=True)
class DeployOptions:
    commit: str | None = None
    image: str | None = None
    deploy_only: bool = False
    clear_cache: bool = False
    timeout: float = 1200.0
    soak: float = 60.0
    rollback: bool = True
    skip_checks: bool = False
    probe_timeout: float = DEFAULT_PROBE_TIMEOUT
    attached: bool = False  # releaser watch: re-attached to a deploy it did not start

    @property
    def what(self) -> str:
        if self.attached:
            return "a running deploy (re-attached with 'releaser watch')"
        if self.image:
            return f"image {self.image}"
        if self.commit:
            return f"commit {self.commit[:12]}"
        if self.deploy_only:
            return "the last build again (deploy only)"
        return "the head of the branch"


@dataclass
class DeployPlan:
    service: Service
    rules: ServiceRules
    options: DeployOptions
    previous: Deploy | None  # the live deploy now: the rollback target
    health: HealthCheck  # what is probed (if anything) and how health is judged
    known_ids: frozenset[str]  # deploys that existed before ours: never mistaken for it
    secrets: list[str] = field(default_factory=list, repr=False)  # redacted from log lines
    checks: list[CheckLine] = field(default_factory=list)
    refusal: str | None = None  # why we must not deploy (NO-GO, a deploy in progress, ...)
    refusal_advice: str = ""
    warnings: list[str] = field(default_factory=list)


def _new_plan(
    service: Service,
    rules: ServiceRules,
    options: DeployOptions,
    previous: Deploy | None,
    recent: list[Deploy],
    env: ServiceEnv,
) -> DeployPlan:
    return DeployPlan(
        service=service,
        rules=rules,
        options=options,
        previous=previous,
        health=health_check(service, rules.health_path),
        known_ids=frozenset(d.id for d in recent),
        secrets=secret_values(env, rules),
    )


def plan_deploy(
    client: RenderClient, config: Config, service: Service, options: DeployOptions
) -> DeployPlan:
    """Everything decided before the first write. Reads only."""
    if sum(bool(x) for x in (options.commit, options.image, options.deploy_only)) > 1:
        raise UsageError("--commit, --image and --deploy-only exclude each other", "Give one")
    from releaser.release.gonogo import DEPLOY_HISTORY, run_go_no_go

    rules = config.rules_for(service.id, service.name)
    # One read of the history and the env serves the plan and go-no-go alike.
    recent = client.list_deploys(service.id, limit=DEPLOY_HISTORY)
    env = read_service_env(client, service)
    live = next((d for d in recent if d.status == "live"), None) or live_deploy(client, service.id)
    plan = _new_plan(service, rules, options, live, recent, env)
    if not options.skip_checks:
        verdict = run_go_no_go(
            client,
            service,
            config,
            commit=options.commit,
            image=options.image,
            deploys=recent,
            env=env,
        )
        plan.checks = [
            CheckLine(name=c.name, status=c.status, detail=c.detail) for c in verdict.checks
        ]
        if verdict.verdict != "GO":
            failed = [c.name for c in verdict.checks if c.status == "FAIL"]
            plan.refusal = f"go-no-go says NO-GO ({', '.join(failed) or 'see the checks'})"
            plan.refusal_advice = (
                "Nothing was deployed. Fix what failed "
                f"('releaser go-no-go {service_arg(service)}'), then deploy again"
            )
            return plan
    busy = next((d for d in recent if d.in_progress), None)
    if busy is not None:
        plan.refusal = f"deploy {busy.id} is already {busy.status}"
        arg = service_arg(service)
        plan.refusal_advice = (
            f"Nothing was deployed. Watch it finish ('releaser watch {arg} {busy.id}'), "
            f"or cancel it first ('releaser cancel {arg} {busy.id}')"
        )
    elif live is None and options.rollback and rules.require_rollback_target:
        plan.refusal = "the service has no live deploy, so there would be nothing to roll back to"
        plan.refusal_advice = (
            "Nothing was deployed. For a first release set require_rollback_target = false "
            "for this service in releaser.toml, or pass --no-rollback"
        )
    if service.has_disk:
        plan.warnings.append(
            "the service has a disk: Render stops the old instance before starting the new "
            "one (no zero-downtime deploy), so it is down while the new version starts"
        )
    if live is not None and live.is_rollback:
        plan.warnings.append(f"the live deploy {live.id} is a rollback; it is the way back now")
    return plan


def plan_report(plan: DeployPlan, outcome: str) -> DeployReport:
    """The report of a run that stopped before writing: a dry run or a refusal."""
    options = plan.options
    previous = plan.previous
    if outcome == "dry_run":
        summary = (
            f"would deploy {options.what} to {plan.service.label}; rollback target "
            + (f"{previous.id} ({previous.version})" if previous else "none")
            + f"; watch up to {options.timeout:.0f}s, soak {options.soak:.0f}s"
        )
        if plan.refusal:
            summary += f"; but it would be refused: {plan.refusal}"
    else:
        summary = plan.refusal or "refused"
    return DeployReport(
        service_id=plan.service.id,
        service_name=plan.service.name,
        outcome=DeployOutcome(outcome),
        refused=outcome == "dry_run" and bool(plan.refusal),
        summary=summary,
        advice=plan.refusal_advice,
        deployed=options.what,
        previous_deploy_id=previous.id if previous else None,
        previous_version=previous.version if previous else None,
        checks=plan.checks,
        warnings=plan.warnings,
        health_url=plan.health.url,
        health_judged=plan.health.judged,
        state_now=f"unchanged: live {previous.id} ({previous.version})"
        if previous
        else "unchanged",
        actions=["nothing written (dry run)"] if outcome == "dry_run" else ["nothing deployed"],
    )


# --- triggering ---------------------------------------------------------------------------


def _is_ours(options: DeployOptions) -> Callable[[Deploy], bool]:
    def matches(deploy: Deploy) -> bool:
        if deploy.is_rollback or deploy.trigger in ("new_commit", "service_updated"):
            return False
        if options.commit and deploy.commit and deploy.commit.id:
            return deploy.commit.id.startswith(options.commit) or options.commit.startswith(
                deploy.commit.id
            )
        return True

    return matches


def trigger_deploy(
    client: RenderClient, plan: DeployPlan, clock: ServerClock, progress: Progress
) -> Deploy:
    """One deploy POST, never two: a 202 or an unknown outcome is answered by looking."""
    options = plan.options
    service_id = plan.service.id

    def post() -> Deploy | None:
        return client.create_deploy(
            service_id,
            commit_id=options.commit,
            image_url=options.image,
            clear_cache=options.clear_cache,
            deploy_only=options.deploy_only,
        )

    return create_deploy_once(
        client,
        service_id,
        post,
        _is_ours(options),
        clock=clock,
        what="the deploy request",
        check=f"'releaser history {service_arg(plan.service)}'",
        known=plan.known_ids,
        looking=lambda: progress(
            "the deploy request got no clear answer; looking for the deploy (not resending)"
        ),
    )


# --- the run --------------------------------------------------------------------------------


@dataclass
class _Run:
    """One execute_deploy: what it works with, and what it learns as it goes for the report."""

    client: RenderClient
    plan: DeployPlan
    clock: ServerClock
    progress: Progress
    prober: HealthProber | None
    owner: str | None  # the workspace whose logs are watched; None: no logs
    started: float
    requests_before: int
    actions: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rollback: RollbackSummary | None = None
    timings: list[PhaseTiming] = field(default_factory=list)
    state_now: str = ""
    watching: Deploy | None = None  # the deploy being watched now (ours, then the rollback)
    budget: RequestBudget | None = None  # requests per 60 s, counted from the first write

    def watch(
        self, deploy: Deploy, started: float, *, timeout: float, soak: float
    ) -> tuple[Observer, WatchResult]:
        """Watch one deploy of this run (ours, or the rollback) until a verdict."""
        plan = self.plan
        observer = Observer(
            self.client, plan.service.id, self.owner, deploy, started, self.prober, plan.secrets
        )
        rules = WatchRules(
            timeout=timeout,
            soak=soak,
            probing=self.prober is not None,
            extra_patterns=tuple(plan.rules.startup_error_patterns),
        )
        # One budget for the whole run: our deploy's watch, then a rollback's, and the POSTs.
        if self.budget is None:
            self.budget = RequestBudget(
                WATCH_REQUESTS_PER_MINUTE, lambda: self.client.request_count
            )
        result = watch(
            observer, rules, self.clock, started=started, progress=self.progress, budget=self.budget
        )
        return observer, result


def execute_deploy(
    client: RenderClient,
    plan: DeployPlan,
    clock: ServerClock,
    *,
    progress: Progress,
    attach: Deploy | None = None,
) -> DeployReport:
    """Trigger, watch, act on the verdict; the report says what happened and the exit code.

    With ``attach`` (``releaser watch``), no deploy is triggered: that running deploy is
    watched and judged the same way. Ctrl-C while a deploy runs raises WatchAbandoned,
    which names the deploy (still running on Render) and the command that re-attaches.
    """
    service, options = plan.service, plan.options
    run = _Run(
        client,
        plan,
        clock,
        progress,
        prober=(
            HealthProber(plan.health.url, strict=plan.health.strict, timeout=options.probe_timeout)
            if plan.health.url
            else None
        ),
        owner=log_owner(client, service),
        started=clock.now(),
        requests_before=client.request_count,
        warnings=list(plan.warnings),
    )
    if run.owner is None:
        run.warnings.append("no workspace id (RENDER_OWNER_ID): logs were not watched")
    run.budget = RequestBudget(WATCH_REQUESTS_PER_MINUTE, lambda: client.request_count)
    try:
        if attach is None:
            deploy = trigger_deploy(client, plan, clock, progress)
            progress(f"deploy {deploy.id} started: {options.what} on {service.label}")
        else:
            deploy = attach
            progress(f"watching deploy {deploy.id} ({deploy.status}) on {service.label}")
        run.watching = deploy
        observer, result = run.watch(
            deploy, run.started, timeout=options.timeout, soak=options.soak
        )
        state = result.state
        run.timings = [PhaseTiming(phase=p, seconds=s) for p, s in state.phase_timings()]
        if state.verdict != HEALTHY and state.failure_reason is None:
            state = _with_render_reason(observer, state)
        outcome = _act(run, deploy, result, state)
    except KeyboardInterrupt:
        raise _abandoned(run) from None
    finally:
        if run.prober is not None:
            run.prober.close()
    return _report(run, deploy, state, outcome)


def _abandoned(run: _Run) -> WatchAbandoned:
    service = service_arg(run.plan.service)
    watching = run.watching
    if watching is None:
        return WatchAbandoned(
            "interrupted while asking Render for the deploy; it may have started",
            f"Check 'releaser status {service}' before deploying again; "
            f"'releaser watch {service}' re-attaches to a running deploy",
        )
    what = "rollback" if watching.is_rollback else "deploy"
    if run.actions:  # interrupted while acting (a cancel, a rollback): its effect is unknown
        state = f"may still be running: releaser was interrupted while acting ({run.actions[-1]})"
    else:
        state = "is still running on Render and nobody is watching it (releaser did not cancel it)"
    return WatchAbandoned(
        f"interrupted: {what} {watching.id} on {run.plan.service.label} {state}",
        f"Re-attach with 'releaser watch {service} {watching.id}"
        + (" --rollback-on-failure" if run.plan.options.rollback and what == "deploy" else "")
        + f"', or stop it with 'releaser cancel {service} {watching.id}'",
    )


def attach_plan(
    client: RenderClient,
    config: Config,
    service: Service,
    deploy_id: str | None,
    options: DeployOptions,
) -> tuple[DeployPlan, Deploy]:
    """For ``releaser watch``: the deploy to re-attach to and what a deploy would have known.

    The deploy is ``deploy_id`` or the service's newest in progress; the way back is the
    newest successful deploy before it. Reads only.
    """
    from releaser.release.gonogo import DEPLOY_HISTORY

    rules = config.rules_for(service.id, service.name)
    recent = client.list_deploys(service.id, limit=DEPLOY_HISTORY)
    if deploy_id is not None:
        deploy = next((d for d in recent if d.id == deploy_id), None)
        deploy = deploy or client.get_deploy(service.id, deploy_id)
    else:
        running = [d for d in recent if d.in_progress]
        if not running:
            raise NotFoundError(
                f"no deploy is in progress on {service.label}",
                f"Name one: 'releaser watch {service_arg(service)} dep-…' "
                f"(see 'releaser history {service_arg(service)}')",
            )
        deploy = running[0]
    before = [
        d
        for d in recent
        if d.id != deploy.id
        and d.succeeded
        and d.created_at is not None
        and deploy.created_at is not None
        and d.created_at < deploy.created_at
    ]
    previous = next((d for d in before if d.status == "live"), None) or (
        before[0] if before else None
    )
    if deploy.is_rollback and options.rollback:
        # A rollback is never rolled back in turn: that would go "back" to what it escaped.
        options = replace(options, rollback=False)
        warning = "watching a rollback: it is never rolled back itself (--rollback-on-failure)"
    elif not options.rollback:
        warning = "no automatic rollback (re-attached; pass --rollback-on-failure to roll back)"
    else:
        warning = ""
    plan = _new_plan(service, rules, options, previous, recent, read_service_env(client, service))
    if warning:
        plan.warnings.append(warning)
    return plan, deploy


def _with_render_reason(observer: Observer, state: WatchState) -> WatchState:
    """Render's structured reason (nonZeroExit, oomKilled...) for the report, if it has one.

    Any failure to read it (events answering 404 on some plans) only leaves it out: the
    verdict is already reached and must still be acted upon and reported.
    """
    try:
        reason = observer.failure_reason()
    except ReleaserError:
        return state
    if reason is None:
        return state
    return replace(state, failure_reason=reason)


def _act(run: _Run, deploy: Deploy, result: WatchResult, state: WatchState) -> str:
    verdict = state.verdict
    if verdict == HEALTHY:
        version = (result.deploy or deploy).version
        run.state_now = f"live: {deploy.id} ({version}), {state.last_probe or 'no probe'}"
        return "healthy"
    if verdict in (CRASH_LOOP, TIMED_OUT):
        run.progress(f"{state.reason}: canceling {deploy.id} ({_serving_words(run.plan.service)})")
        run.actions.append(f"canceled {deploy.id} ({state.reason})")
        _cancel(run, deploy.id)
    elif verdict in (FAILED, CANCELED):
        run.actions.append(f"no action needed: {state.reason}; Render keeps the previous version")
    elif verdict == SUPERSEDED:
        run.actions.append(
            f"stopped watching: {state.reason}; releaser did not touch it (it is not ours)"
        )
        run.state_now = _live_now(run)
        return "not_back"
    elif verdict == TURNED_BAD:
        return _roll_back(run, deploy, state)
    back, run.state_now = _confirm_back(run)
    if not back:
        run.actions.append("the previous version is NOT confirmed live and healthy")
    return ("canceled" if verdict in (CRASH_LOOP, TIMED_OUT) else "failed") if back else "not_back"


def _cancel(run: _Run, deploy_id: str) -> None:
    """Cancel once; after any answer but a yes, read the status back rather than trusting it.

    After an answer that leaves the outcome unknown (timeout, dropped connection) the
    cancel may still take effect: look for a while, never send it again.
    """
    client, service_id = run.client, run.plan.service.id
    problem = cancel_once(client, service_id, deploy_id)
    if problem is None:
        return
    now = look_after_cancel(
        lambda: _deploy_of(client, service_id, deploy_id), problem, clock=run.clock
    )
    if now is not None and not has_ended(now.status):
        run.warnings.append(
            f"cancel of {deploy_id} failed: {problem.message} (releaser did not send it twice;"
            f" it is {now.status})"
        )


def _deploy_of(client: RenderClient, service_id: str, deploy_id: str) -> Deploy | None:
    try:
        return client.get_deploy(service_id, deploy_id)
    except ReleaserError:
        return None


def _confirm_back(run: _Run) -> tuple[bool, str]:
    """Is the previous version live, and does it answer? (True, description) if so."""
    previous = run.plan.previous
    live = live_deploy(run.client, run.plan.service.id)
    if live is None:
        return False, "no deploy is live"
    described = f"live: {live.id} ({live.version})"
    if previous is None:
        return False, described + "; there was no previous version to go back to"
    if live.id != previous.id and live.version != previous.version:
        return False, described + f", not the previous {previous.id} ({previous.version})"
    if run.prober is None:
        return True, described + f" (not probed: judged by {run.plan.health.judged})"
    probe = confirm_healthy(run.prober, run.clock.sleep)
    return (
        probe.healthy,
        described + f", health {'ok' if probe.healthy else 'FAILING'} ({probe.detail})",
    )


def _live_now(run: _Run) -> str:
    try:
        live = live_deploy(run.client, run.plan.service.id)
    except ReleaserError:
        return "unknown"
    return f"live: {live.id} ({live.version})" if live else "no deploy is live"


def _roll_back(run: _Run, deploy: Deploy, state: WatchState) -> str:
    """The one automatic rollback of a run; its own result is watched but never acted upon."""
    client, clock = run.client, run.clock
    service, previous = run.plan.service, run.plan.previous
    if not run.plan.options.rollback or previous is None:
        if previous is None:
            why = "there is nothing to roll back to"
        elif run.plan.options.attached:
            why = "not asked ('releaser watch' rolls back only with --rollback-on-failure)"
        else:
            why = "--no-rollback was given"
        run.actions.append(f"did not roll back: {why}")
        run.state_now = _live_now(run)
        return "not_back"
    summary = RollbackSummary(
        deploy_id=None, to_deploy_id=previous.id, to_version=previous.version, outcome="not_started"
    )
    run.rollback = summary
    run.progress(f"{state.reason}: rolling back to {previous.id} ({previous.version})")
    try:
        if autodeploy_on(service):
            disable_autodeploy(client, service)
            summary.autodeploy_disabled = True
            summary.autodeploy_before = autodeploy_setting(service)
            summary.autodeploy_command = enable_autodeploy_command(service)
            run.actions.append(
                "turned autodeploy off, so the next push does not redeploy the bad code"
            )
        rollback = start_rollback(client, service, previous.id, clock=clock)
    except ReleaserError as exc:
        summary.outcome, summary.detail = "failed", exc.message
        run.actions.append(f"rollback to {previous.id} FAILED to start: {exc.message}")
        run.state_now = _live_now(run)
        return "not_back"
    summary.deploy_id = rollback.id
    run.actions.append(f"rolled back to {previous.id} ({previous.version}) as {rollback.id}")
    run.watching = rollback
    started = clock.now()
    try:
        result = watch_rollback(
            client,
            service,
            rollback,
            clock,
            started=started,
            owner=run.owner,
            prober=run.prober,
            secrets=run.plan.secrets,
            startup_error_patterns=run.plan.rules.startup_error_patterns,
            progress=run.progress,
            budget=run.budget,
        )
    except ApiError as exc:
        summary.outcome, summary.detail = "unknown", exc.message
        run.state_now = "unknown: lost contact with Render while the rollback ran"
        return "not_back"
    run.timings.append(PhaseTiming(phase="rollback", seconds=result.state.now - started))
    healthy = result.state.verdict == HEALTHY
    summary.outcome = "healthy" if healthy else "failed"
    summary.detail = result.state.reason
    probe = result.state.last_probe or "healthy"
    run.state_now = (
        f"live: {rollback.id} (rollback to {previous.version}), {probe}"
        if healthy
        else _live_now(run) + f"; the rollback {result.state.reason}"
    )
    return "rolled_back" if healthy else "not_back"


def _report(run: _Run, deploy: Deploy, state: WatchState, outcome: str) -> DeployReport:
    service, previous = run.plan.service, run.plan.previous
    diagnosis = state.diagnosis
    cause = diagnosis.title if diagnosis and outcome != "healthy" else None
    detail = diagnosis.summary if diagnosis and outcome != "healthy" else None
    if state.status == "pre_deploy_failed":
        cause = "pre-deploy command failed"
        detail = diagnosis.sentence() if diagnosis else "see its log lines"
    elif diagnosis is None and state.verdict == TURNED_BAD:
        cause, detail = "health check failing", state.last_probe or None
    undo = None
    if outcome == "healthy" and previous is not None:
        undo = f"releaser rollback {service_arg(service)} --to {previous.id}"
    elif outcome == "rolled_back":
        undo = f"releaser rollback {service_arg(service)} --to {deploy.id}"
    elif outcome == "not_back" and previous is not None and run.rollback is None:
        undo = f"releaser rollback {service_arg(service)} --to {previous.id}"
    return DeployReport(
        service_id=service.id,
        service_name=service.name,
        outcome=DeployOutcome(outcome),
        summary=_summary(outcome, deploy, state, previous, run),
        deployed=run.plan.options.what,
        deploy_id=deploy.id,
        deploy_version=deploy.version,
        previous_deploy_id=previous.id if previous else None,
        previous_version=previous.version if previous else None,
        watch_verdict=state.verdict,
        cause=cause,
        cause_detail=detail,
        decisive_lines=_decisive_lines(state) if outcome != "healthy" else [],
        evidence=list(state.evidence),
        harmless=_harmless(state, outcome),
        render_reason=state.failure_reason,
        actions=run.actions,
        timings=run.timings,
        api_requests=run.client.request_count - run.requests_before,
        health_probes=run.prober.count if run.prober else 0,
        health_url=run.plan.health.url,
        health_judged=run.plan.health.judged,
        rollback=run.rollback,
        undo_command=undo,
        state_now=run.state_now,
        warnings=run.warnings,
        not_undone=not_undone_notes([]) if outcome == "rolled_back" else [],
        checks=run.plan.checks,
        started_at=datetime.fromtimestamp(run.started, UTC),
        finished_at=datetime.fromtimestamp(state.now, UTC),
    )


def _serving_words(service: Service) -> str:
    if service.has_disk:
        # No zero-downtime deploys with a disk: the old instance stopped before the new one
        # started, so the service has been down; canceling ends that downtime.
        return (
            "the service has a disk, so it has been DOWN during this deploy; canceling lets "
            "Render start the previous version again"
        )
    return "the previous version is still serving"


def _harmless(state: WatchState, outcome: str) -> list[str]:
    harmless = list(state.harmless)
    diagnosis = state.diagnosis
    if outcome == "healthy" and diagnosis is not None:
        # Errors while it served, with health passing and no crash or restart: application
        # errors to look into, not a failed release.
        why = "an application error while serving; health passed and the process never died"
        harmless += [f"{line}  ({why})" for line in diagnosis.lines]
    return harmless


def _decisive_lines(state: WatchState) -> list[str]:
    diagnosis = state.diagnosis
    if state.status == "pre_deploy_failed" and state.pre_deploy_lines:
        # The pre-deploy command (migrations, typically) failed: its own last lines tell why.
        return list(state.pre_deploy_lines[-5:])
    lines = list(diagnosis.lines) if diagnosis else []
    if diagnosis is None or diagnosis.cause == EXITED:
        # Only "it exited": the lines it printed before dying say why.
        lines = [*state.death_lines, *lines]
    return lines[:6]


def _summary(
    outcome: str, deploy: Deploy, state: WatchState, previous: Deploy | None, run: _Run
) -> str:
    diagnosis = state.diagnosis
    why = f" ({diagnosis.sentence()})" if diagnosis else ""
    prev = f"{previous.id} ({previous.version})" if previous else "the previous version"
    if outcome == "healthy":
        return f"{deploy.id} is live and healthy ({state.reason})"
    serving = f"{prev} is still serving"
    if run.plan.service.has_disk:
        serving = f"the service (it has a disk) was down during the deploy; {prev} is live again"
    if outcome == "canceled":
        return f"{deploy.id} was canceled by releaser: {state.reason}{why}; {serving}"
    if outcome == "failed":
        return f"{state.reason}{why}; {serving}"
    if outcome == "rolled_back":
        return (
            f"{deploy.id} turned bad after going live: {state.reason}{why}; rolled back to {prev}"
        )
    return f"{deploy.id}: {state.reason}{why}; NOT safely back: {run.state_now}"
