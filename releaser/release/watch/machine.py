"""The watcher's state machine: ``step(state, observation, rules) -> state``, a pure function.

It folds what was seen (a status, new log lines, a deploy_ended reason, a health probe) into
the state and sets a verdict when one is due. Property tests drive it directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

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
from releaser.release.health import ProbeResult
from releaser.render.models import FAILED_STATUSES, LogEntry

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
            # Seen live late (a starved request budget; live_at is backdated to Render's
            # time), a healthy service has had no chance to answer healthy_probes times yet:
            # give it those probes before calling it unsettled (found by the fault property).
            probed = state.probes >= rules.healthy_probes
            if soaked >= rules.soak + rules.settle and (
                probed or soaked >= rules.soak + 2 * rules.settle
            ):
                return TURNED_BAD, f"health did not settle ({state.last_probe or 'no answer'})"
        return None, ""
    looping = crash_looping(state, rules)
    if looping:
        return CRASH_LOOP, f"crash loop: {looping}"
    if state.now - state.started >= rules.timeout:
        return TIMED_OUT, f"still {status or 'pending'} after {rules.timeout:.0f}s"
    return None, ""
