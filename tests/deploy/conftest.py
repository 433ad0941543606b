"""Deploy-test fixtures: the simulator at a fast time scale, its env for the CLI, a client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from email.utils import formatdate
from typing import Any

import pytest

from releaser.render.client import RenderClient, RetryPolicy
from releaser.sim import SimServer, load_scenario

FAST = 40.0  # simulated seconds per real second: a 90 s build takes ~2 s


@pytest.fixture(autouse=True)
def sim_date_header(monkeypatch: pytest.MonkeyPatch) -> None:
    """The simulator's Date header must carry its scaled clock (Render's Date is its clock).

    Stopgap until releaser/sim/server.py sends it: http.server stamps wall time, which
    does not move with the time scale, so windows computed on "server now" would lag.
    """
    from releaser.sim import server as sim_server

    def sim_date(self: Any, timestamp: float | None = None) -> str:
        return formatdate(self.server.sim.clock.now().timestamp(), usegmt=True)

    monkeypatch.setattr(sim_server._Handler, "date_time_string", sim_date)


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
