"""Read-only views of services and their deploys."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from releaser.output import format_duration, format_time, pairs, table
from releaser.release.health import health_check
from releaser.render.client import RenderClient
from releaser.render.models import FAILED_STATUSES, IN_PROGRESS_STATUSES, Deploy, Service
from releaser.results import Listing, View
from releaser.state.models import LedgerEntry


class ServiceRow(BaseModel):
    id: str
    name: str | None
    type: str | None
    auto_deploy: str | None
    suspended: bool
    live_deploy: Deploy | None


class Services(Listing[ServiceRow]):
    """`releaser services`."""

    def render_text(self) -> str:
        headers = ["name", "id", "type", "autodeploy", "suspended", "live deploy"]
        body = [
            [
                r.name,
                r.id,
                r.type,
                r.auto_deploy,
                r.suspended,
                f"{r.live_deploy.id} {r.live_deploy.version}" if r.live_deploy else None,
            ]
            for r in self.items
        ]
        return table(body, headers) if body else "No services."


class ServiceStatus(View):
    """`releaser status`: what is live and whether a deploy is under way."""

    service: Service
    live_deploy: Deploy | None
    in_progress: list[Deploy]
    health_url: str | None
    health_judged: str  # what decides health for this service type, in words
    auto_deploy: str | None
    suspended: bool
    live_since: datetime | None

    def render_text(self) -> str:
        live = self.live_deploy
        return pairs(
            [
                ("service", self.service.label),
                ("type", self.service.type or "-"),
                ("live deploy", f"{live.id}  {live.version}" if live else "none"),
                ("live since", format_time(self.live_since)),
                (
                    "in progress",
                    ", ".join(f"{d.id} ({d.status})" for d in self.in_progress) or "none",
                ),
                ("autodeploy", self.auto_deploy or "-"),
                ("suspended", "yes" if self.suspended else "no"),
                ("health URL", self.health_url or "-"),
                ("health", self.health_judged),
            ]
        )


class DeployHistory(View):
    """`releaser history`: the deploys, newest first, with what releaser's ledger says."""

    label: str  # the service, for "No deploys for ..."
    deploys: list[Deploy]
    ledger: dict[str, LedgerEntry]  # by the deploy releaser created

    def json_document(self) -> list[dict[str, Any]]:
        return [d.model_dump(mode="json") | self._ledger_json(d.id) for d in self.deploys]

    def _ledger_json(self, deploy_id: str) -> dict[str, Any]:
        entry = self.ledger.get(deploy_id)
        if entry is None:
            return {"ledger": None}
        keep = {"who", "host", "ci_url", "action", "verdict", "exit_code", "at"}
        return {"ledger": entry.model_dump(mode="json", include=keep)}

    def render_text(self) -> str:
        body = [
            [
                status_mark(d.status),
                d.id,
                ("↩ rollback" if d.is_rollback else d.trigger),
                d.version,
                format_time(d.started_at or d.created_at),
                format_duration(d.duration_seconds),
                *self._ledger_cells(d.id),
            ]
            for d in self.deploys
        ]
        headers = ["status", "deploy", "trigger", "commit / image", "started", "took", "by"]
        headers.append("verdict")
        return table(body, headers) if body else f"No deploys for {self.label}."

    def _ledger_cells(self, deploy_id: str) -> list[str]:
        """who and verdict from releaser's ledger; '-' for deploys releaser did not make."""
        entry = self.ledger.get(deploy_id)
        if entry is None:
            return ["-", "-"]
        return [entry.who, f"{entry.verdict} ({entry.action})"]


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
