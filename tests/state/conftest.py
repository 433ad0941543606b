"""Release-lock and ledger fixtures: a fresh PostgreSQL database per test, the simulator."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import sql
from simulators import SimOptions

ADMIN_DSN = os.environ.get("RELEASER_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def _with_dbname(dsn: str, name: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    info["dbname"] = name
    return psycopg.conninfo.make_conninfo("", **info)


@pytest.fixture
def state_dsn(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A new, empty database for the shared state; RELEASER_STATE_DSN points at it."""
    try:
        admin = psycopg.connect(ADMIN_DSN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL NOT REACHABLE at {ADMIN_DSN} ({exc}); lock tests SKIPPED")
    name = f"releaser_state_{secrets.token_hex(4)}"
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = _with_dbname(ADMIN_DSN, name)
    monkeypatch.setenv("RELEASER_STATE_DSN", dsn)
    yield dsn
    admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
    admin.close()


@pytest.fixture
def sim_defaults() -> SimOptions:
    """Virtual time (test_lock.py overrides it: its tests race real processes), no rate
    limits, RENDER_* (with the owner) pointing at the simulator."""
    return SimOptions(clock="virtual", rate_limits=False, env="owner")


@pytest.fixture
def spawn_releaser() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start `releaser ARGS...` as a real process with this test's environment."""
    procs: list[subprocess.Popen[str]] = []

    def spawn(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "releaser.cli.main", *args],
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        return proc

    yield spawn
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
