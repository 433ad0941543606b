"""Simulator fixtures: a started SimServer on 127.0.0.1:0 with a manual clock, and a client."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from simsupport import StartSim, client_for
from simulators import SimOptions

from releaser.sim import ManualClock, SimServer


@pytest.fixture
def clock() -> ManualClock:
    """Simulated time that moves only when a test advances it: no sleeping, no flakiness."""
    return ManualClock()


@pytest.fixture
def sim_defaults(clock: ManualClock) -> SimOptions:
    """The test's manual clock, rate limits off unless asked, RENDER_* untouched."""
    return SimOptions(clock=clock, rate_limits=False)


@pytest.fixture
def server(start_sim: StartSim) -> SimServer:
    return start_sim("demo")


@pytest.fixture
def api(server: SimServer) -> Iterator[httpx.Client]:
    """An authenticated httpx client for the demo simulator."""
    with client_for(server) as client:
        yield client
