"""go-no-go/env fixtures: a simulator per scenario with RENDER_* pointing at it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

WEB = "srv-hjtl316kyssqmyi4ywa3"  # "web" in demo and every gonogo-* scenario


@pytest.fixture
def start(sim_factory: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Start a scenario, point RENDER_API_URL/KEY at it, optionally write ./releaser.toml."""

    def go(scenario: str = "demo", config: str | None = None) -> Any:
        server = sim_factory(scenario)
        monkeypatch.setenv("RENDER_API_URL", server.url)
        monkeypatch.setenv("RENDER_API_KEY", server.api_key)
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
