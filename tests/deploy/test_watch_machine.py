"""The watcher's decisions as a pure function of what it observed; pacing; the server clock."""

from __future__ import annotations

import random
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from releaser.release.health import ProbeResult
from releaser.release.watch import (
    CADENCES,
    CRASH_LOOP,
    FAILED,
    HEALTHY,
    REQUESTS_PER_MINUTE,
    SUPERSEDED,
    TIMED_OUT,
    TURNED_BAD,
    LogLine,
    Observation,
    RequestBudget,
    ServerClock,
    WatchRules,
    WatchState,
    step,
)

T0 = 1_700_000_000.0
RULES = WatchRules(timeout=1200, soak=60)
OK = ProbeResult(True, "200 in 3 ms", 200)
DOWN = ProbeResult(False, "503 in 2 ms", 503)

CRASH = ("KeyError: 'DATABASE_URL'", "Application exited with code 1")


def run(observations: list[Observation], rules: WatchRules = RULES) -> WatchState:
    state = WatchState.begin(T0)
    for obs in observations:
        state = step(state, obs, rules)
        if state.verdict:
            break
    return state


def crash_lines(at: float, n: int) -> tuple[LogLine, ...]:
    return tuple(
        LogLine(f"crash-{n}-{i}", at + i * 0.01, text, "error", "app")
        for i, text in enumerate(CRASH)
    )


def test_one_crash_is_not_a_loop_but_a_repeat_is() -> None:
    """A single crash could be a fluke; the same fatal error again means a crash loop."""
    first = run([Observation(T0 + 100, "update_in_progress", lines=crash_lines(T0 + 99, 1))])
    assert first.verdict is None
    both = run(
        [
            Observation(T0 + 100, "update_in_progress", lines=crash_lines(T0 + 99, 1)),
            Observation(T0 + 106, lines=crash_lines(T0 + 105, 2)),
        ]
    )
    assert both.verdict == CRASH_LOOP
    assert both.diagnosis is not None and both.diagnosis.summary == "DATABASE_URL is not set"


def test_lines_of_one_crash_are_one_occurrence() -> None:
    """A traceback quotes the failing line and then raises: still one crash."""
    lines = (
        LogLine("a", T0 + 10.0, "    DATABASE_URL = os.environ['DATABASE_URL']", "error", "app"),
        LogLine("b", T0 + 10.1, "KeyError: 'DATABASE_URL'", "error", "app"),
    )
    assert run([Observation(T0 + 11, "update_in_progress", lines=lines)]).verdict is None


def test_duplicated_lines_count_once() -> None:
    """The same log id seen twice (overlapping windows, a retried page) is one line."""
    lines = crash_lines(T0 + 99, 1)
    state = run(
        [
            Observation(T0 + 100, "update_in_progress", lines=lines + lines),
            Observation(T0 + 106, lines=lines),
        ]
    )
    assert state.verdict is None


def test_progress_tells_each_line_text_once() -> None:
    """A crash loop repeats its traceback; the progress shows it the first time only."""
    state = WatchState.begin(T0)
    told: list[str] = []
    for n in range(1, 4):
        lines = (
            LogLine(f"t{n}", T0 + 10 * n, "Traceback (most recent call last):", "error", "app"),
        )
        state = step(state, Observation(T0 + 10 * n + 1, lines=lines), WatchRules(crash_repeats=9))
        told += state.notes
    assert [n for n in told if n.startswith("log:")] == ["log: Traceback (most recent call last):"]


def test_build_errors_explain_but_do_not_loop() -> None:
    """Build output fails the build on its own; it is never a crash loop to cancel."""
    lines = tuple(
        LogLine(f"b{i}", T0 + i * 5, "ModuleNotFoundError: No module named 'x'", "error", "build")
        for i in range(5)
    )
    state = run([Observation(T0 + 30, "build_in_progress", lines=lines)])
    assert state.verdict is None
    failed = run(
        [
            Observation(T0 + 30, "build_in_progress", lines=lines),
            Observation(T0 + 40, "build_failed"),
        ]
    )
    assert failed.verdict == FAILED
    assert failed.diagnosis is not None and failed.diagnosis.summary == "no module named x"


def db_start(n: int, dies: bool) -> tuple[LogLine, ...]:
    """One start of an app whose database refuses connections; it exits if ``dies``."""
    at = T0 + 10 * n
    lines = [
        LogLine(f"r{n}", at, "==> Running 'node server.js'", "info", "app"),
        LogLine(f"d{n}", at + 1, "Error: connect ECONNREFUSED 10.0.0.5:5432", "error", "app"),
    ]
    if dies:
        lines.append(LogLine(f"x{n}", at + 2, "==> Exited with status 1", "error", "app"))
    return tuple(lines)


def test_database_errors_without_a_restart_are_not_a_crash_loop() -> None:
    """The same ECONNREFUSED many times in one start is an app retrying, not a loop."""
    lines = db_start(1, dies=False) + tuple(
        LogLine(f"again{i}", T0 + 12 + i * 3, "Error: connect ECONNREFUSED 10.0.0.5:5432", "error")
        for i in range(6)
    )
    assert run([Observation(T0 + 40, "update_in_progress", lines=lines)]).verdict is None


def test_transient_database_errors_need_one_more_restart() -> None:
    """An app dying on a database that is still starting gets one more start than others."""
    two = run(
        [Observation(T0 + 25, "update_in_progress", lines=db_start(1, True) + db_start(2, True))]
    )
    assert two.verdict is None
    three = run(
        [
            Observation(
                T0 + 35,
                "update_in_progress",
                lines=db_start(1, True) + db_start(2, True) + db_start(3, True),
            )
        ]
    )
    assert three.verdict == CRASH_LOOP
    assert "3 separate starts" in three.reason


def test_warnings_from_every_worker_are_never_decisive() -> None:
    """Each of four workers warns about an optional variable: harmless, and said so."""
    lines = tuple(
        LogLine(f"w{i}", T0 + 20 + i, "WARNING: REDIS_URL is not set, caching disabled", "warning")
        for i in range(4)
    )
    state = run([Observation(T0 + 30, "update_in_progress", lines=lines)])
    assert state.verdict is None and state.findings == ()
    assert any("never decisive" in item for item in state.harmless)


def test_a_crash_after_live_turns_it_bad_while_health_still_answers() -> None:
    """During the soak the process dies once; the probes still pass: roll back anyway."""
    observations = [Observation(T0 + 100, "live", live_since=T0 + 98, probe=OK)]
    observations += [Observation(T0 + 100 + 5 * i, probe=OK) for i in range(1, 3)]
    crash = (
        LogLine("c1", T0 + 112, "panic: runtime error: index out of range [3]", "error", "app"),
        LogLine("c2", T0 + 112.1, "==> Exited with status 2", "error", "app"),
    )
    observations.append(Observation(T0 + 115, lines=crash, probe=OK))
    state = run(observations)
    assert state.verdict == TURNED_BAD
    assert state.reason == "the new version crashed after going live (while health still answered)"
    assert any("panic" in item for item in state.evidence)


def test_live_then_soak_passes_with_consecutive_good_probes() -> None:
    """Healthy = live, the soak window elapsed, and the last N probes were 2xx/3xx."""
    observations = [Observation(T0 + 100, "live", live_since=T0 + 98)]
    observations += [Observation(T0 + 100 + 5 * i, probe=OK) for i in range(1, 14)]
    state = run(observations)
    assert state.verdict == HEALTHY
    assert [p for p, _ in state.phase_timings()] == ["queued", "soak"]


def test_startup_noise_before_live_does_not_count_after_live() -> None:
    """Errors before Render's own health check passed are not held against the live version."""
    observations = [
        Observation(T0 + 50, "update_in_progress", lines=crash_lines(T0 + 49, 1)),
        Observation(T0 + 100, "live", live_since=T0 + 98, lines=crash_lines(T0 + 60, 2)),
    ]
    observations += [Observation(T0 + 100 + 5 * i, probe=OK) for i in range(1, 14)]
    assert run(observations).verdict == HEALTHY


def test_failing_probes_after_live_turn_it_bad() -> None:
    """N consecutive failed probes during the soak = roll back."""
    observations = [Observation(T0 + 100, "live", probe=OK)]
    observations += [Observation(T0 + 100 + 5 * i, probe=DOWN) for i in range(1, 4)]
    state = run(observations)
    assert state.verdict == TURNED_BAD
    assert state.reason == "health check failed 3 times in a row (503 in 2 ms)"


def test_flapping_health_is_bad_when_it_does_not_settle() -> None:
    """Alternating answers never make a streak: after soak + settle, it is bad."""
    observations = [Observation(T0 + 100, "live")]
    observations += [
        Observation(T0 + 100 + 5 * i, probe=OK if i % 2 else DOWN) for i in range(1, 40)
    ]
    assert run(observations).verdict == TURNED_BAD


def test_a_rollback_seen_live_late_gets_its_probes_before_a_settle_verdict() -> None:
    """Live noticed after soak + settle had passed (a starved request budget): healthy answers
    still make it healthy; it is not 'did not settle' before it could answer three times."""
    late = T0 + 100 + RULES.soak + RULES.settle + 1
    observations = [Observation(T0 + 100, "live")]
    observations += [Observation(late + 5 * i, probe=OK) for i in range(3)]
    assert run(observations).verdict == HEALTHY
    flapping = [Observation(T0 + 100, "live")]
    flapping += [Observation(late + 5 * i, probe=OK if i % 2 else DOWN) for i in range(3)]
    state = run(flapping)
    assert state.verdict == TURNED_BAD and "did not settle" in state.reason


def test_a_worker_without_url_is_judged_by_logs_and_status() -> None:
    """No health URL: live for the soak without crashing is healthy."""
    rules = WatchRules(soak=60, probing=False)
    observations = [Observation(T0 + 100, "live"), Observation(T0 + 161)]
    assert run(observations, rules).verdict == HEALTHY


def test_a_newer_deploy_supersedes_the_watch() -> None:
    """An autodeploy or a colleague started another deploy: stop, touch nothing."""
    state = run([Observation(T0 + 30, "build_in_progress", newer_deploy="dep-other")])
    assert state.verdict == SUPERSEDED
    assert "dep-other" in state.reason


def test_still_in_progress_at_the_timeout() -> None:
    """A deploy that never finishes is abandoned at --timeout."""
    state = run([Observation(T0 + 1201, "build_in_progress")])
    assert state.verdict == TIMED_OUT


def test_phases_only_move_forward() -> None:
    """A stale status read (out of order) does not rewind the phase."""
    state = run(
        [Observation(T0 + 10, "update_in_progress"), Observation(T0 + 20, "build_in_progress")]
    )
    assert state.phase == "update"


# --- properties over generated deploy timelines --------------------------------------------


@dataclass(frozen=True)
class Timeline:
    """A simulated deploy: what Render's status, logs and health would show at any time."""

    kind: str  # healthy, crash_loop, unhealthy, build_failed
    build: float
    update: float
    repeat: float
    unhealthy_after: float

    def status(self, t: float) -> str:
        if t < 2:
            return "queued"
        if t < self.build:
            return "build_in_progress"
        if self.kind == "build_failed":
            return "build_failed"
        if self.kind == "crash_loop":
            return "update_in_progress" if t < self.build + 900 else "update_failed"
        return "update_in_progress" if t < self.build + self.update else "live"

    def lines(self) -> list[LogLine]:
        out = [LogLine(f"b{i}", T0 + i, "Collecting flask", "info", "build") for i in range(3)]
        live = self.build + self.update
        if self.kind == "build_failed":
            out.append(
                LogLine(
                    "bf", T0 + self.build - 1, "ERROR: No matching distribution", "error", "build"
                )
            )
        elif self.kind == "crash_loop":
            n = 0
            t = self.build + 3
            while t < self.build + 900:
                out += list(crash_lines(T0 + t, n))
                n += 1
                t += self.repeat
        else:
            out += [
                LogLine(f"s{i}", T0 + self.build + i, "[INFO] Booting worker", "info", "app")
                for i in range(3)
            ]
            out.append(LogLine("live", T0 + live, "==> Your service is live 🎉", "info", "app"))
            if self.kind == "unhealthy":
                t, n = live + self.unhealthy_after, 0
                while t < live + 2000:
                    msg = "[ERROR] GET /healthz 503: database connection pool exhausted"
                    out.append(LogLine(f"u{n}", T0 + t, msg, "error", "app"))
                    t, n = t + self.repeat, n + 1
        return out

    def healthy_at(self, t: float) -> bool:
        live = self.build + self.update
        return not (self.kind == "unhealthy" and t >= live + self.unhealthy_after)


timelines = st.builds(
    Timeline,
    kind=st.sampled_from(["healthy", "crash_loop", "unhealthy", "build_failed"]),
    build=st.floats(10, 300),
    update=st.floats(5, 60),
    repeat=st.floats(2, 30),
    unhealthy_after=st.floats(0, 40),
)


def observe(timeline: Timeline, seed: int, duplicate: bool) -> WatchState:
    """Poll the timeline at random moments with random sources missing (faults), shuffled
    and (optionally) duplicated log pages, and fold everything through ``step``."""
    rng = random.Random(seed)
    all_lines = timeline.lines()
    state = WatchState.begin(T0)
    t = 0.0
    cursor = 0.0
    for _ in range(3000):
        t += rng.uniform(0.5, 10.0)
        status = timeline.status(t) if rng.random() < 0.6 else None
        lines: list[LogLine] = []
        if rng.random() < 0.6:
            lines = [ln for ln in all_lines if cursor - 10 <= ln.at - T0 <= t]
            cursor = t
            if duplicate:
                lines += rng.sample(lines, k=len(lines) // 2)
            rng.shuffle(lines)
        live_now = timeline.status(t) == "live"
        probe = None
        if live_now and rng.random() < 0.8:
            probe = OK if timeline.healthy_at(t) else DOWN
        state = step(state, Observation(T0 + t, status, lines=tuple(lines), probe=probe), RULES)
        if state.verdict:
            return state
    raise AssertionError("no verdict after 3000 ticks")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(timeline=timelines, seed=st.integers(0, 2**32 - 1), duplicate=st.booleans())
def test_healthy_is_never_condemned_and_failing_is_always_caught(
    timeline: Timeline, seed: int, duplicate: bool
) -> None:
    """Whatever the polling pattern, dropped fetches, shuffled or duplicated log lines:
    a healthy deploy ends HEALTHY, a crash loop is caught (before Render's timeout or by it),
    a deploy that turns unhealthy after live is TURNED_BAD, a failed build is FAILED."""
    state = observe(timeline, seed, duplicate)
    expected = {
        "healthy": {HEALTHY},
        "crash_loop": {CRASH_LOOP, FAILED},
        "unhealthy": {TURNED_BAD},
        "build_failed": {FAILED},
    }[timeline.kind]
    if timeline.kind == "unhealthy" and timeline.unhealthy_after >= RULES.soak:
        expected = {HEALTHY, TURNED_BAD}  # it may pass the soak before turning bad
    assert state.verdict in expected, (state.verdict, state.reason)


@settings(max_examples=60, deadline=None)
@given(timeline=timelines, seed=st.integers(0, 2**32 - 1))
def test_duplicates_never_change_the_verdict(timeline: Timeline, seed: int) -> None:
    """De-duplication by log id: the same polling with duplicated pages decides the same."""
    assert observe(timeline, seed, False).verdict == observe(timeline, seed, True).verdict


# --- pacing ---------------------------------------------------------------------------------


def test_every_phase_cadence_fits_the_request_budget() -> None:
    """Status + logs + events per minute stay within 30 in every phase (before stretching)."""
    for phase, cadence in CADENCES.items():
        per_minute = 60 / cadence.status + 60 / cadence.logs + 60 / cadence.events
        assert per_minute <= REQUESTS_PER_MINUTE, (phase, per_minute)


@given(st.lists(st.tuples(st.floats(0, 5), st.integers(1, 4)), max_size=200))
def test_the_budget_never_allows_more_than_its_rate_in_any_minute(
    spends: list[tuple[float, int]],
) -> None:
    """Whatever the spending pattern, what allows() admits fits any 60-second window."""
    budget = RequestBudget(per_minute=30)
    now, admitted = 0.0, []
    for gap, cost in spends:
        now += gap
        if budget.allows(now, cost):
            budget.spend(now, cost)
            admitted.append((now, cost))
        assert budget.free_at(now, cost) >= now
    for at, _ in admitted:
        window = sum(c for t, c in admitted if at - 60 < t <= at)
        assert window <= 30


# --- the server clock -------------------------------------------------------------------------


class FakeTime:
    """Real time that tests move, and a server whose Date runs ``scale`` times faster."""

    def __init__(self, scale: float) -> None:
        self.real = 1000.0
        self.scale = scale
        self.server_offset = 0.0  # what the client learnt at the last response
        self.slept: list[float] = []

    def respond(self) -> None:
        server = T0 + (self.real - 1000.0) * self.scale
        self.server_offset = float(int(server)) - self.real  # Date: whole seconds

    def read(self):  # type: ignore[no-untyped-def]
        from datetime import UTC, datetime

        return datetime.fromtimestamp(self.real + self.server_offset, UTC)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.real += seconds


def test_the_clock_learns_a_scaled_server_and_sleeps_in_its_time() -> None:
    """Against a server running 20x, a 5 s server interval is a 0.25 s real sleep."""
    fake = FakeTime(scale=20)
    clock = ServerClock(
        fake.read, monotonic=lambda: fake.real, wall=lambda: fake.real, sleep=fake.sleep
    )
    fake.respond()
    clock.now()
    assert clock.rate is None
    for _ in range(20):
        fake.real += 0.1
        fake.respond()
        clock.now()
    assert clock.rate is not None and 17 <= clock.rate <= 20
    clock.sleep(5.0)
    assert 0.24 <= fake.slept[-1] <= 0.3


def test_the_clock_never_speeds_up_a_real_server() -> None:
    """Against Render (scale 1, Dates truncated to the second), the rate stays 1."""
    fake = FakeTime(scale=1)
    clock = ServerClock(
        fake.read, monotonic=lambda: fake.real, wall=lambda: fake.real, sleep=fake.sleep
    )
    for _ in range(30):
        fake.respond()
        clock.now()
        fake.real += 0.7
    assert clock.rate == 1.0
    before = clock.now()
    fake.real += 3
    assert clock.now() - before == 3  # extrapolated between responses at our own pace


def test_until_the_rate_is_known_sleeps_are_short() -> None:
    """A first sleep must not be a whole interval of real time: the server may be scaled."""
    fake = FakeTime(scale=50)
    clock = ServerClock(
        fake.read, monotonic=lambda: fake.real, wall=lambda: fake.real, sleep=fake.sleep
    )
    fake.respond()
    clock.now()
    clock.sleep(10)
    assert fake.slept == [ServerClock.UNTRUSTED_MAX_SLEEP]


def test_the_budget_counts_every_request_the_client_made() -> None:
    """Retries, 429s, the deploy POST and its looks all count, not only the watcher's reads."""
    made = [5]  # before the budget existed: not counted
    budget = RequestBudget(30, lambda: made[0])
    made[0] += 28  # a POST, looks that found it, reads with retries
    budget.sync(T0)
    assert budget.allows(T0, 2) and not budget.allows(T0, 3)
    assert budget.allows(T0 + 60.5, 30)


def test_a_soak_does_not_end_healthy_while_log_lines_are_still_unread() -> None:
    """A busy log read to its page limit may hide a crash: wait until the reads catch up."""
    observations = [Observation(T0 + 100, "live", live_since=T0 + 98)]
    observations += [Observation(T0 + 100 + 5 * i, probe=OK, logs_behind=True) for i in range(14)]
    behind = run(observations)
    assert behind.verdict is None
    caught_up = run([*observations, Observation(T0 + 175, probe=OK, logs_behind=False)])
    assert caught_up.verdict == HEALTHY


def test_a_failed_pre_deploy_is_quoted_even_when_its_phase_was_never_polled() -> None:
    """Build, then pre_deploy_failed: the migration's own lines explain it."""
    lines = (
        LogLine(
            "p1", T0 + 30, "==> Running pre-deploy command 'rails db:migrate'", "info", "build"
        ),
        LogLine(
            "p2",
            T0 + 31,
            "PG::DuplicateColumn: ERROR: column total already exists",
            "error",
            "build",
        ),
        LogLine("p3", T0 + 32, "==> Pre-deploy has failed: exited with status 1", "error", "build"),
    )
    state = run(
        [
            Observation(T0 + 20, "build_in_progress"),
            Observation(T0 + 35, "pre_deploy_failed", lines=lines),
        ]
    )
    assert state.verdict == FAILED and "pre-deploy" in state.reason
    assert any("DuplicateColumn" in line for line in state.pre_deploy_lines)
