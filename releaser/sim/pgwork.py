"""The real work behind simulated Postgres exports and recoveries (mapped instances only).

An export is what Render hands out: a ``.dir.tar.gz``, the gzipped tar of a ``pg_dump -Fd``
directory, made from the real local database the instance is mapped to. A recovery is a new
real local database copied from the source. Limitation (said in the new instance's logs): the
copy holds the source's CURRENT state, not its state at the requested restore time.
"""

from __future__ import annotations

import os
import subprocess
import tarfile
import tempfile
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from releaser.db.dsn import Dsn, parse_dsn
from releaser.db.pgtools import connect, find_tool, server_major

RECOVERY_LIMITATION = (
    "simulator: this recovery is a copy of the source's CURRENT state, not of its state at "
    "the requested restore time (real Render replays the WAL up to that moment)"
)


def _major(dsn: Dsn) -> int:
    with connect(dsn, autocommit=True, what="mapped database") as conn:
        return server_major(conn.info.server_version)


def make_export(source_dsn: str, dest: Path) -> None:
    """``pg_dump -Fd`` of the mapped database, tarred and gzipped into ``dest``."""
    dsn = parse_dsn(source_dsn)
    pg_dump = find_tool("pg_dump", _major(dsn))
    with tempfile.TemporaryDirectory(prefix="sim-export-", dir=dest.parent) as tmp:
        dump_dir = Path(tmp) / dsn.dbname
        done = subprocess.run(
            [
                pg_dump.path,
                "--format=directory",
                "--no-password",
                f"--file={dump_dir}",
                f"--dbname={dsn.without_password()}",
            ],
            capture_output=True,
            env=dsn.child_env(),
            check=False,
        )
        if done.returncode != 0:
            message = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
            raise RuntimeError(dsn.redact(" ".join(message) or f"pg_dump exit {done.returncode}"))
        partial = dest.with_suffix(".part")
        # The table files inside are gzipped by pg_dump already: a light outer level.
        with tarfile.open(partial, "w:gz", compresslevel=1) as tar:
            tar.add(dump_dir, arcname=dsn.dbname)
        os.replace(partial, dest)


def truncate(path: Path) -> None:
    """The truncated-archive fault: cut the finished file in half."""
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size // 2)


def copy_database(source_dsn: str, new_name: str) -> str:
    """A new database on the source's server holding a copy of it; returns its DSN."""
    from psycopg import errors, sql

    source = parse_dsn(source_dsn)
    target = source.with_dbname(new_name)
    # connection-info hands out URLs, as Render does: same address, the new database's name.
    target_url = urlunsplit(urlsplit(source_dsn)._replace(path="/" + quote(new_name)))
    with connect(source.with_dbname("postgres"), autocommit=True, what="mapped server") as conn:
        try:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(new_name), sql.Identifier(source.dbname)
                )
            )
            return target_url
        except errors.ObjectInUse:  # someone is connected to the source: dump and restore
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(new_name))
            )
    major = _major(source)
    dump = subprocess.Popen(
        [
            find_tool("pg_dump", major).path,
            "--format=custom",
            "--no-password",
            f"--dbname={source.without_password()}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=source.child_env(),
    )
    restore = subprocess.run(
        [
            find_tool("pg_restore", major).path,
            "--no-owner",
            "--no-acl",
            "--no-password",
            f"--dbname={target.without_password()}",
        ],
        stdin=dump.stdout,
        capture_output=True,
        env=target.child_env(),
        check=False,
    )
    if dump.stdout is not None:
        dump.stdout.close()
    if dump.wait() != 0 or restore.returncode != 0:
        drop_database(target_url)
        raise RuntimeError(f"copying {source.dbname} failed")
    return target_url


def drop_database(dsn_text: str) -> None:
    from psycopg import sql

    dsn = parse_dsn(dsn_text)
    with connect(dsn.with_dbname("postgres"), autocommit=True, what="mapped server") as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dsn.dbname))
        )
