"""go-no-go/env fixtures: a simulator per scenario with RENDER_* pointing at it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from demo import WEB  # "web" in demo and every gonogo-* scenario
from simulators import SimOptions, StartSim

from releaser.sim import SimServer


@pytest.fixture
def sim_defaults() -> SimOptions:
    """Real time and rate limits, RENDER_API_URL/KEY pointing at the simulator."""
    return SimOptions(env="api")


@pytest.fixture
def start(start_sim: StartSim) -> Callable[..., SimServer]:
    """Start a scenario (RENDER_* pointing at it), optionally write ./releaser.toml."""

    def go(scenario: str = "demo", config: str | None = None) -> SimServer:
        server = start_sim(scenario)
        if config is not None:
            Path("releaser.toml").write_text(config)
        return server

    return go


def writes(server: Any) -> list[Any]:
    """Every request that could change state (anything but GET)."""
    return [r for r in server.requests if r.method != "GET"]


def env_of(server: Any, service: str = WEB) -> dict[str, str]:
    """The service's own variables as the simulator holds them."""
    with server.state.lock:
        return dict(server.state.service(service).env)
