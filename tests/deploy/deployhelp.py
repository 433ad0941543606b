"""Demo ids (re-exported from tests/demo.py) and helpers that read the simulator's state
and requests."""

from __future__ import annotations

from typing import Any

from demo import BUILD_FAILED, LIVE, LIVE_COMMIT, PREVIOUS, PREVIOUS_COMMIT, WEB  # noqa: F401

from releaser.sim import SimServer

# Quick behaviours: a deploy builds in 20 s and starts in 10 s of simulated time.
QUICK = {"build_seconds": 20, "update_seconds": 10}


def writes(server: SimServer) -> list[Any]:
    """Every request that could change state (anything but GET)."""
    return [r for r in server.requests if r.method != "GET"]


def requests_to(server: SimServer, method: str, suffix: str) -> list[Any]:
    return [r for r in server.requests if r.method == method and r.path.endswith(suffix)]


def history_ids(server: SimServer, service: str = WEB) -> set[str]:
    for svc in server.scenario.services:
        if svc.id == service or svc.name == service:
            return {d.id for d in svc.deploys}
    return set()


def sim_deploys(server: SimServer, service: str = WEB) -> list[Any]:
    """The service's deploys in the simulator, newest first."""
    with server.state.lock:
        server.state.advance()
        deploys = list(server.state.service(service).deploys)
    return sorted(deploys, key=lambda d: d.created_at, reverse=True)


def new_deploys(server: SimServer, service: str = WEB) -> list[Any]:
    """Deploys created while the test ran (not the scenario's history), newest first."""
    known = history_ids(server, service)
    return [d for d in sim_deploys(server, service) if d.id not in known]


def live_of(server: SimServer, service: str = WEB) -> Any:
    with server.state.lock:
        server.state.advance()
        return server.state.service(service).live()


def auto_deploy_of(server: SimServer, service: str = WEB) -> str:
    with server.state.lock:
        return str(server.state.service(service).config.auto_deploy)
