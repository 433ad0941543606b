"""Deploy-watch figures against the simulator (issue 4). Prints figures; asserts nothing.

1. A crash-looping deploy: seconds from the first fatal log line to releaser's verdict,
   versus waiting on the deploy status alone (Render marks it failed after ~15 minutes).
2. API requests per minute while watching (target: at most 30).
3. The same for a healthy 3-minute deploy (build 150 s, start 30 s, soak 60 s).

    .venv/bin/python benchmarks/bench_watch.py            # time scale 1.0: about 6 minutes
    .venv/bin/python benchmarks/bench_watch.py --scale 10 # quicker, same server-time figures

The status-only baseline runs the same crash loop at --baseline-scale (default 30) with
Render's 15-minute failure, and reports server seconds.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from typing import Any

from releaser.config import Config
from releaser.release.classify import classify_line
from releaser.release.deploy import DeployOptions, execute_deploy, plan_deploy
from releaser.release.report import DeployReport
from releaser.release.watch import ServerClock
from releaser.render.client import RenderClient
from releaser.sim import SimServer, load_scenario


def first_fatal_line(client: RenderClient, owner: str, service_id: str, since: datetime) -> float:
    for entry in client.iter_logs(owner, service_id, start_time=since, direction="forward"):
        if entry.type == "app" and classify_line(entry.message) and entry.timestamp:
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


def run(
    scale: float, behaviour: str, soak: float = 60.0, **fields: Any
) -> tuple[DeployReport, Any]:
    sim = SimServer(load_scenario("demo"), port=0, time_scale=scale).start()
    sim.queue_behaviour("web", behaviour, **fields)
    client = RenderClient(sim.api_key, sim.url, owner_id=sim.owner_id)
    service = client.resolve_service("web")
    plan = plan_deploy(client, Config(), service, DeployOptions(skip_checks=True, soak=soak))
    sim.clear_requests()
    report = execute_deploy(client, plan, ServerClock(client.server_now), progress=lambda _: None)
    return report, (sim, client)


def crash_loop(scale: float) -> None:
    report, (sim, client) = run(scale, "crash_loop")
    assert report.started_at and report.finished_at
    first = first_fatal_line(client, sim.owner_id, report.service_id, report.started_at)
    decided = report.finished_at.timestamp()
    watched = sum(t.seconds for t in report.timings)
    print(f"crash loop (scale {scale}): outcome {report.outcome}, cause: {report.cause}")
    print(f"  first fatal line -> releaser verdict: {decided - first:.1f} s (server time)")
    print(f"  API requests: {report.api_requests} in {watched:.0f} s watched")
    print(
        f"  requests/min: {report.api_requests / (watched / 60):.1f} average, "
        f"{max_per_minute(sim.requests, scale)} max in any 60 s window"
    )
    client.close()
    sim.stop()


def status_only(scale: float, poll: float = 10.0) -> None:
    """The baseline: poll the deploy status alone until Render says it failed."""
    sim = SimServer(load_scenario("crash-loop"), port=0, time_scale=scale).start()
    client = RenderClient(sim.api_key, sim.url, owner_id=sim.owner_id)
    deploy = client.create_deploy("srv-hjtl316kyssqmyi4ywa3")
    assert deploy is not None and deploy.created_at is not None
    while True:
        time.sleep(poll / scale)
        status = client.get_deploy("srv-hjtl316kyssqmyi4ywa3", deploy.id).status
        if status in ("update_failed", "canceled", "live"):
            break
    seen = client.server_now().timestamp()
    first = first_fatal_line(client, sim.owner_id, "srv-hjtl316kyssqmyi4ywa3", deploy.created_at)
    print(f"status alone (poll every {poll:.0f} s, scale {scale}): {status} seen")
    print(f"  first fatal line -> verdict: {seen - first:.0f} s (server time)")
    client.close()
    sim.stop()


def healthy(scale: float) -> None:
    started = time.perf_counter()
    report, (sim, client) = run(scale, "succeed", 60.0, build_seconds=150, update_seconds=30)
    watched = sum(t.seconds for t in report.timings)
    print(f"healthy 3-minute deploy (scale {scale}): outcome {report.outcome}")
    print("  timings: " + ", ".join(f"{t.phase} {t.seconds:.0f}s" for t in report.timings))
    print(
        f"  API requests: {report.api_requests} in {watched:.0f} s watched, "
        f"{report.health_probes} health probes"
    )
    print(
        f"  requests/min: {report.api_requests / (watched / 60):.1f} average, "
        f"{max_per_minute(sim.requests, scale)} max in any 60 s window"
    )
    print(f"  wall time: {time.perf_counter() - started:.0f} s")
    client.close()
    sim.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="simulator time scale")
    parser.add_argument("--baseline-scale", type=float, default=30.0)
    parser.add_argument("--skip-healthy", action="store_true")
    args = parser.parse_args()
    print(f"started {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC")
    crash_loop(args.scale)
    status_only(args.baseline_scale)
    if not args.skip_healthy:
        healthy(args.scale)


if __name__ == "__main__":
    main()
