"""Release-lock and ledger fixtures: a fresh PostgreSQL database per test, the simulator."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from releaser.sim import SimServer

ADMIN_DSN = os.environ.get("RELEASER_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def _with_dbname(dsn: str, name: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    info["dbname"] = name
    return psycopg.conninfo.make_conninfo(**info)


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
def start_sim(
    sim_factory: Callable[..., SimServer], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., SimServer]:
    """Start a fast simulator (a scenario name or object) and point RENDER_* at it."""

    def start(scenario: Any = "demo", **kwargs: Any) -> SimServer:
        kwargs.setdefault("rate_limits", False)
        kwargs.setdefault("time_scale", 40.0)
        server = sim_factory(scenario, **kwargs)
        for name, value in (("URL", server.url), ("KEY", server.api_key)):
            monkeypatch.setenv(f"RENDER_API_{name}", value)
        monkeypatch.setenv("RENDER_OWNER_ID", server.owner_id)
        return server

    return start


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
