"""Benchmark Render-native recovery drills on the simulator against a real database.

Generates (or reuses) a database of about --size-mb MB, maps the simulator's Postgres onto
it (`sim serve --postgres`), then measures and prints:

* `db export` wall time (the simulator's pg_dump -Fd + tar.gz, i.e. Render's side);
* `db drill --from render-export --latest`: RTO by phase (download + streaming untar,
  pg_restore -Fd -j N, analyze, verify) with MB/s, and peak RSS of the releaser process
  (the streaming download: should stay flat whatever the size) and of its children
  (pg_restore);
* `db drill --from render-pitr`: RTO by phase (recovery: POST to available, which here is a
  local CREATE DATABASE … TEMPLATE copy, plus verify).

Usage: .venv/bin/python benchmarks/bench_render_recovery.py --size-mb 1000 [--dsn …]
The generated database is kept (named releaser_rbench_<size>) unless --drop.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_db import db_size, free_port, generate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RELEASER = str(Path(sys.executable).parent / "releaser")


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def measured(command: list[str], env: dict[str, str]) -> tuple[float, int, int, str]:
    """Wall seconds, peak RSS MB of the process itself (sampled VmHWM), peak RSS MB of
    its reaped children (pg_restore), stdout."""
    started = time.monotonic()
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(command, stdout=out, env=env)
        peak = [0]

        def sample() -> None:
            while process.poll() is None:
                peak[0] = max(peak[0], _status_kb(process.pid, "VmHWM"))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        sampler.join(timeout=1)
        seconds = time.monotonic() - started
        out.seek(0)
        text = out.read().decode()
    if process.returncode != 0:
        raise SystemExit(f"failed ({process.returncode}): {' '.join(command[:6])} …")
    # ru_maxrss of a waited child covers it and the descendants it waited for.
    return seconds, peak[0] // 1024, usage.ru_maxrss // 1024, text


def phases_table(doc: dict[str, object]) -> str:
    rows = []
    phases = doc["phases"]
    assert isinstance(phases, dict)
    for name, timing in phases.items():
        rate = timing.get("mb_per_s")
        rows.append(f"    {name:<10} {timing['seconds']:>8.2f}s  {rate if rate else '-':>8} MB/s")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1000)
    parser.add_argument(
        "--dsn",
        default=os.environ.get(
            "RELEASER_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--skip-pitr", action="store_true")
    parser.add_argument("--drop", action="store_true", help="drop the generated database")
    args = parser.parse_args()

    name = f"releaser_rbench_{args.size_mb}"
    dsn = generate(args.dsn, name, args.size_mb)
    size = db_size(dsn)
    url = psycopg.conninfo.conninfo_to_dict(dsn)
    db_url = (
        f"postgresql://{url.get('user', 'postgres')}@{url.get('host', '127.0.0.1')}:"
        f"{url.get('port', 5432)}/{name}"
    )
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="rbench-") as tmp:
        sim_env_file = Path(tmp) / "sim.env"
        sim = subprocess.Popen(
            [
                RELEASER,
                "sim",
                "serve",
                "--quiet",
                "--scenario",
                "demo",
                "--time-scale",
                "600",
                "--port",
                str(port),
                "--postgres",
                f"main-db={db_url}",
            ],
            stdout=open(sim_env_file, "w"),  # noqa: SIM115
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(200):
                if "RENDER_OWNER_ID" in sim_env_file.read_text():
                    break
                time.sleep(0.1)
            env = {k: v for k, v in os.environ.items() if not k.startswith(("RENDER_", "PG"))}
            for line in sim_env_file.read_text().splitlines():
                if line.startswith("export "):
                    key, _, value = line[len("export ") :].partition("=")
                    env[key] = value.strip("'\"")
            store = f"file://{tmp}/store"
            print(f"database {name}: {size / 1e6:.0f} MB, jobs {args.jobs}")

            seconds, rss, child_rss, out = measured(
                [RELEASER, "db", "export", "main-db", "-o", "json"], env
            )
            print(f"db export (simulator's pg_dump -Fd + tar.gz): {seconds:.1f}s")

            seconds, rss, child_rss, out = measured(
                [
                    RELEASER,
                    "db",
                    "drill",
                    "main-db",
                    "--from",
                    "render-export",
                    "--latest",
                    "--to",
                    store,
                    "-j",
                    str(args.jobs),
                    "--workdir",
                    tmp,
                    "-o",
                    "json",
                ],
                env,
            )
            doc = json.loads(out)
            print(
                f"export drill: {'PASSED' if doc['passed'] else 'FAILED'}, archive "
                f"{doc['size_bytes'] / 1e6:.0f} MB, RTO {doc['rto_seconds']:.1f}s "
                f"(wall {seconds:.1f}s)"
            )
            print(phases_table(doc))
            print(f"    peak RSS: releaser {rss} MB (download + untar), tree {child_rss} MB")

            if not args.skip_pitr:
                env["RENDER_OWNER_ID"] = env.get("RENDER_OWNER_ID", "")
                seconds, rss, child_rss, out = measured(
                    [
                        RELEASER,
                        "db",
                        "drill",
                        "main-db",
                        "--from",
                        "render-pitr",
                        "--ago",
                        "30m",
                        "--yes",
                        "--to",
                        store,
                        "-o",
                        "json",
                    ],
                    env,
                )
                doc = json.loads(out)
                print(
                    f"PITR drill: {'PASSED' if doc['passed'] else 'FAILED'}, RTO "
                    f"{doc['rto_seconds']:.1f}s (wall {seconds:.1f}s), instance deleted: "
                    f"{doc['instance_deleted']}"
                )
                print(phases_table(doc))
                print(f"    peak RSS: releaser {rss} MB")
        finally:
            sim.terminate()
            sim.wait(timeout=30)
    if args.drop:
        with psycopg.connect(args.dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


if __name__ == "__main__":
    main()
