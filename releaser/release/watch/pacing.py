"""The watcher's pace: how often each source is read per phase, within a request budget."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from releaser.release.watch.machine import (
    BUILD,
    PRE_DEPLOY,
    QUEUED,
    SOAK,
    UPDATE,
    WatchRules,
    WatchState,
)

STATUS, LOGS, EVENTS, PROBE = "status", "logs", "events", "probe"


@dataclass(frozen=True)
class Cadence:
    """Server seconds between fetches of each source; None = not in this phase."""

    status: float
    logs: float
    events: float
    probe: float | None = None


# About 20-29 API requests a minute in every phase, so ten releases at once stay under
# Render's 400 GET/min. Logs are the fast signal (a crash loop shows there first), so they
# get the budget while the new instance starts; status is the slow, authoritative one.
CADENCES = {
    QUEUED: Cadence(status=5, logs=10, events=30),
    BUILD: Cadence(status=6, logs=6, events=30),
    PRE_DEPLOY: Cadence(status=6, logs=4, events=30),
    UPDATE: Cadence(status=9, logs=3, events=30),
    SOAK: Cadence(status=10, logs=5, events=30, probe=5),
}
SUSPECT_LOGS = 2.0  # after a fatal line or a death, look sooner: the next start decides
REQUESTS_PER_MINUTE = 30
# The watch keeps 3 of the 30 for the reads around it (the deploy POST, confirming the
# outcome), so that no 60 s of a release makes more than 30 requests.
WATCH_REQUESTS_PER_MINUTE = 27


def cadence_for(state: WatchState, rules: WatchRules) -> Cadence:
    base = CADENCES[state.phase]
    in_phase = state.now - state.phases[-1][1] if state.phases else 0.0
    # A 10-minute build needs no 6-second polling: slow down while nothing happens.
    stretch = 1.0 if in_phase < 60 else 1.5 if in_phase < 180 else 2.0
    logs, status = base.logs * stretch, base.status * stretch
    if state.suspect and state.phase != SOAK:
        # The next start decides: spend the budget on the logs, the status can wait.
        logs, status = min(logs, SUSPECT_LOGS), status * 2
    return Cadence(
        status=status,
        logs=logs,
        events=base.events * stretch,
        probe=base.probe if rules.probing else None,
    )


class RequestBudget:
    """At most ``per_minute`` API requests in any 60 server-seconds of the watch.

    With ``counter`` (the client's request count), every request the client made counts,
    retries and 429s included, and the deploy POST and the looks that found it too, not only
    the watcher's own reads: ``sync`` books what was made since the last look.
    """

    def __init__(
        self, per_minute: int = REQUESTS_PER_MINUTE, counter: Callable[[], int] | None = None
    ) -> None:
        self.per_minute = per_minute
        self._spent: deque[tuple[float, int]] = deque()
        self._counter = counter
        self._counted = counter() if counter else 0

    @property
    def counts_client(self) -> bool:
        return self._counter is not None

    def sync(self, now: float) -> None:
        if self._counter is not None:
            count = self._counter()
            self.spend(now, count - self._counted)
            self._counted = count

    def _used(self, now: float) -> int:
        while self._spent and self._spent[0][0] <= now - 60:
            self._spent.popleft()
        return sum(n for _, n in self._spent)

    def room(self, now: float) -> int:
        """Requests that still fit in the current 60 s window."""
        return max(0, self.per_minute - self._used(now))

    def allows(self, now: float, cost: int = 1) -> bool:
        return self._used(now) + cost <= self.per_minute

    def spend(self, now: float, cost: int) -> None:
        if cost > 0:
            self._spent.append((now, cost))

    def free_at(self, now: float, cost: int = 1) -> float:
        """The earliest time ``cost`` more requests fit."""
        used = self._used(now)
        for at, n in self._spent:
            if used + cost <= self.per_minute:
                break
            used -= n
            now = at + 60
        return now
