"""Ids from the demo scenario and small helpers shared by the simulator tests."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from demo import ENV_GROUP, MAIN_DB, OWNER, WEB, WORKER  # noqa: F401  (re-exported)
from demo import LIVE as LIVE_WEB_DEPLOY  # noqa: F401

from releaser.sim import SimServer

StartSim = Callable[..., SimServer]


def client_for(server: SimServer) -> httpx.Client:
    """An httpx client with the simulator's key, like RenderClient would build."""
    return httpx.Client(
        base_url=server.url,
        headers={"Authorization": f"Bearer {server.api_key}"},
        timeout=10,
    )
