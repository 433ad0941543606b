"""Deploy-test fixtures: the simulator in virtual time, its env for the CLI, a client."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from simulators import SimOptions

from releaser.render.client import RenderClient, RetryPolicy
from releaser.sim import SimServer


@pytest.fixture
def sim_defaults() -> SimOptions:
    """Virtual time (a 20-minute watch takes no real time), no rate limits, and RENDER_*
    (with the owner) pointing at the simulator. A test about a subprocess or a real-time race
    asks for scaled time: start_sim(..., time_scale=N)."""
    return SimOptions(clock="virtual", rate_limits=False, env="owner")


@pytest.fixture
def client_for() -> Iterator[Callable[[SimServer], RenderClient]]:
    """A RenderClient on a simulator, with quick retries (the simulator's faults are brief)."""
    clients: list[RenderClient] = []

    def make(server: SimServer) -> RenderClient:
        client = RenderClient(
            server.api_key,
            server.url,
            owner_id=server.owner_id,
            timeout=2.0,
            retry=RetryPolicy(attempts=5, backoff_base=0.05, max_wait=2.0),
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
