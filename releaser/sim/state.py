"""The simulated workspace: services, deploys, events, logs, env groups, Postgres.

All mutation goes through `SimState` while `state.lock` is held (the HTTP layer and `SimServer`
take it). Time only moves through the clock; `advance()` applies every scheduled step up to
"now", so deploys progress lazily, on the next request, with no ticking thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import shutil
import string
import tempfile
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, get_args
from urllib.parse import unquote, urlsplit

from releaser.render.models import IN_PROGRESS_STATUSES, TERMINAL_STATUSES
from releaser.sim.behaviours import (
    DeployFacts,
    Details,
    LogLine,
    Plan,
    Repeater,
    Step,
    cancel_events,
    plan_deploy,
    server_failed,
    unhealthy_lines,
)
from releaser.sim.clock import Clock
from releaser.sim.logs import LogStore
from releaser.sim.scenario import (
    Behaviour,
    HistoryDeploy,
    Owner,
    Postgres,
    Scenario,
    Service,
    ServicePlan,
    resolve_offset,
)

_ALPHABET = string.ascii_lowercase + string.digits
# How far back point-in-time recovery reaches, and how close to now it may not go.
PITR_WINDOW = timedelta(days=7)
PITR_MIN_AGE = timedelta(minutes=10)
EXPORT_URL_TTL = timedelta(minutes=15)  # export download URLs are signed and short-lived


def new_id(prefix: str) -> str:
    """A Render-shaped id: prefix, dash, 20 lowercase letters and digits."""
    return f"{prefix}-" + "".join(secrets.choice(_ALPHABET) for _ in range(20))


def fake_sha(seed: str) -> str:
    return hashlib.sha1(seed.encode()).hexdigest()


def _sha256(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


class ApiProblem(Exception):
    """A request the simulated API refuses: becomes `{id, message}` with this status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Event:
    id: str
    service_id: str
    type: str
    timestamp: datetime
    details: Details


@dataclass
class DeployState:
    id: str
    service_id: str
    status: str
    created_at: datetime
    updated_at: datetime
    behaviour: Behaviour
    facts: DeployFacts  # trigger, build, commit, image, rollback target
    message: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    built: bool = False
    unhealthy_at: datetime | None = None
    pending: list[Step] = field(default_factory=list)
    pending_logs: list[LogLine] = field(default_factory=list)  # future ones
    repeaters: list[Repeater] = field(default_factory=list)
    instance: str = ""
    digest: str | None = None  # image deploys: what the tag resolved to for this build
    nulls: frozenset[str] = frozenset()  # fields rendered as null (real Render quirks)

    @property
    def in_progress(self) -> bool:
        return self.status in IN_PROGRESS_STATUSES

    @property
    def trigger(self) -> str:
        return self.facts.trigger

    @property
    def build_id(self) -> str:
        return self.facts.build_id

    @property
    def commit(self) -> str | None:
        return self.facts.commit

    @property
    def image(self) -> str | None:
        return self.facts.image

    @property
    def rollback_of(self) -> str | None:
        return self.facts.rollback_of


@dataclass
class ServiceState:
    config: Service  # the scenario's service, updated by PATCH / env-var writes
    created_at: datetime
    updated_at: datetime
    env: dict[str, str]
    env_group_ids: list[str]
    queue: deque[Behaviour] = field(default_factory=deque)
    deploys: list[DeployState] = field(default_factory=list)  # oldest first
    events: list[Event] = field(default_factory=list)
    jobs: list[JobState] = field(default_factory=list)
    job_queue: deque[tuple[bool, float]] = field(default_factory=deque)  # (succeeds, seconds)

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def name(self) -> str:
        return self.config.name

    def live(self) -> DeployState | None:
        return next((d for d in reversed(self.deploys) if d.status == "live"), None)


@dataclass
class JobState:
    """A one-off job: pending 2 s, then running until it succeeds or fails."""

    id: str
    service_id: str
    start_command: str
    plan_id: str
    created_at: datetime
    seconds: float
    succeeds: bool

    @property
    def started_at(self) -> datetime:
        return self.created_at + timedelta(seconds=2)

    @property
    def finished_at(self) -> datetime:
        return self.started_at + timedelta(seconds=self.seconds)

    def status_at(self, now: datetime) -> str:
        if now < self.started_at:
            return "pending"
        if now < self.finished_at:
            return "running"
        return "succeeded" if self.succeeds else "failed"


@dataclass
class EnvGroupState:
    id: str
    name: str
    vars: dict[str, str]
    created_at: datetime
    updated_at: datetime


@dataclass
class Export:
    id: str
    created_at: datetime
    ready: bool = False  # listed with a download URL
    path: Path | None = None  # the real archive (mapped instances only)
    error: str | None = None  # making the archive failed


@dataclass
class PostgresState:
    config: Postgres
    created_at: datetime
    updated_at: datetime
    database_name: str
    user: str
    password: str
    host: str
    port: int
    available_at: datetime | None = None  # a recovered database is created, then available
    exports: list[Export] = field(default_factory=list)
    copying: bool = False  # a recovery whose local copy is still being made
    recovery_error: str | None = None  # the recovery ends recovery_failed
    sim_owned: bool = False  # its real database was created by the simulator (drop on delete)

    @property
    def id(self) -> str:
        return self.config.id

    def status(self, now: datetime) -> str:
        if self.recovery_error and not (self.available_at and now < self.available_at):
            return "recovery_failed"
        if self.copying or (self.available_at and now < self.available_at):
            return "recovery_in_progress"
        return self.config.status

    def dsn(self) -> str:
        if self.config.dsn:
            return self.config.dsn
        return (
            f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.database_name}"
        )

    def internal_dsn(self) -> str:
        # A mapped database has one real address; Render's internal one would not resolve here.
        if self.config.dsn:
            return self.config.dsn
        return f"postgresql://{self.user}:{self.password}@{self.id}-a/{self.database_name}"


class SimState:
    """The simulated workspace. Callers hold `lock` around every call."""

    def __init__(self, scenario: Scenario, clock: Clock) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.scenario = scenario
        self.started_at = clock.now()
        self.owner: Owner = scenario.owner
        self.logs = LogStore()
        self.env_groups: dict[str, EnvGroupState] = {}
        self.services: dict[str, ServiceState] = {}
        self.postgres: dict[str, PostgresState] = {}
        self.deleted_postgres: list[str] = []  # ids deleted through the API, in order
        self.files_dir: Path | None = None  # export archives, made on first use
        self._url_key = secrets.token_bytes(16)
        self._workers: list[threading.Thread] = []  # making exports and recovery copies
        self._active: list[DeployState] = []  # deploys with future steps, logs or repeaters
        self._digests: dict[str, str] = {}  # build id -> image digest
        start = self.started_at
        for group in scenario.env_groups:
            created = resolve_offset(group.created_at, start)
            self.env_groups[group.id] = EnvGroupState(
                group.id, group.name, dict(group.vars), created, created
            )
        by_name = {g.name: g.id for g in self.env_groups.values()}
        for config in scenario.services:
            created = resolve_offset(config.created_at, start)
            service = ServiceState(
                config=config.model_copy(deep=True),
                created_at=created,
                updated_at=created,
                env=dict(config.env),
                env_group_ids=[by_name[name] for name in config.env_groups],
            )
            self.services[service.id] = service
            history = sorted(config.deploys, key=lambda h: resolve_offset(h.created_at, start))
            for past in history:
                if past.in_progress:
                    self._add_running(service, past)
                else:
                    self._add_history(service, past)
            # Replaying may deactivate a deploy the file says is live: the file wins.
            for past, deploy in zip(history, service.deploys, strict=True):
                deploy.status = past.status
            live = service.live()
            if live and config.health == "unhealthy":
                self._make_unhealthy(service, live, start - timedelta(minutes=5))
            if live:
                self._serve_traffic(service, live, start - timedelta(seconds=60))
        for queued in scenario.next_deploys:
            self.queue_behaviour(
                queued.service, Behaviour.model_validate(queued.model_dump(exclude={"service"}))
            )
        for pg in scenario.postgres:
            self.postgres[pg.id] = _postgres_state(pg, resolve_offset(pg.created_at, start))
        self.advance()

    # --- time ------------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock.now()

    def advance(self) -> datetime:
        """Apply every scheduled step and log line up to now, in time order across deploys."""
        now = self.clock.now()
        while True:
            due = [d for d in self._active if d.pending and d.pending[0].at <= now]
            if not due:
                break
            deploy = min(due, key=lambda d: d.pending[0].at)
            self._apply(deploy, deploy.pending.pop(0))
        for deploy in list(self._active):
            self._flush_logs(deploy, now)
            if (
                not deploy.pending
                and not deploy.pending_logs
                and all(r.until and r.next_at >= r.until for r in deploy.repeaters)
            ):
                self._active.remove(deploy)
        return now

    def _apply(self, deploy: DeployState, step: Step) -> None:
        service = self.services[deploy.service_id]
        if step.status is not None:
            if step.status == "live":
                previous = service.live()
                if previous is not None and previous is not deploy:
                    self._retire(previous, step.at, "deactivated")
                self._serve_traffic(service, deploy, step.at)
            if (
                step.status in ("build_in_progress", "update_in_progress")
                and deploy.started_at is None
            ):
                deploy.started_at = step.at
            deploy.status = step.status
            deploy.updated_at = step.at
            if step.status in TERMINAL_STATUSES:
                deploy.finished_at = step.at
        for kind, details in step.events:
            self._event(service, kind, step.at, details)

    def _flush_logs(self, deploy: DeployState, now: datetime) -> None:
        ready = [line for line in deploy.pending_logs if line.at <= now]
        deploy.pending_logs = [line for line in deploy.pending_logs if line.at > now]
        instance = deploy.instance if deploy.instance else None
        for line in ready:
            self.logs.add(
                line.at,
                line.message,
                deploy.service_id,
                line.level,
                line.type,
                instance if line.type == "app" else None,
            )
        for rep in deploy.repeaters:
            limit = min(now, rep.until) if rep.until else now
            while rep.next_at <= limit and (rep.until is None or rep.next_at < rep.until):
                for offset, (message, level) in enumerate(rep.lines):
                    at = rep.next_at + timedelta(milliseconds=offset * 20)
                    self.logs.add(at, message, deploy.service_id, level, rep.type, instance)
                rep.next_at += timedelta(seconds=rep.every)

    def _serve_traffic(self, service: ServiceState, deploy: DeployState, since: datetime) -> None:
        """The live deploy's instance writes the service's access-log traffic."""
        rate = service.config.traffic_lines_per_second
        if rate <= 0:
            return
        line = '10.201.3.7 - - "GET /api/orders?page=2 HTTP/1.1" 200 1834 "-" "okhttp/4.12.0"'
        deploy.repeaters.append(
            Repeater(since, 1.0 / rate, [(line, "info")], type=service.config.traffic_type)
        )
        if deploy not in self._active:
            self._active.append(deploy)

    def _retire(self, deploy: DeployState, at: datetime, status: str) -> None:
        """Stop a deploy's future: replaced (deactivated) or canceled at `at`."""
        deploy.pending.clear()
        deploy.pending_logs = [line for line in deploy.pending_logs if line.at <= at]
        for rep in deploy.repeaters:
            rep.until = min(rep.until, at) if rep.until else at
        deploy.status = status
        deploy.updated_at = at
        if status == "canceled":
            deploy.finished_at = at

    def _event(self, service: ServiceState, kind: str, at: datetime, details: Details) -> None:
        service.events.append(Event(new_id("evt"), service.id, kind, at, details))

    # --- lookups ---------------------------------------------------------------------------

    def service(self, id_or_name: str) -> ServiceState:
        if id_or_name in self.services:
            return self.services[id_or_name]
        named = [s for s in self.services.values() if s.name == id_or_name]
        if len(named) == 1:
            return named[0]
        raise ApiProblem(404, f"service {id_or_name} not found")

    def deploy(self, service: ServiceState, deploy_id: str) -> DeployState:
        for deploy in service.deploys:
            if deploy.id == deploy_id:
                return deploy
        raise ApiProblem(404, f"deploy {deploy_id} not found")

    def env_group(self, group_id: str) -> EnvGroupState:
        if group_id not in self.env_groups:
            raise ApiProblem(404, f"env group {group_id} not found")
        return self.env_groups[group_id]

    def pg(self, postgres_id: str) -> PostgresState:
        if postgres_id not in self.postgres:
            raise ApiProblem(404, f"postgres instance {postgres_id} not found")
        return self.postgres[postgres_id]

    def linked_services(self, group_id: str) -> list[ServiceState]:
        return [s for s in self.services.values() if group_id in s.env_group_ids]

    # --- deploys ---------------------------------------------------------------------------

    def queue_behaviour(self, service_id_or_name: str, behaviour: Behaviour) -> None:
        self.service(service_id_or_name).queue.append(behaviour)

    def create_deploy(
        self,
        service_id: str,
        commit_id: str | None = None,
        image_url: str | None = None,
        clear_cache: bool = False,
        deploy_only: bool = False,
        trigger: str = "api",
    ) -> DeployState:
        now = self.advance()
        service = self.service(service_id)
        config = service.config
        if config.suspended:
            raise ApiProblem(400, f"service {service.id} is suspended; resume it before deploying")
        if image_url and config.runtime != "image":
            raise ApiProblem(400, "imageUrl is only valid for image-backed services")
        if commit_id and config.runtime == "image":
            raise ApiProblem(400, "commitId is not valid for image-backed services")
        source = (
            next((d for d in reversed(service.deploys) if d.built), None) if deploy_only else None
        )
        if source is not None:
            commit, message, image = source.commit, source.message, source.image
        elif config.runtime == "image":
            commit, message, image = None, None, image_url or config.image
            config.image = image  # Render keeps the image the last deploy used
        else:
            commit = commit_id or self._head(service)[0]
            message = self._message(service, commit)
            image = None
        deploy = self._new_deploy(
            service,
            now,
            trigger,
            commit,
            message,
            image,
            clear_cache=clear_cache,
            build_id=source.build_id if source else None,
        )
        return self._supersede(service, deploy)

    def rollback(self, service_id: str, deploy_id: str) -> DeployState:
        now = self.advance()
        service = self.service(service_id)
        target = self.deploy(service, deploy_id)
        if target.status not in ("live", "deactivated") or not target.built:
            raise ApiProblem(
                400,
                f"deploy {deploy_id} was never live; "
                "only a previously live deploy can be rolled back to",
            )
        newer_builds = {
            d.build_id for d in service.deploys if d.built and d.created_at > target.created_at
        }
        if len(newer_builds) >= service.config.build_retention:
            raise ApiProblem(
                400,
                f"the build of deploy {deploy_id} is no longer retained "
                f"(this plan keeps {service.config.build_retention} builds); "
                "deploy its commit instead",
            )
        deploy = self._new_deploy(
            service,
            now,
            "rollback",
            target.commit,
            target.message,
            target.image,
            build_id=target.build_id,
            rollback_of=target.id,
        )
        return self._supersede(service, deploy)

    def cancel(self, service_id: str, deploy_id: str) -> DeployState:
        now = self.advance()
        service = self.service(service_id)
        deploy = self.deploy(service, deploy_id)
        if not deploy.in_progress:
            raise ApiProblem(
                400,
                f"deploy {deploy_id} is {deploy.status}; only a deploy in progress can be canceled",
            )
        self._cancel(service, deploy, now, superseded_by=None)
        return deploy

    def _cancel(
        self, service: ServiceState, deploy: DeployState, at: datetime, superseded_by: str | None
    ) -> None:
        in_build = deploy.status in ("created", "queued", "build_in_progress")
        self._retire(deploy, at, "canceled")
        self.logs.add(at, "==> Deploy canceled", service.id, "info", "build")
        for kind, details in cancel_events(deploy.facts, in_build, superseded_by):
            self._event(service, kind, at, details)

    def _supersede(self, service: ServiceState, deploy: DeployState) -> DeployState:
        """Render's default overlapping-deploy policy: the newer deploy wins, older ones cancel."""
        for older in service.deploys:
            if older is not deploy and older.in_progress:
                self._cancel(service, older, deploy.created_at, superseded_by=deploy.id)
        self.advance()
        return deploy

    def _new_deploy(
        self,
        service: ServiceState,
        created: datetime,
        trigger: str,
        commit: str | None,
        message: str | None,
        image: str | None,
        *,
        behaviour: Behaviour | None = None,
        clear_cache: bool = False,
        build_id: str | None = None,
        rollback_of: str | None = None,
        deploy_id: str | None = None,
        digest: str | None = None,
        resume: tuple[str, datetime] | None = None,
    ) -> DeployState:
        """A new deploy and its plan. Without `build_id` it builds; with one it reuses that build.

        Without `behaviour` it takes the service's next queued one (or a plain success).
        An image deploy's digest belongs to its build: a new build of the same tag pulls a
        new digest, a rollback or deploy_only reuses the build's.
        """
        if behaviour is None:
            behaviour = service.queue.popleft() if service.queue else Behaviour()
        config = service.config
        deploy_id = deploy_id or new_id("dep")
        facts = DeployFacts(
            deploy_id=deploy_id,
            build_id=build_id or new_id("bld"),
            service_name=config.name,
            runtime=config.runtime or "python",
            repo=config.repo,
            branch=config.branch,
            commit=commit,
            image=image,
            build_command=config.build_command,
            start_command=config.start_command,
            health_check_path=config.health_check_path,
            trigger=trigger,
            clear_cache=clear_cache,
            rollback_of=rollback_of,
            pre_deploy_command=config.pre_deploy_command,
        )
        plan: Plan = plan_deploy(facts, behaviour, created, build=build_id is None, resume=resume)
        if image:
            digest = self._digests.setdefault(
                facts.build_id, digest or "sha256:" + _sha256(f"{image} {facts.build_id}")
            )
        deploy = DeployState(
            id=deploy_id,
            service_id=service.id,
            status="created",
            created_at=created,
            updated_at=created,
            behaviour=behaviour,
            facts=facts,
            message=message,
            built=plan.built,
            unhealthy_at=plan.unhealthy_at,
            pending=plan.steps,
            pending_logs=plan.logs,
            repeaters=plan.repeaters,
            instance=f"{service.id}-{fake_sha(deploy_id)[:5]}",
            digest=digest if image else None,
        )
        service.deploys.append(deploy)
        service.updated_at = created
        self._active.append(deploy)
        return deploy

    def _add_history(self, service: ServiceState, history: HistoryDeploy) -> None:
        """Replay a finished deploy from the scenario so its events and logs exist."""
        created = resolve_offset(history.created_at, self.started_at)
        duration = max(history.duration, 10.0)
        end = created + timedelta(seconds=duration)
        status = history.status
        if status in ("build_failed", "pre_deploy_failed"):
            behaviour = Behaviour(behaviour="build_failed", build_seconds=duration - 1)
        elif status == "update_failed":
            behaviour = Behaviour(
                behaviour="crash_loop", build_seconds=duration * 0.4, fail_after=duration * 0.6 - 1
            )
        elif status == "canceled":
            behaviour = Behaviour(build_seconds=duration * 2)
        else:
            behaviour = Behaviour(build_seconds=duration * 0.7, update_seconds=duration * 0.3 - 1)
        image, commit = self._history_source(service, history)
        rollback_target = next((d for d in service.deploys if d.id == history.rollback_of), None)
        deploy = self._new_deploy(
            service,
            created,
            "rollback" if history.rollback_of else history.trigger,
            commit,
            history.message or (None if image else f"Change {commit[:7] if commit else ''}"),
            image,
            behaviour=behaviour,
            build_id=rollback_target.build_id if rollback_target else None,
            rollback_of=history.rollback_of,
            deploy_id=history.id,
            digest=history.image_digest,
        )
        deploy.nulls = frozenset(history.null)
        while deploy.pending and deploy.pending[0].at <= end:
            self._apply(deploy, deploy.pending.pop(0))
        if status == "canceled":
            self._cancel(service, deploy, end, superseded_by=None)
        self._flush_logs(deploy, end)
        self._retire(deploy, end, status)
        deploy.finished_at = end
        deploy.built = status in ("live", "deactivated", "update_failed")

    def _add_running(self, service: ServiceState, running: HistoryDeploy) -> None:
        """A scenario's deploy in progress: in its status when the simulator starts."""
        created = min(resolve_offset(running.created_at, self.started_at), self.started_at)
        image, commit = self._history_source(service, running)
        self._new_deploy(
            service,
            created,
            running.trigger,
            commit,
            running.message or (None if image else f"Change {commit[:7] if commit else ''}"),
            image,
            behaviour=running.then or Behaviour(),
            deploy_id=running.id,
            digest=running.image_digest,
            resume=(running.status, self.started_at),
        )

    def _history_source(
        self, service: ServiceState, history: HistoryDeploy
    ) -> tuple[str | None, str | None]:
        """(image, commit) of a scenario deploy: image services have no commit."""
        if service.config.runtime == "image":
            return history.image or service.config.image, None
        return None, history.commit or fake_sha(history.id)

    def _make_unhealthy(self, service: ServiceState, deploy: DeployState, since: datetime) -> None:
        deploy.unhealthy_at = since
        kind, details = server_failed(service.config.health_check_path)
        self._event(service, kind, since, details)
        lines = [(line, "error") for line in unhealthy_lines(service.config.health_check_path)]
        deploy.repeaters.append(Repeater(since, 10.0, lines))
        if deploy not in self._active:
            self._active.append(deploy)

    def _head(self, service: ServiceState) -> tuple[str, str]:
        config = service.config
        if config.head_commit:
            return config.head_commit, config.head_message or f"Change {config.head_commit[:7]}"
        for deploy in reversed(service.deploys):
            if deploy.commit:
                return deploy.commit, deploy.message or ""
        sha = fake_sha(service.id + "head")
        return sha, f"Change {sha[:7]}"

    def _message(self, service: ServiceState, commit: str) -> str:
        head, message = self._head(service)
        if commit == head:
            return message
        known = next((d.message for d in service.deploys if d.commit == commit and d.message), None)
        return known or f"Commit {commit[:7]}"

    # --- service operations ----------------------------------------------------------------

    def restart(self, service_id: str) -> None:
        now = self.advance()
        service = self.service(service_id)
        live = service.live()
        if live is None:
            raise ApiProblem(400, f"service {service.id} has no live deploy to restart")
        self.logs.add(now, "==> Restarting instance...", service.id, "info", "app", live.instance)
        self._event(service, "server_restarted", now, {"triggeredByUser": None})

    def set_suspended(self, service_id: str, suspended: bool) -> None:
        now = self.advance()
        service = self.service(service_id)
        if service.config.suspended == suspended:
            return
        service.config.suspended = suspended
        service.updated_at = now
        self._event(service, "service_suspended" if suspended else "service_resumed", now, {})

    def create_job(self, service_id: str, start_command: str, plan_id: str | None) -> JobState:
        """Run ``start_command`` once on the service's image; the next queued outcome or success."""
        now = self.advance()
        service = self.service(service_id)
        succeeds, seconds = service.job_queue.popleft() if service.job_queue else (True, 20.0)
        job = JobState(
            id=new_id("job"),
            service_id=service.id,
            start_command=start_command,
            plan_id=plan_id or f"plan-{service.config.plan}",
            created_at=now,
            seconds=seconds,
            succeeds=succeeds,
        )
        service.jobs.append(job)
        # The job's own log lines: resource is the job id, as Render's logs API filters them.
        self.logs.add(job.started_at, f"==> Running '{start_command}'", job.id, "info", "app")
        ending = "==> Job succeeded" if succeeds else "==> Job failed: exited with status 1"
        level = "info" if succeeds else "error"
        self.logs.add(job.finished_at, ending, job.id, level, "app")
        return job

    def job(self, service_id: str, job_id: str) -> JobState:
        service = self.service(service_id)
        for job in service.jobs:
            if job.id == job_id:
                return job
        raise ApiProblem(404, f"job {job_id} not found")

    def patch_service(self, service_id: str, body: dict[str, Any]) -> ServiceState:
        now = self.advance()
        service = self.service(service_id)
        config = service.config
        for key in ("autoDeploy", "repo", "branch", "name", "rootDir"):
            if key in body and not isinstance(body[key], str):
                raise ApiProblem(400, f"{key} must be a string")
        if body.get("autoDeploy") not in (None, "yes", "no"):
            raise ApiProblem(400, 'autoDeploy must be "yes" or "no"')
        trigger = body.get("autoDeployTrigger")
        if trigger not in (None, "commit", "checksPass", "off"):
            raise ApiProblem(400, 'autoDeployTrigger must be "commit", "checksPass" or "off"')
        # The two fields move together, as on Render: "no" is "off", "yes" is "commit".
        if "autoDeploy" in body:
            config.auto_deploy = body["autoDeploy"]
            config.auto_deploy_trigger = "commit" if body["autoDeploy"] == "yes" else "off"
        if trigger is not None:
            config.auto_deploy_trigger = trigger
            config.auto_deploy = "no" if trigger == "off" else "yes"
        if "branch" in body:
            config.branch = body["branch"]
        if "repo" in body:
            config.repo = body["repo"]
        if "name" in body:
            if any(s.name == body["name"] and s is not service for s in self.services.values()):
                raise ApiProblem(409, f"a service named {body['name']} already exists")
            config.name = body["name"]
        image = body.get("image")
        if isinstance(image, dict) and isinstance(image.get("imagePath"), str):
            config.image = image["imagePath"]
        details = body.get("serviceDetails")
        if isinstance(details, dict):
            if isinstance(details.get("healthCheckPath"), str):
                config.health_check_path = details["healthCheckPath"]
            maintenance = details.get("maintenanceMode")
            if maintenance is not None:
                if config.type != "web_service" or not isinstance(maintenance, dict):
                    raise ApiProblem(400, "maintenanceMode is an object, for web services only")
                if not isinstance(maintenance.get("enabled", False), bool) or not isinstance(
                    maintenance.get("uri", ""), str
                ):
                    raise ApiProblem(400, "maintenanceMode needs enabled (bool) and uri (string)")
                config.maintenance_mode = maintenance.get("enabled", config.maintenance_mode)
                config.maintenance_uri = maintenance.get("uri", config.maintenance_uri)
            plan = details.get("plan")
            if plan is not None:
                if plan not in get_args(ServicePlan):
                    raise ApiProblem(400, f"unknown plan {plan!r}")
                config.plan = plan
        service.updated_at = now
        return service

    # --- env vars --------------------------------------------------------------------------

    def replace_env(self, service_id: str, items: list[dict[str, Any]]) -> dict[str, str]:
        """PUT /env-vars: the new list replaces ALL of the service's variables."""
        self.advance()
        service = self.service(service_id)
        new: dict[str, str] = {}
        for item in items:
            key = item.get("key") if isinstance(item, dict) else None
            if not isinstance(key, str) or not key:
                raise ApiProblem(400, "each env var needs a key")
            new[key] = _env_value(item)
        service.env = new
        service.updated_at = self.now()
        return service.env

    def set_env(self, service_id: str, key: str, body: dict[str, Any]) -> str:
        self.advance()
        service = self.service(service_id)
        service.env[key] = _env_value(body)
        service.updated_at = self.now()
        return service.env[key]

    def delete_env(self, service_id: str, key: str) -> None:
        self.advance()
        service = self.service(service_id)
        if key not in service.env:
            raise ApiProblem(404, f"env var {key} not found")
        del service.env[key]
        service.updated_at = self.now()

    # --- postgres --------------------------------------------------------------------------

    def map_postgres(self, id_or_name: str, dsn: str) -> None:
        """Point a simulated instance at a real database (connection-info returns `dsn`)."""
        found = [p for p in self.postgres.values() if id_or_name in (p.id, p.config.name)]
        if len(found) != 1:
            raise ApiProblem(404, f"postgres instance {id_or_name} not found")
        state = found[0]
        config = state.config.model_copy(
            update={"dsn": dsn, "database_name": None, "user": None, "password": None}
        )
        self.postgres[state.id] = _postgres_state(config, state.created_at)
        self.postgres[state.id].exports = state.exports

    def export(self, postgres_id: str) -> Export:
        now = self.advance()
        pg = self.pg(postgres_id)
        export = Export(new_id("exp"), now)
        pg.exports.append(export)
        if pg.config.dsn is None:
            export.ready = True  # a URL with no file behind it (the download answers 404)
        else:
            self._start_worker(self._make_export, pg, export)
        return export

    def _start_worker(self, target: Any, *args: Any) -> None:
        worker = threading.Thread(target=target, args=args, daemon=True)
        self._workers.append(worker)
        worker.start()

    def _make_export(self, pg: PostgresState, export: Export) -> None:
        """Runs in its own thread (pg_dump takes a while): never holds the lock meanwhile."""
        from releaser.sim import pgwork

        with self.lock:
            if self.files_dir is None:
                self.files_dir = Path(tempfile.mkdtemp(prefix="releaser-sim-"))
            dest = self.files_dir / f"{export.id}.dir.tar.gz"
        try:
            pgwork.make_export(pg.dsn(), dest)
            if "export_truncated" in pg.config.pg_faults:
                pgwork.truncate(dest)
        except Exception as exc:  # the export just never gets a URL, as on Render
            with self.lock:
                export.error = str(exc)
            return
        with self.lock:
            export.path = dest
            export.ready = "export_no_url" not in pg.config.pg_faults

    def export_url(self, base_url: str, pg: PostgresState, export: Export) -> str:
        expires = int((self.now() + EXPORT_URL_TTL).timestamp())
        return (
            f"{base_url}/_sim/exports/{pg.id}/{export.id}.dir.tar.gz"
            f"?expires={expires}&signature={self._sign(pg.id, export.id, expires)}"
        )

    def _sign(self, pg_id: str, export_id: str, expires: int) -> str:
        message = f"{pg_id}/{export_id}/{expires}".encode()
        return hmac.new(self._url_key, message, "sha256").hexdigest()[:32]

    def export_file(self, pg_id: str, file_name: str, query: dict[str, str]) -> tuple[Path, bool]:
        """The archive behind a download URL, and whether the URL expires mid-download."""
        pg = self.pg(pg_id)
        export = next((e for e in pg.exports if f"{e.id}.dir.tar.gz" == file_name), None)
        if export is None or not export.ready:
            raise ApiProblem(404, "NoSuchKey: the export does not exist")
        try:
            expires = int(query.get("expires", ""))
        except ValueError:
            expires = 0
        signature = self._sign(pg_id, export.id, expires)
        if not hmac.compare_digest(signature, query.get("signature", "")):
            raise ApiProblem(403, "AccessDenied: the signature does not match")
        if self.now().timestamp() > expires:
            raise ApiProblem(403, "AccessDenied: Request has expired")
        if export.path is None:
            raise ApiProblem(
                404, "export files exist only for instances mapped to a real database (--postgres)"
            )
        return export.path, "export_url_expires" in pg.config.pg_faults

    def recovery_start(self, pg: PostgresState) -> datetime:
        return max(pg.created_at, self.now() - PITR_WINDOW)

    def recover(self, postgres_id: str, restore_time: datetime, name: str | None) -> PostgresState:
        now = self.advance()
        source = self.pg(postgres_id)
        if source.config.recovery != "AVAILABLE":
            raise ApiProblem(
                400, f"point-in-time recovery is {source.config.recovery} for {postgres_id}"
            )
        if restore_time < self.recovery_start(source) or restore_time > now - PITR_MIN_AGE:
            raise ApiProblem(
                400,
                "restoreTime must be between "
                f"{self.recovery_start(source).isoformat()} and {(now - PITR_MIN_AGE).isoformat()} "
                "(not within the last 10 minutes)",
            )
        new_pg_id = new_id("dpg") + "-a"
        config = Postgres(
            id=new_pg_id,
            name=name or f"{source.config.name}-pitr-{restore_time:%Y%m%d%H%M}",
            version=source.config.version,
            plan=source.config.plan,
            region=source.config.region,
            database_name=source.database_name,
            user=source.user,
        )
        state = _postgres_state(config, now)
        state.available_at = now + timedelta(minutes=5)
        self.postgres[new_pg_id] = state
        if "recovery_failed" in source.config.pg_faults:
            state.recovery_error = "simulated fault: the recovery failed"
        elif source.config.dsn is not None:
            from releaser.sim.pgwork import RECOVERY_LIMITATION

            state.copying = True
            self.logs.add(now, RECOVERY_LIMITATION, new_pg_id, "warning", "app")
            self._start_worker(self._copy_for_recovery, source.dsn(), state)
        return state

    def _copy_for_recovery(self, source_dsn: str, state: PostgresState) -> None:
        """Runs in its own thread: the recovery's real database, copied from the source."""
        from releaser.sim import pgwork

        try:
            dsn = pgwork.copy_database(source_dsn, "sim_" + state.id.replace("-", "_"))
        except Exception as exc:
            with self.lock:
                state.copying = False
                state.recovery_error = f"copying the source failed: {exc}"
            return
        with self.lock:
            if state.id not in self.postgres:  # deleted while copying: nobody will use it
                pgwork.drop_database(dsn)
                return
            mapped = _postgres_state(state.config.model_copy(update={"dsn": dsn}), state.created_at)
            mapped.available_at, mapped.sim_owned = state.available_at, True
            self.postgres[state.id] = mapped

    def delete_postgres(self, postgres_id: str) -> None:
        self.advance()
        pg = self.pg(postgres_id)
        del self.postgres[postgres_id]
        self.deleted_postgres.append(postgres_id)
        if pg.sim_owned:
            from releaser.sim import pgwork

            pgwork.drop_database(pg.dsn())

    def close(self) -> None:
        """Drop the databases and files the simulator made (server stop)."""
        from releaser.sim import pgwork

        for worker in self._workers:  # a copy finishing after this would be left behind
            worker.join(timeout=120)
        with self.lock:
            owned = [pg.dsn() for pg in self.postgres.values() if pg.sim_owned]
            files, self.files_dir = self.files_dir, None
        for dsn in owned:
            with contextlib.suppress(Exception):
                pgwork.drop_database(dsn)
        if files is not None:
            shutil.rmtree(files, ignore_errors=True)


def _env_value(body: dict[str, Any]) -> str:
    if body.get("generateValue") is True:
        return secrets.token_urlsafe(32)
    value = body.get("value")
    if not isinstance(value, str):
        raise ApiProblem(400, "env var needs a string value or generateValue: true")
    return value


def _postgres_state(config: Postgres, created: datetime) -> PostgresState:
    if config.dsn:
        parts = urlsplit(config.dsn)
        user = unquote(parts.username or "postgres")
        password = unquote(parts.password or "")
        database = unquote(parts.path.lstrip("/")) or user
        host, port = parts.hostname or "127.0.0.1", parts.port or 5432
    else:
        slug = config.name.replace("-", "_")
        user, password, database = f"{slug}_user", fake_sha(config.id)[:32], slug
        host, port = f"{config.id}-a.{config.region}-postgres.render.com", 5432
    return PostgresState(
        config=config,
        created_at=created,
        updated_at=created,
        database_name=config.database_name or database,
        user=config.user or user,
        password=config.password or password,
        host=host,
        port=port,
    )
