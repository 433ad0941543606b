"""Watching one deploy until a verdict: status, logs, events and health, on the server's clock.

Two halves:

* ``step(state, observation, rules) -> state`` is a pure function. It folds what was seen
  (a status, new log lines, a deploy_ended reason, a health probe) into the state and sets
  a verdict when one is due. Property tests drive it directly.
* ``watch()`` is the loop that fetches observations at an adaptive pace and feeds ``step``.
  It never writes: acting on a verdict (cancel, roll back) is the caller's job.

All times are epoch seconds on the API server's clock: Render's log windows are its own, and
the simulator runs scaled time (a 60 s soak can pass in 3 real seconds).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from releaser import timebase
from releaser.errors import ApiError, ReleaserError, UsageError
from releaser.output import redact
from releaser.release.classify import (
    DEATH,
    RENDER_START,
    RETRY,
    START,
    SUBPROCESS,
    SUCCESS,
    TRANSIENT_CAUSES,
    WARNING,
    Diagnosis,
    Finding,
    classify_line,
    diagnose,
    line_role,
)
from releaser.release.health import HealthProber, ProbeResult
from releaser.render.client import RenderClient
from releaser.render.models import FAILED_STATUSES, Deploy, LogEntry, Service

# --- phases and verdicts ------------------------------------------------------------------

QUEUED, BUILD, PRE_DEPLOY, UPDATE, SOAK = "queued", "build", "pre_deploy", "update", "soak"
PHASE_ORDER = {QUEUED: 0, BUILD: 1, PRE_DEPLOY: 2, UPDATE: 3, SOAK: 4}
PHASE_OF_STATUS = {
    "created": QUEUED,
    "queued": QUEUED,
    "build_in_progress": BUILD,
    "pre_deploy_in_progress": PRE_DEPLOY,
    "update_in_progress": UPDATE,
    "live": SOAK,
}

HEALTHY = "healthy"  # live, soaked, probes passing
CRASH_LOOP = "crash_loop"  # fatal startup errors repeating while Render still tries
TURNED_BAD = "turned_bad"  # went live, then failed probes or started crashing
FAILED = "failed"  # Render marked it failed (build_failed, update_failed, ...)
CANCELED = "canceled"  # canceled, not by us
SUPERSEDED = "superseded"  # a newer deploy (autodeploy, a colleague) replaced it
TIMED_OUT = "timed_out"  # still in progress at --timeout

SAME_CRASH_SECONDS = 1.0  # lines of one cause closer than this belong to the same crash


@dataclass(frozen=True)
class WatchRules:
    timeout: float = 1200.0  # seconds from the start until an in-progress deploy is abandoned
    soak: float = 60.0  # seconds after live during which health and logs must stay good
    healthy_probes: int = 3  # consecutive 2xx/3xx probes needed to call it healthy
    unhealthy_probes: int = 3  # consecutive failed probes that mean it turned bad
    crash_repeats: int = 2  # the same fatal startup error this often = a crash loop
    probing: bool = True  # False when the service has no URL (a worker): judge by logs
    extra_patterns: tuple[str, ...] = ()  # releaser.toml startup_error_patterns

    @property
    def settle(self) -> float:
        # After the soak, how long flapping probes may take to settle before we call it bad.
        return max(self.soak, 30.0)


@dataclass(frozen=True)
class LogLine:
    id: str
    at: float
    message: str
    level: str | None = None
    type: str | None = None  # "app", "build", ... (Render's log type label)
    instance: str | None = None

    @classmethod
    def from_entry(cls, entry: LogEntry) -> LogLine:
        at = entry.timestamp.timestamp() if entry.timestamp else 0.0
        return cls(entry.id, at, entry.message, entry.level, entry.type, entry.label("instance"))


@dataclass(frozen=True)
class Observation:
    """What one tick saw. A None field was not fetched this tick."""

    at: float
    status: str | None = None
    live_since: float | None = None  # the deploy's finishedAt once live
    newer_deploy: str | None = None  # a deploy created after ours
    lines: tuple[LogLine, ...] = ()
    failure_reason: str | None = None  # from our deploy's deploy_ended event
    probe: ProbeResult | None = None
    unavailable: str | None = None  # logs or events could not be read this tick: why
    server_failures: tuple[float, ...] = ()  # times of server_failed events in the window
    logs_behind: bool | None = None  # the log read stopped before the newest line


@dataclass(frozen=True)
class WatchState:
    started: float
    now: float = 0.0
    status: str | None = None
    phase: str = QUEUED
    phases: tuple[tuple[str, float], ...] = ()  # (phase, entered at)
    live_at: float | None = None
    findings: tuple[Finding, ...] = ()  # what failing lines look like (the cause), not harmless
    # Evidence that the process restarts, since the start (or since live, once live):
    starts: Mapping[str, int] = field(default_factory=dict)  # start markers per instance
    render_starts: frozenset[str] = frozenset()  # instances where Render marks each start
    fatal_starts: Mapping[str, frozenset[tuple[str, int]]] = field(default_factory=dict)
    deaths: tuple[float, ...] = ()  # when the main process died (exit markers, OOM kills)
    server_failures: frozenset[float] = frozenset()  # server_failed events after live
    evidence: tuple[str, ...] = ()  # for the report: what the verdict rests on
    harmless: tuple[str, ...] = ()  # for the report: what was seen, judged harmless, and why
    pre_deploy_lines: tuple[str, ...] = ()  # the pre-deploy command's last lines
    recent_errors: tuple[str, ...] = ()  # the last error-level lines, to quote at a death
    death_lines: tuple[str, ...] = ()  # the error lines that preceded each death
    unavailable: frozenset[str] = frozenset()  # sources that could not be read (logs, events)
    logs_behind: bool = False  # unread log lines wait: do not call it healthy on old news
    seen: frozenset[str] = frozenset()  # log ids already folded in
    shown: frozenset[str] = frozenset()  # line texts already told (a loop repeats them)
    ok_streak: int = 0
    fail_streak: int = 0
    probes: int = 0
    last_probe: str = ""
    failure_reason: str | None = None
    newer_deploy: str | None = None
    verdict: str | None = None
    reason: str = ""
    notes: tuple[str, ...] = ()  # what this step found worth telling a human

    @classmethod
    def begin(cls, started: float) -> WatchState:
        return cls(started=started, now=started, phases=((QUEUED, started),))

    @property
    def diagnosis(self) -> Diagnosis | None:
        return diagnose(self.findings)

    @property
    def suspect(self) -> bool:
        """A fatal-looking line or a death was seen: look at the logs sooner."""
        return bool(self.fatal_starts or self.deaths)

    def phase_timings(self) -> list[tuple[str, float]]:
        """Seconds spent in each phase seen, in order; the last ends now."""
        timings = []
        for index, (phase, entered) in enumerate(self.phases):
            ends = self.phases[index + 1][1] if index + 1 < len(self.phases) else self.now
            timings.append((phase, max(0.0, ends - entered)))
        return timings


def _signature(finding: Finding) -> str:
    return f"{finding.cause}:{finding.summary}"


def _threshold(cause: str | None, rules: WatchRules) -> int:
    # A database that is still starting can fail one more start before it counts.
    return rules.crash_repeats + (1 if cause in TRANSIENT_CAUSES else 0)


def crash_looping(state: WatchState, rules: WatchRules) -> str | None:
    """The evidence that the process keeps restarting, or None.

    Words alone never decide: the same fatal error in two separate starts, or the process
    dying twice (exit markers, OOM kills) while Render keeps restarting it.
    """
    for signature, starts in state.fatal_starts.items():
        if len(starts) >= _threshold(signature.split(":", 1)[0], rules):
            return f"the same fatal error in {len(starts)} separate starts"
    diagnosis = state.diagnosis
    if len(state.deaths) >= _threshold(diagnosis.cause if diagnosis else None, rules):
        return f"the process died {len(state.deaths)} times while Render kept restarting it"
    return None


def step(state: WatchState, obs: Observation, rules: WatchRules) -> WatchState:
    """Fold one observation into the state; set ``verdict`` when the evidence is enough."""
    if state.verdict is not None:
        return state
    notes: list[str] = []
    current = replace(state, now=max(state.now, obs.at), notes=())
    if obs.status is not None:
        current = _apply_status(current, obs, notes)
    if obs.newer_deploy and current.newer_deploy is None:
        current = replace(current, newer_deploy=obs.newer_deploy)
    if obs.failure_reason and current.failure_reason != obs.failure_reason:
        current = replace(current, failure_reason=obs.failure_reason)
        notes.append(f"Render reports: {obs.failure_reason}")
    if obs.unavailable:
        source = obs.unavailable.split(" ", 1)[0]
        if source not in current.unavailable:
            notes.append(f"{obs.unavailable}: judging by the deploy status and health")
            current = replace(
                current,
                unavailable=current.unavailable | {source},
                harmless=(*current.harmless, f"{obs.unavailable}; verdict from status and health"),
            )
    if obs.server_failures:
        current = _apply_server_failures(current, obs.server_failures, notes)
    if obs.logs_behind is not None:
        current = replace(current, logs_behind=obs.logs_behind)
    if obs.lines:
        current = _apply_lines(current, obs.lines, rules, notes)
    if obs.probe is not None and current.phase == SOAK:
        current = _apply_probe(current, obs.probe, notes)
    verdict, reason = _decide(current, rules)
    return replace(current, verdict=verdict, reason=reason, notes=tuple(notes))


def _enter(state: WatchState, phase: str, at: float, notes: list[str]) -> WatchState:
    if PHASE_ORDER[phase] <= PHASE_ORDER[state.phase]:
        return state  # phases only move forward; a stale read must not rewind them
    notes.append(f"phase {phase}")
    return replace(state, phase=phase, phases=(*state.phases, (phase, at)))


def _backdate(state: WatchState, phase: str, at: float) -> WatchState:
    """Move ``phase``'s start back to ``at`` when a log line shows it began before we polled."""
    phases = list(state.phases)
    for index, (name, entered) in enumerate(phases):
        floor = phases[index - 1][1] if index else state.started
        if name == phase and floor <= at < entered:
            phases[index] = (name, at)
    return replace(state, phases=tuple(phases))


def _apply_status(state: WatchState, obs: Observation, notes: list[str]) -> WatchState:
    status = obs.status
    current = replace(state, status=status)
    phase = PHASE_OF_STATUS.get(status or "")
    if phase is None:
        return current
    if phase == SOAK and current.live_at is None:
        live_at = obs.at
        if obs.live_since is not None:
            live_at = min(obs.at, max(state.started, obs.live_since))
        current = _enter(current, SOAK, live_at, notes)
        # Judge the live version on what it does once live: startup noise before it passed
        # Render's own health check does not count against it.
        deaths = tuple(t for t in current.deaths if t >= live_at)
        return replace(
            current, live_at=live_at, fatal_starts={}, deaths=deaths, ok_streak=0, fail_streak=0
        )
    return _enter(current, phase, obs.at, notes)


def _apply_server_failures(
    state: WatchState, failures: Iterable[float], notes: list[str]
) -> WatchState:
    """Render's server_failed events count once our version is live (before, they may be the
    old instance's)."""
    if state.live_at is None:
        return state
    new = {t for t in failures if t >= state.live_at} - state.server_failures
    if not new:
        return state
    notes.append("Render reports the server failed after going live")
    return replace(
        state,
        server_failures=state.server_failures | new,
        evidence=(*state.evidence, f"event: server_failed {len(new)}x after live"),
    )


def _counts(line: LogLine, state: WatchState) -> bool:
    """Whether the line can show the new version failing (build output never does)."""
    if line.type == "build":
        return False  # a failing build fails on its own; its errors explain, not loop
    if state.phase == SOAK and state.live_at is not None:
        return line.at >= state.live_at
    return line.type == "app" or PHASE_ORDER[state.phase] >= PHASE_ORDER[PRE_DEPLOY]


class _Lines:
    """The mutable working copy of the line-derived state during one ``_apply_lines``."""

    def __init__(self, state: WatchState) -> None:
        self.seen = set(state.seen)
        self.shown = set(state.shown)
        self.starts = dict(state.starts)
        self.render_starts = set(state.render_starts)
        self.fatal_starts = {k: set(v) for k, v in state.fatal_starts.items()}
        self.deaths = list(state.deaths)
        self.findings = list(state.findings)
        self.evidence = list(state.evidence)
        self.harmless = list(state.harmless)
        self.pre_deploy = list(state.pre_deploy_lines)
        self.recent_errors = list(state.recent_errors)
        self.death_lines = list(state.death_lines)
        self.told = 0

    def tell(self, notes: list[str], text: str, tag: str = "") -> None:
        if text in self.shown or self.told >= 5:
            return
        self.shown.add(text)
        notes.append(f"log: {text}" + (f"  [{tag}]" if tag else ""))
        self.told += 1

    def judged_harmless(self, text: str, why: str) -> None:
        entry = f"{text}  ({why})"
        if entry not in self.harmless and len(self.harmless) < 20:
            self.harmless.append(entry)

    def state(self, state: WatchState) -> WatchState:
        return replace(
            state,
            seen=frozenset(self.seen),
            shown=frozenset(self.shown),
            starts=self.starts,
            render_starts=frozenset(self.render_starts),
            fatal_starts={k: frozenset(v) for k, v in self.fatal_starts.items()},
            deaths=tuple(self.deaths),
            findings=tuple(self.findings),
            evidence=tuple(self.evidence[-20:]),
            harmless=tuple(self.harmless),
            pre_deploy_lines=tuple(self.pre_deploy[-8:]),
            recent_errors=tuple(self.recent_errors[-3:]),
            death_lines=tuple(self.death_lines[:5]),
        )


HARMLESS_WHY = {
    WARNING: "a warning: never decisive on its own",
    RETRY: "retried by the app itself; not a failure unless the process dies",
    SUBPROCESS: "a worker, child or helper process exited; the main process kept running",
    SUCCESS: "the app came up after it",
}


def _apply_lines(
    state: WatchState, lines: Iterable[LogLine], rules: WatchRules, notes: list[str]
) -> WatchState:
    current = state
    work = _Lines(state)
    suspicion: dict[str, str] = {}  # instance -> a fatal line not yet followed by a death
    for line in sorted(lines, key=lambda entry: (entry.at, entry.id)):
        if line.id in work.seen:
            continue  # duplicates (overlapping windows, a retried page) count once
        work.seen.add(line.id)
        if line.type == "app" and current.phase in (QUEUED, BUILD, PRE_DEPLOY, UPDATE):
            # App output means the new instance is starting even if the status poll lags.
            current = _enter(current, UPDATE, line.at, notes)
            current = _backdate(current, UPDATE, line.at)
        text = line.message.strip()
        # The pre-deploy command's output, even when the status poll never saw the phase.
        in_pre_deploy = current.phase == PRE_DEPLOY or (
            line.type == "build" and (bool(work.pre_deploy) or "pre-deploy" in text.lower())
        )
        if in_pre_deploy and line.type != "request":
            work.pre_deploy.append(text)
        counts = _counts(line, current)
        role = line_role(text, line.level)
        if (
            counts
            and (line.level or "").lower() in ("error", "fatal", "critical")
            and (role is None)
        ):
            work.recent_errors = [*work.recent_errors[-2:], text]
        finding = classify_line(line.message, rules.extra_patterns)
        instance = line.instance or ""
        if role == START and counts:
            if text.startswith(RENDER_START):
                work.render_starts.add(instance)
            elif instance in work.render_starts:
                continue  # gunicorn/puma announcing the start Render already marked
            work.starts[instance] = work.starts.get(instance, 0) + 1
            if current.phase == SOAK:
                work.evidence.append(f"restart after live: {text}")
            suspicion.pop(instance, None)
            continue
        if role == DEATH and counts:
            if not work.deaths or line.at - work.deaths[-1] > SAME_CRASH_SECONDS:
                work.deaths.append(line.at)
                work.evidence.append(f"process died: {text}")
                # What it printed just before dying explains the death when no rule does.
                for before in work.recent_errors:
                    if before not in work.death_lines:
                        work.death_lines.append(before)
                work.recent_errors.clear()
            if finding is not None:
                work.findings.append(finding)
            work.tell(notes, text, finding.title if finding else "process died")
            continue
        if finding is None:
            if role == SUCCESS and instance in suspicion:
                work.judged_harmless(suspicion.pop(instance), HARMLESS_WHY[SUCCESS])
            elif (line.level or "").lower() in ("error", "fatal", "critical"):
                work.tell(notes, text)
            continue
        if role in (WARNING, RETRY, SUBPROCESS) or not counts:
            why = HARMLESS_WHY.get(role or "", "before this version went live")
            if line.type == "build" or current.phase in (BUILD, QUEUED):
                work.findings.append(finding)  # build errors explain a failed build
            else:
                work.judged_harmless(text, why)
            work.tell(notes, text, f"{finding.title}, {role or 'earlier'}")
            continue
        work.findings.append(finding)
        signature = _signature(finding)
        occurrences = work.fatal_starts.setdefault(signature, set())
        if (instance, work.starts.get(instance, 0)) not in occurrences:
            occurrences.add((instance, work.starts.get(instance, 0)))
            work.evidence.append(f"fatal in start {len(occurrences)}: {text}")
        suspicion[instance] = text
        work.tell(notes, text, finding.title)
    return work.state(current)


def _apply_probe(state: WatchState, probe: ProbeResult, notes: list[str]) -> WatchState:
    if probe.healthy:
        ok, fail = state.ok_streak + 1, 0
    else:
        ok, fail = 0, state.fail_streak + 1
    was_healthy = state.probes == 0 or state.fail_streak == 0
    if probe.healthy != was_healthy or state.probes == 0:
        notes.append(f"health {'ok' if probe.healthy else 'FAILING'}: {probe.detail}")
    return replace(
        state, ok_streak=ok, fail_streak=fail, probes=state.probes + 1, last_probe=probe.detail
    )


def _crashed_after_live(state: WatchState) -> str | None:
    """A crash or restart of the live version, found in the logs or events."""
    if state.live_at is None:
        return None
    if state.deaths:
        return "the new version crashed after going live"
    if state.server_failures:
        return "Render reports the server failed after going live"
    if any(item.startswith("restart after live") for item in state.evidence):
        return "the new version restarted after going live"
    return None


def _decide(state: WatchState, rules: WatchRules) -> tuple[str | None, str]:
    status = state.status
    if state.newer_deploy:
        return SUPERSEDED, f"a newer deploy {state.newer_deploy} started during the watch"
    if status == "pre_deploy_failed":
        return FAILED, "the pre-deploy command failed (Render marked the deploy pre_deploy_failed)"
    if status in FAILED_STATUSES:
        return FAILED, f"Render marked the deploy {status}"
    if status == "canceled":
        return CANCELED, "the deploy was canceled (not by releaser)"
    if status == "deactivated":
        return SUPERSEDED, "the deploy was replaced by a newer one"
    if state.phase == SOAK and state.live_at is not None:
        crashed = _crashed_after_live(state)
        if crashed and state.probes and state.fail_streak == 0:
            return TURNED_BAD, f"{crashed} (while health still answered)"
        if crashed:
            return TURNED_BAD, crashed
        if rules.probing and state.fail_streak >= rules.unhealthy_probes:
            return TURNED_BAD, (
                f"health check failed {state.fail_streak} times in a row ({state.last_probe})"
            )
        soaked = state.now - state.live_at
        # A busy log read to its page limit may hide a crash in the lines still unread: wait
        # for the reads to catch up (at most the settle time) before calling it healthy.
        caught_up = not state.logs_behind or soaked >= rules.soak + rules.settle
        if soaked >= rules.soak and caught_up:
            if not rules.probing or state.ok_streak >= rules.healthy_probes:
                if state.logs_behind:
                    return HEALTHY, (
                        f"live and healthy for {soaked:.0f}s; its log is too busy to read in "
                        "full within the request budget, so the newest lines were not judged"
                    )
                return HEALTHY, f"live and healthy for {soaked:.0f}s"
            if soaked >= rules.soak + rules.settle:
                return TURNED_BAD, f"health did not settle ({state.last_probe or 'no answer'})"
        return None, ""
    looping = crash_looping(state, rules)
    if looping:
        return CRASH_LOOP, f"crash loop: {looping}"
    if state.now - state.started >= rules.timeout:
        return TIMED_OUT, f"still {status or 'pending'} after {rules.timeout:.0f}s"
    return None, ""


# --- pacing ---------------------------------------------------------------------------------

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


# --- the server's clock ------------------------------------------------------------------


NEW_RESPONSE_SECONDS = 0.001  # an offset change smaller than this is two reads, not a response


class ServerClock:
    """The API server's time, extrapolated between responses at the rate it is seen to run.

    ``RenderClient.server_now()`` moves at our speed between responses; against the
    simulator's scaled time that would make a 60 s soak last a real minute. The rate is
    learnt from the Date headers (1 s resolution, hence the conservative estimate).
    """

    UNTRUSTED_MAX_SLEEP = 0.25  # real seconds: wake often until the rate is known

    def __init__(
        self,
        read_server: Callable[[], datetime],
        *,
        monotonic: Callable[[], float] = timebase.monotonic,
        wall: Callable[[], float] = timebase.wall,
        sleep: Callable[[float], None] = timebase.sleep,
    ) -> None:
        self._read = read_server
        self._mono = monotonic
        self._wall = wall
        self._sleep = sleep
        self._offset: float | None = None
        self._first: tuple[float, float] | None = None
        self._anchor: tuple[float, float] | None = None
        self._rate: float | None = None
        self._last = 0.0

    def _sample(self) -> None:
        server = self._read().timestamp()
        offset = server - self._wall()
        if self._offset is not None and abs(offset - self._offset) < NEW_RESPONSE_SECONDS:
            return  # no response since the last look: nothing new about the server
        self._offset = offset
        self._anchor = (self._mono(), server)
        if self._first is None:
            self._first = self._anchor
            return
        real = self._anchor[0] - self._first[0]
        seen = self._anchor[1] - self._first[1]
        if real >= 1.0 or seen >= 4.0:
            # Date headers truncate to the second: subtract one to never overestimate.
            self._rate = max(1.0, (seen - 1.0) / real) if real > 0 else None

    @property
    def rate(self) -> float | None:
        """Server seconds per real second, once known."""
        return self._rate

    def now(self) -> float:
        self._sample()
        assert self._anchor is not None
        mono, server = self._anchor
        estimate = server + (self._mono() - mono) * (self._rate or 1.0)
        self._last = max(self._last, estimate)
        return self._last

    def sleep(self, server_seconds: float) -> None:
        if server_seconds <= 0:
            return
        real = server_seconds / (self._rate or 1.0)
        if self._rate is None:
            real = min(real, self.UNTRUSTED_MAX_SLEEP)
        self._sleep(real)


# --- fetching observations ----------------------------------------------------------------

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
