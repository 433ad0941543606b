"""Deploy-watch figures against the simulator (issue 17). Prints figures; asserts nothing.

1. Detection latency: seconds (server time) from the new instance's first fatal log line to
   releaser's verdict, for a crash loop on a quiet service and on a busy one (its old
   instance writes 40 access-log lines a second), at time scale 1 by default. The process
   restarts every --restart seconds; a verdict needs the second start, so that is the floor.
2. False alarms: the harmless scenarios of tests/deploy/scenarios (warnings from every
   worker, retries that succeed, worker recycles, helpers exiting 0, a busy secondary port,
   a handler exception, a busy old instance) run end to end on a virtual clock; any outcome
   but "healthy" is a false alarm.
3. Requests: the most API requests in any 60 server-seconds of each watched deploy above,
   and of a healthy busy deploy with a 60 s soak.

    .venv/bin/python benchmarks/bench_watch.py              # about 3 minutes
    .venv/bin/python benchmarks/bench_watch.py --runs 5     # more latency samples
"""

from __future__ import annotations

import argparse
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from releaser.config import Config
from releaser.release.classify import classify_line
from releaser.release.deploy import DeployOptions, execute_deploy, plan_deploy
from releaser.release.report import DeployReport
from releaser.release.watch import ServerClock
from releaser.render.client import RenderClient
from releaser.sim import SimServer, load_scenario

SCENARIOS = Path(__file__).resolve().parent.parent / "tests" / "deploy" / "scenarios"


def first_fatal_line(sim: SimServer, service_id: str, deploy_id: str) -> float:
    """The first classified line written by the new deploy's own instance."""
    with sim.state.lock:
        service = sim.state.service(service_id)
        instance = next(d.instance for d in service.deploys if d.id == deploy_id)
        for entry in sim.state.logs.entries:
            if entry.instance == instance and classify_line(entry.message):
                return entry.timestamp.timestamp()
    raise SystemExit("no fatal line found")


def max_per_minute(requests: list[Any], scale: float) -> int:
    """The most API requests in any 60 server-seconds (recorded times are real)."""
    times = sorted(r.at.timestamp() for r in requests if r.path.startswith("/v1/"))
    window = 60.0 / scale
    best, start = 0, 0
    for end in range(len(times)):
        while times[end] - times[start] > window:
            start += 1
        best = max(best, end - start + 1)
    return best


def deploy(
    scenario: str, service: str, scale: float, soak: float = 30.0, **behaviour: Any
) -> tuple[DeployReport, SimServer, int]:
    sim = SimServer(load_scenario(scenario), port=0, time_scale=scale, rate_limits=True).start()
    if behaviour:
        sim.queue_behaviour(service, **behaviour)
    client = RenderClient(sim.api_key, sim.url, owner_id=sim.owner_id)
    try:
        target = client.resolve_service(service)
        plan = plan_deploy(client, Config(), target, DeployOptions(skip_checks=True, soak=soak))
        sim.clear_requests()
        report = execute_deploy(
            client, plan, ServerClock(client.server_now), progress=lambda _: None
        )
        window = max_per_minute(sim.requests, scale)
    finally:
        client.close()
    return report, sim, window


def latency(kind: str, service: str, scale: float, runs: int, restart: float) -> list[int]:
    samples: list[float] = []
    windows: list[int] = []
    for _ in range(runs):
        report, sim, window = deploy(
            str(SCENARIOS / "stacks.toml"),
            service,
            scale,
            behaviour="crash_loop",
            build_seconds=10,
            repeat_every=restart,
            fail_after=360,
        )
        try:
            assert report.deploy_id and report.finished_at
            if report.outcome != "canceled":
                print(f"  MISSED: {report.outcome}: {report.summary}")
                continue
            first = first_fatal_line(sim, report.service_id, report.deploy_id)
            samples.append(report.finished_at.timestamp() - first)
            windows.append(window)
        finally:
            sim.stop()
    if samples:
        print(
            f"{kind} service, crash loop restarting every {restart:.0f} s: first fatal line -> "
            f"verdict median {statistics.median(samples):.1f} s "
            f"(runs: {', '.join(f'{s:.1f}' for s in samples)})"
        )
    return windows


def false_alarms() -> tuple[int, int]:
    sys.path.insert(0, str(SCENARIOS.parent))
    from test_verdict_scenarios import HARMLESS, run_case  # the same cases as the tests

    alarms = 0
    for name, case in sorted(HARMLESS.items()):
        report, sim = run_case(name, case.service)
        sim.stop()
        if report.outcome != "healthy":
            alarms += 1
            print(f"  FALSE ALARM {name}: {report.outcome}: {report.summary}")
    return alarms, len(HARMLESS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="simulator time scale")
    parser.add_argument("--runs", type=int, default=3, help="crash loops per service kind")
    parser.add_argument("--restart", type=float, default=3.0, help="seconds between restarts")
    args = parser.parse_args()
    print(f"started {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC, time scale {args.scale}")
    windows = latency("quiet", "node", args.scale, args.runs, args.restart)
    windows += latency("busy (40 lines/s)", "busy", args.scale, args.runs, args.restart)
    alarms, cases = false_alarms()
    print(f"false alarms on the harmless classes: {alarms} of {cases} good releases")
    report, sim, window = deploy(
        str(SCENARIOS / "stacks.toml"),
        "busy",
        max(args.scale, 4.0),
        soak=60.0,
        behaviour="succeed",
        build_seconds=90,
        update_seconds=20,
    )
    sim.stop()
    watched = sum(t.seconds for t in report.timings)
    print(
        f"healthy busy deploy: {report.outcome}, {report.api_requests} API requests in "
        f"{watched:.0f} s watched, max {window} in any 60 s"
    )
    print(f"max API requests in any 60 s window, all watched deploys: {max([window, *windows])}")


if __name__ == "__main__":
    main()
