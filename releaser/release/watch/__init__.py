"""Watching one deploy until a verdict: status, logs, events and health, on the server's clock.

Four jobs, one module each:

* ``machine``: ``step(state, observation, rules) -> state`` is a pure function. It folds what
  was seen (a status, new log lines, a deploy_ended reason, a health probe) into the state and
  sets a verdict when one is due. Property tests drive it directly.
* ``pacing``: how often each source is read in each phase, within a request budget.
* ``clock``: the API server's clock, extrapolated between responses at the rate it runs.
* ``observer``: reads the deploy's status, log window and events. Never writes.

``loop.watch()`` ties them together: it fetches observations at an adaptive pace and feeds
``step``. It never writes: acting on a verdict (cancel, roll back) is the caller's job.

All times are epoch seconds on the API server's clock: Render's log windows are its own, and
the simulator runs scaled time (a 60 s soak can pass in 3 real seconds).
"""

from releaser.release.watch.clock import NEW_RESPONSE_SECONDS, ServerClock
from releaser.release.watch.loop import (
    HEARTBEAT,
    UNTRUSTED_STATUS_INTERVAL,
    Progress,
    WatchResult,
    watch,
)
from releaser.release.watch.machine import (
    BUILD,
    CANCELED,
    CRASH_LOOP,
    FAILED,
    HARMLESS_WHY,
    HEALTHY,
    PHASE_OF_STATUS,
    PHASE_ORDER,
    PRE_DEPLOY,
    QUEUED,
    SAME_CRASH_SECONDS,
    SOAK,
    SUPERSEDED,
    TIMED_OUT,
    TURNED_BAD,
    UPDATE,
    LogLine,
    Observation,
    WatchRules,
    WatchState,
    crash_looping,
    step,
)
from releaser.release.watch.observer import (
    LOG_OVERLAP,
    MAX_LOG_PAGES,
    OLD_INSTANCE_LOOKBACK,
    Observer,
    log_owner,
)
from releaser.release.watch.pacing import (
    CADENCES,
    EVENTS,
    LOGS,
    PROBE,
    REQUESTS_PER_MINUTE,
    STATUS,
    SUSPECT_LOGS,
    WATCH_REQUESTS_PER_MINUTE,
    Cadence,
    RequestBudget,
    cadence_for,
)

__all__ = [
    "BUILD",
    "CADENCES",
    "CANCELED",
    "CRASH_LOOP",
    "EVENTS",
    "FAILED",
    "HARMLESS_WHY",
    "HEALTHY",
    "HEARTBEAT",
    "LOGS",
    "LOG_OVERLAP",
    "MAX_LOG_PAGES",
    "NEW_RESPONSE_SECONDS",
    "OLD_INSTANCE_LOOKBACK",
    "PHASE_OF_STATUS",
    "PHASE_ORDER",
    "PRE_DEPLOY",
    "PROBE",
    "QUEUED",
    "REQUESTS_PER_MINUTE",
    "SAME_CRASH_SECONDS",
    "SOAK",
    "STATUS",
    "SUPERSEDED",
    "SUSPECT_LOGS",
    "TIMED_OUT",
    "TURNED_BAD",
    "UNTRUSTED_STATUS_INTERVAL",
    "UPDATE",
    "WATCH_REQUESTS_PER_MINUTE",
    "Cadence",
    "LogLine",
    "Observation",
    "Observer",
    "Progress",
    "RequestBudget",
    "ServerClock",
    "WatchResult",
    "WatchRules",
    "WatchState",
    "cadence_for",
    "crash_looping",
    "log_owner",
    "step",
    "watch",
]
