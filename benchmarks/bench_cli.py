"""Foundation figures: `releaser --help` start-up, lazy imports, and history paging.

Prints measured figures; asserts nothing (targets are in the issue, not in tests).

    .venv/bin/python benchmarks/bench_cli.py [--runs 10] [--deploys 1000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path


def help_wall_time(runs: int) -> list[float]:
    exe = Path(sys.executable).with_name("releaser")
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([str(exe), "--help"], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def heavy_modules_loaded(args: list[str]) -> list[str]:
    """Which heavy modules a command imports (run in a fresh interpreter)."""
    probe = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from releaser.cli.main import main\n"
        f"CliRunner().invoke(main, {args!r})\n"
        "print(','.join(m for m in ('boto3','botocore','psycopg','httpx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return [m for m in out.stdout.strip().split(",") if m]


def scenario_with_deploys(count: int) -> str:
    now = datetime.now(UTC)
    lines = [
        "[owner]",
        'id = "tea-bench0001"',
        'name = "bench"',
        "",
        "[[services]]",
        'id = "srv-bench0001"',
        'name = "bench-web"',
        'type = "web_service"',
        'repo = "https://github.com/example/bench"',
    ]
    for index in range(count):
        created = now - timedelta(minutes=10 * (count - index))
        status = "live" if index == count - 1 else "deactivated"
        lines += [
            "",
            "[[services.deploys]]",
            f'id = "dep-bench{index:06d}"',
            f'status = "{status}"',
            f"created_at = {created.isoformat()}",
            f'commit = "{index:040x}"',
            f'message = "change {index}"',
        ]
    return "\n".join(lines) + "\n"


def history_requests(count: int) -> tuple[int, float]:
    from releaser.render.client import RenderClient
    from releaser.sim.scenario import load_scenario
    from releaser.sim.server import SimServer

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.toml"
        path.write_text(scenario_with_deploys(count))
        with SimServer(load_scenario(str(path)), port=0, rate_limits=False) as server:
            client = RenderClient(server.api_key, server.url)
            start = time.perf_counter()
            deploys = client.list_deploys("srv-bench0001", limit=count)
            elapsed = time.perf_counter() - start
            assert len(deploys) == count, f"expected {count} deploys, got {len(deploys)}"
            return client.request_count, elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--deploys", type=int, default=1000)
    args = parser.parse_args()
    os.environ.pop("RENDER_API_KEY", None)

    times = help_wall_time(args.runs)
    print(
        f"releaser --help wall time: median {statistics.median(times) * 1000:.0f} ms, "
        f"min {min(times) * 1000:.0f} ms over {args.runs} runs"
    )
    for command in (["--help"], ["services", "--help"], ["logs", "--help"]):
        loaded = heavy_modules_loaded(command)
        print(f"heavy modules imported by `releaser {' '.join(command)}`: {loaded or 'none'}")
    requests, elapsed = history_requests(args.deploys)
    print(f"history over {args.deploys} deploys: {requests} requests, {elapsed * 1000:.0f} ms")


if __name__ == "__main__":
    main()
