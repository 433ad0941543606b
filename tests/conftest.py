"""Fixtures shared by the whole suite: a clean environment, the simulator, the CLI."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner, Result
from simulators import SimOptions, Simulators, StartSim

from releaser.sim import SimServer

_LEAKY_PREFIXES = ("RENDER_", "AWS_", "PG", "RELEASER_CONFIG", "RELEASER_STATE", "GITHUB_")


@pytest.fixture(autouse=True)
def clean_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A developer's shell (RENDER_*, AWS_*, PG*) must never leak into a test."""
    for name in list(os.environ):
        if name.startswith(_LEAKY_PREFIXES):
            monkeypatch.delenv(name, raising=False)
    # The fingerprint key lives in the user's config folder: never the developer's real one.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))
    # Commands read ./releaser.toml by default: run each test in an empty directory.
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def sim_defaults() -> SimOptions:
    """Real time, Render's rate limits, RENDER_* untouched (folders override this)."""
    return SimOptions()


@pytest.fixture
def start_sim(monkeypatch: pytest.MonkeyPatch, sim_defaults: SimOptions) -> Iterator[StartSim]:
    """The one way tests start simulators (over real HTTP on 127.0.0.1), with the folder's
    `sim_defaults`; all are stopped, and real time restored, after the test."""
    start = Simulators(sim_defaults, monkeypatch)
    yield start
    start.close()


@pytest.fixture
def sim_factory(monkeypatch: pytest.MonkeyPatch) -> Iterator[StartSim]:
    """`start_sim` with the suite-wide defaults whatever the folder (real time, rate limits
    on, RENDER_* untouched)."""
    start = Simulators(SimOptions(), monkeypatch)
    yield start
    start.close()


@pytest.fixture
def sim(sim_factory: StartSim) -> SimServer:
    """The demo scenario, with RENDER_API_URL/RENDER_API_KEY pointing at it."""
    return sim_factory("demo", env="api")


@pytest.fixture
def run_cli() -> Callable[..., Result]:
    """Run `releaser ARGS...` in-process; stdout and stderr are kept apart."""
    from releaser.cli.main import main

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(
            main, list(args), input=input, env=env, catch_exceptions=False, prog_name="releaser"
        )

    return run


@pytest.fixture
def unused_port() -> int:
    """A port with nothing listening on 127.0.0.1."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
