"""Read-only views of services and their deploys."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel

from releaser.release.health import health_check
from releaser.render.client import RenderClient
from releaser.render.models import FAILED_STATUSES, IN_PROGRESS_STATUSES, Deploy, Service


class ServiceRow(BaseModel):
    id: str
    name: str | None
    type: str | None
    auto_deploy: str | None
    suspended: bool
    live_deploy: Deploy | None


class ServiceStatus(BaseModel):
    service: Service
    live_deploy: Deploy | None
    in_progress: list[Deploy]
    health_url: str | None
    health_judged: str  # what decides health for this service type, in words
    auto_deploy: str | None
    suspended: bool
    live_since: datetime | None


LIVE_LOOKUP = 100  # one page: what a filter-ignoring answer is searched through


def live_deploy(
    client: RenderClient, service_id: str, recent: Iterable[Deploy] = ()
) -> Deploy | None:
    """The live deploy: found in ``recent`` (deploys already fetched) or else asked for."""
    live = next((d for d in recent if d.status == "live"), None)
    if live is not None:
        return live
    # The answer's statuses are checked, not the filter trusted: Render has answered
    # ?status=live with deploys in other states.
    deploys = client.list_deploys(service_id, statuses=["live"], limit=LIVE_LOOKUP)
    return next((d for d in deploys if d.status == "live"), None)


def list_service_rows(client: RenderClient) -> list[ServiceRow]:
    rows = []
    for service in client.list_services():
        rows.append(
            ServiceRow(
                id=service.id,
                name=service.name,
                type=service.type,
                auto_deploy=service.auto_deploy,
                suspended=service.is_suspended,
                live_deploy=live_deploy(client, service.id),
            )
        )
    return rows


def health_url(service: Service, health_path: str | None = None) -> str | None:
    """The URL releaser probes: None for private services, workers and cron jobs."""
    return health_check(service, health_path).url


def service_status(client: RenderClient, service: Service) -> ServiceStatus:
    # One page of recent deploys answers both questions (live and in progress).
    recent = client.list_deploys(service.id, limit=20)
    live = live_deploy(client, service.id, recent)
    check = health_check(service)
    return ServiceStatus(
        service=service,
        live_deploy=live,
        in_progress=[d for d in recent if d.in_progress],
        health_url=check.url,
        health_judged=check.judged,
        auto_deploy=service.auto_deploy,
        suspended=service.is_suspended,
        live_since=(live.finished_at or live.created_at) if live else None,
    )


STATUS_MARKS = {
    "live": "✓",
    "deactivated": "·",
    "canceled": "⊘",
    **dict.fromkeys(FAILED_STATUSES, "✗"),
    **dict.fromkeys(IN_PROGRESS_STATUSES, "…"),
}


def status_mark(status: str | None) -> str:
    return f"{STATUS_MARKS.get(status or '', '?')} {status or 'unknown'}"
