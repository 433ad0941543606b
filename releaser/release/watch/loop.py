"""The watch loop: fetch observations at an adaptive pace and feed ``step`` until a verdict.

It never writes: acting on a verdict (cancel, roll back) is the caller's job.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from releaser.errors import ApiError
from releaser.release.watch.clock import ServerClock
from releaser.release.watch.machine import QUEUED, WatchRules, WatchState, step
from releaser.release.watch.observer import Observer
from releaser.release.watch.pacing import (
    EVENTS,
    LOGS,
    PROBE,
    STATUS,
    WATCH_REQUESTS_PER_MINUTE,
    Cadence,
    RequestBudget,
    cadence_for,
)
from releaser.render.models import Deploy


@dataclass
class WatchResult:
    state: WatchState
    deploy: Deploy | None  # our deploy as last read


Progress = Callable[[str], None]
HEARTBEAT = 60.0  # server seconds without a note before saying we are still watching
UNTRUSTED_STATUS_INTERVAL = 0.25  # until the server's pace is known, sample it often


def watch(
    observer: Observer,
    rules: WatchRules,
    clock: ServerClock,
    *,
    started: float,
    progress: Progress | None = None,
    budget: RequestBudget | None = None,
    max_failed_ticks: int = 3,
) -> WatchResult:
    """Observe until ``step`` reaches a verdict. Raises ApiError if Render stays unreachable."""
    budget = budget or RequestBudget(
        WATCH_REQUESTS_PER_MINUTE, lambda: observer.client.request_count
    )
    state = WatchState.begin(started)
    last: dict[str, float] = {}
    failed_ticks = 0
    said = started
    while True:
        now = clock.now()
        budget.sync(now)
        intervals = _intervals(cadence_for(state, rules), clock)
        due = [s for s in _priority(state) if s in intervals and _is_due(s, intervals, last, now)]
        obs, fetched, problem = observer.observe(due, now, budget)
        for source in fetched:
            last[source] = now
        state = step(state, obs, rules)
        for note in state.notes:
            said = now
            if progress:
                progress(f"[{_clock_label(state)}] {note}")
        if state.verdict is not None:
            return WatchResult(state, observer.deploy)
        if progress and now - said >= HEARTBEAT:  # a silent 10-minute build looks like a hang
            said = now
            progress(f"[{_clock_label(state)}] still in progress, watching")
        failed_ticks = failed_ticks + 1 if problem is not None and not fetched else 0
        if problem is not None and failed_ticks >= max_failed_ticks:
            raise ApiError(
                f"lost contact with Render while watching deploy {observer.deploy_id}: "
                f"{problem.message}",
                "The deploy may still be in progress; check it with "
                f"'releaser status {observer.service_id}'",
            )
        clock.sleep(_next_wake(intervals, last, clock.now(), budget))


def _intervals(cadence: Cadence, clock: ServerClock) -> dict[str, float]:
    intervals = {STATUS: cadence.status, LOGS: cadence.logs, EVENTS: cadence.events}
    if cadence.probe is not None:
        intervals[PROBE] = cadence.probe
    if clock.rate is None:
        intervals[STATUS] = UNTRUSTED_STATUS_INTERVAL
    return intervals


def _priority(state: WatchState) -> tuple[str, ...]:
    # When the budget is tight, logs go first (a crash loop shows there), then the status.
    if state.phase == QUEUED:
        return (STATUS, LOGS, EVENTS)
    return (LOGS, STATUS, PROBE, EVENTS)


def _is_due(
    source: str, intervals: Mapping[str, float], last: Mapping[str, float], now: float
) -> bool:
    return source not in last or now - last[source] >= intervals[source]


def _next_wake(
    intervals: Mapping[str, float], last: Mapping[str, float], now: float, budget: RequestBudget
) -> float:
    """Server seconds until the next source is due (API sources also wait for the budget)."""
    free_at = budget.free_at(now)
    wakes = []
    for source, interval in intervals.items():
        due_at = last.get(source, now) + interval
        wakes.append(due_at if source == PROBE else max(due_at, free_at))
    return max(0.2, min(wakes) - now)


def _clock_label(state: WatchState) -> str:
    elapsed = int(state.now - state.started)
    return f"{elapsed // 60:d}:{elapsed % 60:02d} {state.phase}"
