"""Deploy-test fixtures: the simulator at a fast time scale, its env for the CLI, a client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from releaser.render.client import RenderClient, RetryPolicy
from releaser.sim import SimServer, load_scenario

FAST = 40.0  # simulated seconds per real second: a 90 s build takes ~2 s


@pytest.fixture
def start_sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., SimServer]]:
    """Start a simulator and point RENDER_* at it; stopped after the test."""
    servers: list[SimServer] = []

    def start(scenario: str = "demo", time_scale: float = FAST, **kwargs: Any) -> SimServer:
        kwargs.setdefault("rate_limits", False)
        server = SimServer(load_scenario(scenario), port=0, time_scale=time_scale, **kwargs).start()
        servers.append(server)
        monkeypatch.setenv("RENDER_API_URL", server.url)
        monkeypatch.setenv("RENDER_API_KEY", server.api_key)
        monkeypatch.setenv("RENDER_OWNER_ID", server.owner_id)
        return server

    yield start
    for server in servers:
        server.stop()


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
