"""Benchmark `releaser db snapshot` and `db drill` against bare pg_dump / pg_restore.

Generates a database of about --size-mb MB, starts moto's S3 server in its own process,
then measures and prints:

* `db snapshot` to S3 wall time vs `pg_dump -Fc -f /dev/null` (target: <= 1.2x);
* peak memory (max RSS) of the snapshot process (target: flat, < 200 MB, whatever the size:
  run with --size-mb 1000 and 3000 to compare);
* `db drill --use-latest` restore + analyze + verify vs a bare `pg_restore -j N` of the
  same archive into a fresh database (target: <= 1.3x).

Usage: .venv/bin/python benchmarks/bench_db.py --size-mb 1000 [--dsn postgresql://…]
The generated database is kept (named releaser_bench_<size>) unless --drop.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def db_size(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        assert row is not None
        return int(row[0])


def generate(admin: str, name: str, size_mb: int) -> str:
    """A database of about size_mb MB: mixed types, some compressible, some not."""
    dsn = make_conninfo(admin, dbname=name)
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and db_size(dsn) >= size_mb * 1_000_000 * 0.9:
            print(f"reusing {name} ({db_size(dsn) / 1e6:.0f} MB)", file=sys.stderr)
            return dsn
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    started = time.monotonic()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE events (id bigserial PRIMARY KEY, account int NOT NULL, kind text,"
            " payload jsonb, amount numeric(14, 2), at timestamptz, blob bytea)"
        )
        conn.execute("CREATE INDEX ON events (account)")
        conn.execute("CREATE TABLE accounts (id int PRIMARY KEY, name text, tags text[])")
        conn.execute(
            "INSERT INTO accounts SELECT i, 'account ' || i, ARRAY['a' || i % 10, 'b']"
            " FROM generate_series(1, 100000) i"
        )
        batch = 200_000
        while db_size(dsn) < size_mb * 1_000_000:
            conn.execute(
                "INSERT INTO events (account, kind, payload, amount, at, blob)"
                " SELECT 1 + (random() * 99999)::int, (ARRAY['click','view','buy'])[1 + i %% 3],"
                " jsonb_build_object('i', i, 'ref', md5(i::text)),"
                " (random() * 1000)::numeric(14, 2),"
                " now() - i * interval '1 second', decode(md5(random()::text), 'hex')"
                " FROM generate_series(1, %s) i",
                (batch,),
            )
        conn.execute(
            "CREATE MATERIALIZED VIEW per_kind AS SELECT kind, count(*) FROM events GROUP BY 1"
        )
        conn.execute("VACUUM ANALYZE")
    print(
        f"generated {name}: {db_size(dsn) / 1e6:.0f} MB in {time.monotonic() - started:.0f}s",
        file=sys.stderr,
    )
    return dsn


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in MB (the process and its reaped children), stdout."""
    started = time.monotonic()
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(command, stdout=out, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - started
        out.seek(0)
        text = out.read().decode()
    if process.returncode != 0:
        raise SystemExit(f"failed ({process.returncode}): {' '.join(command[:4])} …")
    return seconds, usage.ru_maxrss // 1024, text


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
    parser.add_argument(
        "--drop", action="store_true", help="drop the generated database afterwards"
    )
    args = parser.parse_args()

    name = f"releaser_bench_{args.size_mb}"
    dsn = generate(args.dsn, name, args.size_mb)
    size = db_size(dsn)
    port = free_port()
    moto = subprocess.Popen(
        [str(Path(PY).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PG"))},
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
    }
    try:
        time.sleep(1.5)
        import boto3

        boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        ).create_bucket(Bucket="bench")
        store = "s3://bench/db"
        releaser = [PY, "-m", "releaser.cli.main", "db"]
        pg_dump = shutil.which("pg_dump") or "pg_dump"
        pg_restore = shutil.which("pg_restore") or "pg_restore"

        dump_s, dump_rss, _ = timed(
            [pg_dump, "-Fc", "--no-sync", "-f", "/dev/null", f"--dbname={dsn}"]
        )
        snap_s, snap_rss, out = timed(
            releaser + ["snapshot", dsn, "--to", store, "-o", "json"], env
        )
        manifest = json.loads(out)
        archive_mb = manifest["dump"]["size_bytes"] / 1e6

        drill_s, drill_rss, out = timed(
            releaser
            + ["drill", dsn, "--to", store, "--use-latest", "--jobs", str(args.jobs), "-o", "json"],
            env,
        )
        drill = json.loads(out)
        phases = {k: v["seconds"] for k, v in drill["phases"].items()}

        # Bare pg_restore -j of the same archive into a fresh database.
        with tempfile.TemporaryDirectory() as tmp:
            archive = Path(tmp) / "dump.pgcustom"
            import boto3 as _b

            _b.client(
                "s3",
                endpoint_url=env["AWS_ENDPOINT_URL"],
                region_name="us-east-1",
                aws_access_key_id="bench",
                aws_secret_access_key="bench",
            ).download_file("bench", f"db/{manifest['dump']['key']}", str(archive))
            bare = "releaser_bench_bare"
            with psycopg.connect(args.dsn, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(bare))
                )
                conn.execute(
                    sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(bare))
                )
            try:
                bare_s, _, _ = timed(
                    [
                        pg_restore,
                        f"-j{args.jobs}",
                        "--no-owner",
                        "--no-acl",
                        f"--dbname={make_conninfo(args.dsn, dbname=bare)}",
                        str(archive),
                    ]
                )
            finally:
                with psycopg.connect(args.dsn, autocommit=True) as conn:
                    conn.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                            sql.Identifier(bare)
                        )
                    )
        restore_verify = phases["restore"] + phases["analyze"] + phases["verify"]

        print(
            f"database: {size / 1e6:.0f} MB; archive {archive_mb:.0f} MB; jobs {args.jobs}; "
            f"{os.cpu_count()} CPUs"
        )
        print(f"pg_dump -Fc -f /dev/null      {dump_s:7.1f} s   peak RSS {dump_rss} MB")
        print(
            f"db snapshot -> S3 (moto)      {snap_s:7.1f} s   peak RSS {snap_rss} MB   "
            f"ratio {snap_s / dump_s:.2f}x (target <= 1.2x)"
        )
        print(f"bare pg_restore -j{args.jobs}           {bare_s:7.1f} s")
        print(
            f"drill restore+analyze+verify  {restore_verify:7.1f} s   "
            f"ratio {restore_verify / bare_s:.2f}x "
            f"(target <= 1.3x); phases {phases}"
        )
        print(
            f"drill whole command           {drill_s:7.1f} s   peak RSS {drill_rss} MB   "
            f"RTO {drill['rto_seconds']:.1f} s"
        )
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        print(f"(the benchmark process's own max RSS: {own} MB)")
    finally:
        moto.terminate()
        moto.wait()
        if args.drop:
            with psycopg.connect(args.dsn, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


if __name__ == "__main__":
    main()
