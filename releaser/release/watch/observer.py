"""Fetching observations: one deploy's status, its log window, its events. Never writes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from releaser.errors import ApiError, ReleaserError, UsageError
from releaser.output import redact
from releaser.release.health import HealthProber, ProbeResult
from releaser.release.watch.machine import LogLine, Observation
from releaser.release.watch.pacing import EVENTS, LOGS, PROBE, STATUS, RequestBudget
from releaser.render.client import RenderClient
from releaser.render.models import Deploy, Service

# Seconds re-read behind the newest line, for late and out-of-order lines: short, because on a
# busy log every re-read second costs lines (40 a second is a page every 2.5 s).
LOG_OVERLAP = 2.0
OLD_INSTANCE_LOOKBACK = 600.0  # seconds before the deploy in which running instances are seen
MAX_LOG_PAGES = 5  # per tick; the next tick continues from where this one stopped


def log_owner(client: RenderClient, service: Service) -> str | None:
    """The workspace whose logs are read; None when unknown (then status and health decide)."""
    try:
        return client.owner_id_for(service)
    except UsageError:
        return None


class Observer:
    """Reads one deploy's status, its log window and its events. Never writes."""

    def __init__(
        self,
        client: RenderClient,
        service_id: str,
        owner_id: str | None,
        deploy: Deploy,
        started: float,
        prober: HealthProber | None = None,
        secrets: Sequence[str] = (),
    ) -> None:
        self.client = client
        self.secrets = tuple(secrets)
        self.service_id = service_id
        self.owner_id = owner_id
        self.deploy_id = deploy.id
        # Logs from a second before the deploy was created (or before ``started``).
        self.window_start = (deploy.created_at.timestamp() if deploy.created_at else started) - 1.0
        self.prober = prober
        self._log_cursor = self.window_start
        self._seen_logs: set[str] = set()
        self._old_instances: set[str] | None = None
        self._ours: list[str] = []  # the new deploy's instances, once the list shows them
        self.logs_behind = False  # the last read stopped at its page limit
        self._app_cursor_moved = False
        self.deploy: Deploy | None = None  # ours, as last read

    def status(self) -> tuple[str | None, float | None, str | None]:
        """(status, live since, a newer deploy's id) from one short list of recent deploys."""
        recent = self.client.list_deploys(self.service_id, limit=5)
        ours = next((d for d in recent if d.id == self.deploy_id), None)
        if ours is None:
            ours = self.client.get_deploy(self.service_id, self.deploy_id)
        self.deploy = ours
        newer = _newer_than(recent, ours)
        live_since = ours.finished_at.timestamp() if ours.finished_at else None
        return ours.status, live_since, newer.id if newer else None

    def _learn_old_instances(self, owner_id: str) -> set[str]:
        """Instances running before the deploy began: the version being replaced.

        Logs are per service, not per deploy. Until the new instance takes over, the old one
        keeps serving and logging; its errors (it may be the bad release a rollback replaces)
        must not be judged as the new deploy's. Both the instance list and the instances that
        logged just before the deploy count; either may be unavailable.
        """
        old: set[str] = set()
        try:
            # Started before our deploy was created: a re-attached watch must not count the
            # new deploy's own instance as old.
            old |= {
                i.id
                for i in self.client.list_instances(self.service_id)
                if i.created_at is None or i.created_at.timestamp() < self.window_start
            }
        except ReleaserError:
            pass
        end = datetime.fromtimestamp(self.window_start, UTC)
        try:
            page = self.client.logs_page(
                owner_id,
                self.service_id,
                start_time=end - timedelta(seconds=OLD_INSTANCE_LOOKBACK),
                end_time=end,
                direction="backward",
                log_type=["app"],
            )
        except ApiError:
            return old
        return old | ({entry.label("instance") or "" for entry in page.logs} - {""})

    def _find_ours(self) -> None:
        """Our deploy's instances: those running now that were not running before it."""
        try:
            running = {i.id for i in self.client.list_instances(self.service_id)}
        except ReleaserError:
            return  # the instance list is a shortcut, not a need: logs are read unfiltered
        self._ours = sorted(running - (self._old_instances or set()))

    def logs(self, now: float, pages: int = MAX_LOG_PAGES) -> list[LogLine]:
        """New log lines of this deploy: its build output, then its own instances' app logs.

        A busy old instance writes tens of lines a second; reading them all means falling
        behind. Once the new instance is known, only its lines are asked for.
        """
        if not self.owner_id:
            return []
        if self._old_instances is None:
            self._old_instances = self._learn_old_instances(self.owner_id)
        status = self.deploy.status if self.deploy else None
        starting = status in ("update_in_progress", "live")
        if starting and not self._ours:
            self._find_ours()
        log_type = ["app"] if starting else ["build"]
        instances = self._ours if starting and self._ours else None
        if starting and not self._app_cursor_moved:
            # The first app read starts at the deploy: the build's cursor says nothing here.
            self._log_cursor, self._app_cursor_moved = self.window_start, True
        start = datetime.fromtimestamp(max(self.window_start, self._log_cursor - LOG_OVERLAP), UTC)
        lines = []
        read = 0
        # No endTime: the server's "now" ends the window, so only its own timestamps (the
        # deploy's creation, the newest line seen) shape it, never our estimate of its clock.
        for entry in self.client.iter_logs(
            self.owner_id,
            self.service_id,
            start_time=start,
            end_time=None,
            direction="forward",
            log_type=log_type,
            instance=instances,
            max_entries=pages * 100,
        ):
            read += 1
            if entry.id in self._seen_logs:
                continue
            self._seen_logs.add(entry.id)
            entry.message = redact(entry.message, self.secrets)
            line = LogLine.from_entry(entry)
            self._log_cursor = max(self._log_cursor, line.at)
            if line.instance and line.instance in self._old_instances:
                continue
            lines.append(line)
        self.logs_behind = read >= pages * 100  # more lines wait: the next tick goes on
        return lines

    def observe(
        self, sources: Iterable[str], now: float, budget: RequestBudget
    ) -> tuple[Observation, list[str], ReleaserError | None]:
        """Fetch the due sources the budget allows: (observation, fetched, last API problem)."""
        status: tuple[str | None, float | None, str | None] = (None, None, None)
        lines: list[LogLine] = []
        reason: str | None = None
        failures: tuple[float, ...] = ()
        probe: ProbeResult | None = None
        fetched: list[str] = []
        problem: ReleaserError | None = None
        unavailable: str | None = None
        for source in sources:
            if source == PROBE:
                if self.prober is not None:
                    probe = self.prober.probe()
                    fetched.append(source)
                continue
            if not budget.allows(now):
                continue
            before = self.client.request_count
            try:
                if source == STATUS:
                    status = self.status()
                elif source == LOGS:
                    # Keep one request for the status: a busy log must not starve it.
                    lines = self.logs(now, pages=max(1, min(MAX_LOG_PAGES, budget.room(now) - 1)))
                elif source == EVENTS:
                    reason, failures = self.events()
                fetched.append(source)
            except ReleaserError as exc:
                if source == STATUS:
                    # The client already retried; one bad tick is not the end of the watch.
                    problem = exc
                else:
                    # Logs and events are evidence, not the verdict's lifeline: a plan without
                    # log access (404) or a broken endpoint leaves status and health to decide.
                    unavailable = f"{source} unavailable ({exc.message})"
                    fetched.append(source)
            if budget.counts_client:
                budget.sync(now)
            else:
                budget.spend(now, self.client.request_count - before)
        observation = Observation(
            at=now,
            status=status[0],
            live_since=status[1],
            newer_deploy=status[2],
            lines=tuple(lines),
            failure_reason=reason,
            probe=probe,
            unavailable=unavailable,
            server_failures=failures,
            logs_behind=self.logs_behind if LOGS in fetched else None,
        )
        return observation, fetched, problem

    def events(self) -> tuple[str | None, tuple[float, ...]]:
        """(our deploy_ended failure reason, times of server_failed events) since the start."""
        start = datetime.fromtimestamp(self.window_start, UTC)
        events = self.client.list_events(
            self.service_id, start_time=start, types=["deploy_ended", "server_failed"], limit=20
        )
        reason = next(
            (
                e.failure_reason
                for e in events
                if e.deploy_id in (self.deploy_id, None) and e.failure_reason
            ),
            None,
        )
        failures = tuple(
            e.timestamp.timestamp() for e in events if e.type == "server_failed" and e.timestamp
        )
        return reason, failures

    def failure_reason(self) -> str | None:
        return self.events()[0]


def _newer_than(recent: list[Deploy], ours: Deploy) -> Deploy | None:
    """A deploy created after ours (someone else's, or an autodeploy) that is still relevant."""
    if ours.created_at is None:
        return None
    for deploy in recent:
        if deploy.id == ours.id or deploy.created_at is None:
            continue
        if deploy.created_at > ours.created_at and deploy.status != "canceled":
            return deploy
    return None
