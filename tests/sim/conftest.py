"""Simulator fixtures: a started SimServer on 127.0.0.1:0 with a manual clock, and a client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from simsupport import StartSim, client_for

from releaser.sim import ManualClock, SimServer, load_scenario
from releaser.sim.scenario import Scenario


@pytest.fixture
def clock() -> ManualClock:
    """Simulated time that moves only when a test advances it: no sleeping, no flakiness."""
    return ManualClock()


@pytest.fixture
def start_sim(clock: ManualClock) -> Iterator[StartSim]:
    """Start simulators (manual clock, rate limits off unless asked); all stop after the test."""
    servers: list[SimServer] = []

    def start(scenario: str | Scenario = "demo", **kwargs: Any) -> SimServer:
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("rate_limits", False)
        loaded = load_scenario(scenario) if isinstance(scenario, str) else scenario
        server = SimServer(loaded, **kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def server(start_sim: StartSim) -> SimServer:
    return start_sim("demo")


@pytest.fixture
def api(server: SimServer) -> Iterator[httpx.Client]:
    """An authenticated httpx client for the demo simulator."""
    with client_for(server) as client:
        yield client
