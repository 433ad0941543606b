"""Ids from the demo scenario and small helpers shared by the simulator tests."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from releaser.sim import SimServer

WEB = "srv-hjtl316kyssqmyi4ywa3"  # demo: "web"
WORKER = "srv-ti5dbf051xm8voph0xct"  # demo: "worker"
LIVE_WEB_DEPLOY = "dep-hhbxptc0n1q2lqvefl9w"
OWNER = "tea-46ityiqdxl9o1pv9trq0"
MAIN_DB = "dpg-7l12w8x43hfpnuskvnmm-a"
ENV_GROUP = "evg-92lpgx2g5lhjcdiuypdy"

StartSim = Callable[..., SimServer]


def client_for(server: SimServer) -> httpx.Client:
    """An httpx client with the simulator's key, like RenderClient would build."""
    return httpx.Client(
        base_url=server.url,
        headers={"Authorization": f"Bearer {server.api_key}"},
        timeout=10,
    )
