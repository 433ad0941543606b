"""Deploy behaviours turned into a timeline: status changes, events and log lines.

A plan is computed once, when a deploy is created; the state applies its steps as simulated
time passes. Log text imitates Render's build and runtime output closely enough that a log
classifier trained on the real thing fires on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from releaser.sim.scenario import Behaviour

Details = dict[str, Any]

# deploy_ended / build_ended carry an integer status; Render does not document its values.
STATUS_SUCCEEDED, STATUS_FAILED, STATUS_CANCELED = 2, 3, 4


@dataclass
class Step:
    """At `at`, the deploy takes `status` (None: unchanged) and these events are emitted."""

    at: datetime
    status: str | None
    events: list[tuple[str, Details]] = field(default_factory=list)


@dataclass
class LogLine:
    at: datetime
    message: str
    level: str = "info"
    type: str = "app"


@dataclass
class Repeater:
    """Lines emitted every `every` seconds from `next_at` until `until` (None: forever)."""

    next_at: datetime
    every: float
    lines: list[tuple[str, str]]  # (message, level)
    until: datetime | None = None
    type: str = "app"  # app | request


@dataclass
class Plan:
    steps: list[Step]
    logs: list[LogLine]
    repeaters: list[Repeater]
    unhealthy_at: datetime | None = None
    built: bool = False  # a build artifact exists afterwards (rollback / deploy_only target)


@dataclass(frozen=True)
class DeployFacts:
    """What the log lines and events mention."""

    deploy_id: str
    build_id: str
    service_name: str
    runtime: str
    repo: str | None
    branch: str
    commit: str | None
    image: str | None
    build_command: str | None
    start_command: str | None
    health_check_path: str
    trigger: str
    clear_cache: bool = False
    rollback_of: str | None = None
    pre_deploy_command: str | None = None


def plan_deploy(
    facts: DeployFacts,
    behaviour: Behaviour,
    created: datetime,
    build: bool,
    resume: tuple[str, datetime] | None = None,
) -> Plan:
    """The timeline of one deploy, with the behaviour's scripted lines in their phases."""
    phase_at: dict[str, datetime] = {}
    plan = _plan_deploy(facts, behaviour, created, build, resume, phase_at)
    for scripted in behaviour.lines:
        began = phase_at.get(scripted.phase)
        if began is None:
            continue  # the deploy never reached that phase
        first = began + timedelta(seconds=scripted.after)
        kind = "build" if scripted.phase in ("build", "pre_deploy") else "app"
        if scripted.every is not None and scripted.count == 0:
            plan.repeaters.append(
                Repeater(first, scripted.every, [(scripted.text, scripted.level)])
            )
            continue
        for n in range(scripted.count):
            at = first + timedelta(seconds=(scripted.every or 0.0) * n)
            plan.logs.append(LogLine(at, scripted.text, scripted.level, kind))
    return plan


def _plan_deploy(
    facts: DeployFacts,
    behaviour: Behaviour,
    created: datetime,
    build: bool,
    resume: tuple[str, datetime] | None,
    phase_at: dict[str, datetime],
) -> Plan:
    """The timeline of one deploy; ``phase_at`` learns when each phase began.

    Without `build` (rollback, deploy_only: the artifact exists) it goes straight to update.
    With `resume` = (status, at), the deploy was created earlier and is in `status` at `at`
    (a scenario's deploy in progress): the phases before that status are skipped.
    """
    trigger = _trigger_details(facts)
    steps = [
        Step(
            created,
            "created",
            [("deploy_started", {"deployId": facts.deploy_id, "trigger": trigger})],
        )
    ]
    logs: list[LogLine] = []
    repeaters: list[Repeater] = []
    t = created + timedelta(seconds=1)
    resumed = resume[0] if resume else None
    if resume is not None:
        t = resume[1]
        if resumed == "queued":
            steps.append(Step(created, "queued"))
        if resumed in ("created", "queued"):
            t += timedelta(seconds=1)
        else:
            build = resumed == "build_in_progress"
    skip_pre_deploy = resumed == "update_in_progress"
    if build:
        phase_at["build"] = t
        build_end = t + timedelta(seconds=behaviour.build_seconds)
        steps.append(
            Step(
                t,
                "build_in_progress",
                [("build_started", {"buildId": facts.build_id, "trigger": trigger})],
            )
        )
        failed = behaviour.behaviour == "build_failed"
        lines = _build_lines(facts) if not failed else _failed_build_lines(facts, behaviour)
        logs += _spread(lines, t, build_end, "build")
        if failed:
            reason = {"buildFailed": {"id": facts.build_id}, "failure": _failure(behaviour, facts)}
            steps.append(
                Step(
                    build_end,
                    "build_failed",
                    [
                        ("build_ended", _build_ended(facts, "failed", reason)),
                        ("deploy_ended", _deploy_ended(facts, "failed", reason)),
                    ],
                )
            )
            return Plan(steps, logs, repeaters)
        t = build_end
        built_event = [("build_ended", _build_ended(facts, "succeeded", {}))]
    else:
        built_event = []
        logs.append(
            LogLine(t, f"==> Deploying {_what(facts)} from an existing build...", type="build")
        )
    if facts.pre_deploy_command and not skip_pre_deploy:
        phase_at["pre_deploy"] = t
        t, failed_plan = _pre_deploy(facts, behaviour, t, steps, logs, built_event)
        if failed_plan is not None:
            return failed_plan
        built_event = [("pre_deploy_ended", _pre_deploy_ended(facts, "succeeded", {}))]
    steps.append(Step(t, "update_in_progress", built_event))
    phase_at["update"] = t

    if behaviour.behaviour == "crash_loop":
        start = t + timedelta(seconds=min(behaviour.update_seconds, 3.0))
        fail_at = t + timedelta(seconds=behaviour.fail_after)
        logs.append(LogLine(t, "==> Deploying...", type="build"))
        cycle = [(f"==> Running '{_start_command(facts)}'", "info")]
        cycle += [(line, "error") for line in behaviour.log_lines or _crash_lines(facts)]
        cycle += [(f"==> Exited with status {behaviour.exit_code}", "error")]
        cycle += [
            (
                "==> Common ways to troubleshoot your deploy: https://render.com/docs/troubleshooting-deploys",
                "info",
            )
        ]
        repeaters.append(Repeater(start, behaviour.repeat_every, cycle, until=fail_at))
        reason = {"failure": _failure(behaviour, facts)}
        steps.append(
            Step(
                fail_at, "update_failed", [("deploy_ended", _deploy_ended(facts, "failed", reason))]
            )
        )
        return Plan(steps, logs, repeaters, built=True)

    live_at = t + timedelta(seconds=behaviour.update_seconds)
    phase_at["live"] = live_at
    logs += _spread(_start_lines(facts), t, live_at, "app")
    logs.append(LogLine(live_at, "==> Your service is live 🎉", type="app"))
    steps.append(Step(live_at, "live", [("deploy_ended", _deploy_ended(facts, "succeeded", {}))]))
    plan = Plan(steps, logs, repeaters, built=True)
    if behaviour.behaviour == "crash_after_live":
        # The process dies and Render restarts it, again and again; restarts are quick, so
        # the health URL still answers between them.
        cycle = [(line, "error") for line in behaviour.log_lines or _crash_lines(facts)]
        cycle += [(f"==> Exited with status {behaviour.exit_code}", "error")]
        cycle += [(f"==> Running '{_start_command(facts)}'", "info")]
        cycle += [(line, "info") for line in _start_lines(facts)[2:]]
        crash_at = live_at + timedelta(seconds=behaviour.crash_after)
        repeaters.append(Repeater(crash_at, behaviour.repeat_every, cycle))
    if behaviour.behaviour == "unhealthy_after_live":
        plan.unhealthy_at = live_at + timedelta(seconds=behaviour.unhealthy_after)
        steps.append(Step(plan.unhealthy_at, None, [server_failed(facts.health_check_path)]))
        errors = [
            (line, "error")
            for line in behaviour.log_lines or unhealthy_lines(facts.health_check_path)
        ]
        repeaters.append(Repeater(plan.unhealthy_at, behaviour.repeat_every, errors))
    return plan


def _pre_deploy(
    facts: DeployFacts,
    behaviour: Behaviour,
    t: datetime,
    steps: list[Step],
    logs: list[LogLine],
    events: list[tuple[str, Details]],
) -> tuple[datetime, Plan | None]:
    """The pre-deploy phase (migrations) between build and update; a Plan if it fails there.

    A failed pre-deploy fails the deploy before any instance changes: the old one serves on.
    """
    started = {"deployCommandExecutionId": _execution_id(facts), "deployId": facts.deploy_id}
    steps.append(Step(t, "pre_deploy_in_progress", [*events, ("pre_deploy_started", started)]))
    end = t + timedelta(seconds=behaviour.pre_deploy_seconds)
    command = facts.pre_deploy_command or ""
    failed = behaviour.behaviour == "pre_deploy_failed"
    output = [f"==> Running pre-deploy command '{command}'..."]
    if failed:
        output += behaviour.log_lines or _migration_error_lines()
        output.append(f"==> Pre-deploy has failed: exited with status {behaviour.exit_code}")
    else:
        output += ["Operations to perform:", "Running migrations:", "  No migrations to apply."]
        output.append("==> Pre-deploy command succeeded")
    logs += _spread(output, t, end, "build")
    if not failed:
        return end, None
    reason = {"failure": _failure(behaviour, facts)}
    steps.append(
        Step(
            end,
            "pre_deploy_failed",
            [
                ("pre_deploy_ended", _pre_deploy_ended(facts, "failed", reason)),
                ("deploy_ended", _deploy_ended(facts, "failed", reason)),
            ],
        )
    )
    return end, Plan(steps, logs, [], built=True)


def _execution_id(facts: DeployFacts) -> str:
    return "dce-" + facts.deploy_id.removeprefix("dep-")


def _pre_deploy_ended(facts: DeployFacts, outcome: str, reason: Details) -> Details:
    return {
        "deployCommandExecutionId": _execution_id(facts),
        "deployId": facts.deploy_id,
        "preDeployStatus": outcome,
        "reason": reason,
        "status": _code(outcome),
    }


def _migration_error_lines() -> list[str]:
    return [
        "Traceback (most recent call last):",
        'django.db.utils.ProgrammingError: column "total_tax" of relation "orders" already exists',
    ]


def cancel_events(
    facts: DeployFacts, in_build: bool, superseded_by: str | None
) -> list[tuple[str, Details]]:
    reason: Details = {"newDeploy": {"id": superseded_by}} if superseded_by else {}
    events: list[tuple[str, Details]] = []
    if in_build:
        events.append(("build_ended", _build_ended(facts, "canceled", reason)))
    events.append(("deploy_ended", _deploy_ended(facts, "canceled", reason)))
    return events


def _trigger_details(facts: DeployFacts) -> Details:
    details: Details = {
        "firstBuild": False,
        "envUpdated": facts.trigger == "service_updated",
        "manual": facts.trigger in ("api", "manual", "rollback"),
        "deployedByRender": facts.trigger == "deployed_by_render",
        "clearCache": facts.clear_cache,
        "rollback": facts.trigger == "rollback",
    }
    if facts.trigger == "new_commit" and facts.commit:
        details["newCommit"] = facts.commit
    if facts.rollback_of:
        details["rollbackTargetDeployId"] = facts.rollback_of
    return details


def _build_ended(facts: DeployFacts, outcome: str, reason: Details) -> Details:
    return {
        "buildId": facts.build_id,
        "buildStatus": outcome,
        "reason": reason,
        "status": _code(outcome),
    }


def _deploy_ended(facts: DeployFacts, outcome: str, reason: Details) -> Details:
    return {
        "deployId": facts.deploy_id,
        "deployStatus": outcome,
        "reason": reason,
        "status": _code(outcome),
    }


def _code(outcome: str) -> int:
    return {"succeeded": STATUS_SUCCEEDED, "failed": STATUS_FAILED}.get(outcome, STATUS_CANCELED)


def _failure(behaviour: Behaviour, facts: DeployFacts) -> Details:
    """The structured reason in deploy_ended, as Render reports it."""
    kind = behaviour.reason or "nonZeroExit"
    failure: Details = {"evicted": False}
    if kind == "nonZeroExit":
        failure["nonZeroExit"] = behaviour.exit_code
    elif kind == "oomKilled":
        failure["oomKilled"] = {"memoryLimit": "512Mi"}
    elif kind == "earlyExit":
        failure["earlyExit"] = True
    elif kind == "timedOutSeconds":
        failure["timedOutSeconds"] = int(behaviour.fail_after)
        failure["timedOutReason"] = "no open ports detected"
    elif kind == "unhealthy":
        failure["unhealthy"] = f"health check {facts.health_check_path} did not succeed"
    return failure


def _spread(lines: list[str], start: datetime, end: datetime, type: str) -> list[LogLine]:
    """Lines evenly over [start, end): what a phase prints while it runs."""
    span = max((end - start).total_seconds(), 0.001)
    step = span / (len(lines) + 1)
    return [
        LogLine(
            start + timedelta(seconds=step * (i + 1)),
            line,
            "error" if _looks_bad(line) else "info",
            type,
        )
        for i, line in enumerate(lines)
    ]


def _looks_bad(line: str) -> bool:
    return (
        line.startswith(
            ("ERROR", "npm ERR!", "error", "Error", "==> Build failed", "==> Pre-deploy has failed")
        )
        or "Error:" in line
    )


def _what(facts: DeployFacts) -> str:
    return facts.image if facts.image else f"commit {(facts.commit or 'HEAD')[:7]}"


def _native(facts: DeployFacts) -> bool:
    return facts.runtime not in ("docker", "image")


def _build_command(facts: DeployFacts) -> str:
    if facts.build_command:
        return facts.build_command
    return "npm ci" if facts.runtime == "node" else "pip install -r requirements.txt"


def _start_command(facts: DeployFacts) -> str:
    if facts.start_command:
        return facts.start_command
    return {"node": "node server.js"}.get(facts.runtime, "gunicorn app:app")


def _checkout_lines(facts: DeployFacts) -> list[str]:
    if facts.runtime == "image":
        return [
            f"==> Pulling image {facts.image}...",
            f"==> Successfully pulled image {facts.image}",
        ]
    lines = [
        f"==> Cloning from {facts.repo or 'https://github.com/example/app'}",
        f"==> Checking out commit {facts.commit or 'HEAD'} in branch {facts.branch}",
    ]
    if facts.runtime == "docker":
        lines += [
            "#1 [internal] load build definition from Dockerfile",
            "#8 exporting to image",
            "#8 DONE 3.1s",
        ]
    return lines


def _build_lines(facts: DeployFacts) -> list[str]:
    lines = _checkout_lines(facts)
    if facts.runtime == "node":
        lines += [
            "==> Using Node.js version 20.15.1 (default)",
            f"==> Running build command '{_build_command(facts)}'...",
            "added 312 packages, and audited 313 packages in 9s",
            "found 0 vulnerabilities",
        ]
    elif _native(facts):
        lines += [
            "==> Using Python version 3.11.9 (default)",
            f"==> Running build command '{_build_command(facts)}'...",
            "Collecting flask==3.0.3 (from -r requirements.txt (line 1))",
            "Collecting gunicorn==22.0.0 (from -r requirements.txt (line 2))",
            "Collecting psycopg[binary]==3.1.19 (from -r requirements.txt (line 3))",
            "Successfully installed flask-3.0.3 gunicorn-22.0.0 psycopg-3.1.19",
        ]
    return [
        *lines,
        "==> Uploading build...",
        "==> Uploaded in 4.2s. Compression took 1.9s",
        "==> Build successful 🎉",
    ]


def _failed_build_lines(facts: DeployFacts, behaviour: Behaviour) -> list[str]:
    lines = _checkout_lines(facts)
    if behaviour.log_lines:
        errors = list(behaviour.log_lines)
    elif facts.runtime == "node":
        lines.append(f"==> Running build command '{_build_command(facts)}'...")
        errors = [
            "npm ERR! code ERESOLVE",
            "npm ERR! ERESOLVE unable to resolve dependency tree",
            "npm ERR! Found: react@18.3.1",
            'npm ERR! Could not resolve dependency: peer react@"^17.0.0" from react-dnd@13.1.1',
        ]
    else:
        lines.append(f"==> Running build command '{_build_command(facts)}'...")
        errors = [
            "ERROR: Could not find a version that satisfies the requirement flask==9.9.9 "
            "(from versions: 3.0.2, 3.0.3)",
            "ERROR: No matching distribution found for flask==9.9.9",
        ]
    return [*lines, *errors, "==> Build failed 😞"]


def _start_lines(facts: DeployFacts) -> list[str]:
    lines = ["==> Deploying...", f"==> Running '{_start_command(facts)}'"]
    if facts.runtime == "node":
        return [*lines, "Server listening on port 10000"]
    return [
        *lines,
        "[INFO] Starting gunicorn 22.0.0",
        "[INFO] Listening at: http://0.0.0.0:10000 (57)",
        "[INFO] Booting worker with pid: 58",
    ]


def _crash_lines(facts: DeployFacts) -> list[str]:
    if facts.runtime == "node":
        return [
            "node:events:497",
            "      throw er; // Unhandled 'error' event",
            "Error: listen EADDRINUSE: address already in use :::10000",
        ]
    return [
        "Traceback (most recent call last):",
        '  File "/opt/render/project/src/app.py", line 7, in <module>',
        "    DATABASE_URL = os.environ['DATABASE_URL']",
        "KeyError: 'DATABASE_URL'",
    ]


def server_failed(health_check_path: str) -> tuple[str, Details]:
    """The event of a live deploy whose health check starts failing."""
    failure = {"evicted": False, "unhealthy": f"health check {health_check_path} returned 503"}
    return "server_failed", {"reason": failure}


def unhealthy_lines(health_check_path: str) -> list[str]:
    """What an app prints once its health check fails: the default for unhealthy deploys."""
    return [
        "[ERROR] Worker timeout (pid:58)",
        f"[ERROR] GET {health_check_path} 503: database connection pool exhausted",
    ]
