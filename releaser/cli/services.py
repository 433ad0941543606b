"""Read-only commands: services, status, history."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from releaser.cli.common import complete_service, output_option, render_client
from releaser.cli.console import console

if TYPE_CHECKING:
    from releaser.state.models import LedgerEntry


@click.command()
@output_option
def services(output: str) -> None:
    """List the services this API key can see, with their live deploy.

    \b
    Example:
      releaser services
      releaser services -o json | jq '.[].id'
    """
    from releaser.cli.console import print_json
    from releaser.output import table
    from releaser.release.inspect import list_service_rows

    with render_client() as client:
        rows = list_service_rows(client)
    if output == "json":
        print_json([r.model_dump(mode="json") for r in rows])
        return
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
        for r in rows
    ]
    click.echo(table(body, headers) if body else "No services.")


@click.command()
@click.argument("service", shell_complete=complete_service)
@output_option
def status(service: str, output: str) -> None:
    """Show what is live on SERVICE and whether a deploy is under way.

    SERVICE is a service id (srv-…) or its exact name.

    \b
    Example:
      releaser status web
    """
    from releaser.cli.console import print_json
    from releaser.output import format_time, pairs
    from releaser.release.inspect import service_status

    with render_client() as client:
        result = service_status(client, client.resolve_service(service))
    if output == "json":
        print_json(result.model_dump(mode="json"))
        return
    live = result.live_deploy
    lines = [
        ("service", result.service.label),
        ("type", result.service.type or "-"),
        ("live deploy", f"{live.id}  {live.version}" if live else "none"),
        ("live since", format_time(result.live_since)),
        (
            "in progress",
            ", ".join(f"{d.id} ({d.status})" for d in result.in_progress) or "none",
        ),
        ("autodeploy", result.auto_deploy or "-"),
        ("suspended", "yes" if result.suspended else "no"),
        ("health URL", result.health_url or "-"),
        ("health", result.health_judged),
    ]
    click.echo(pairs(lines))


@click.command()
@click.argument("service", shell_complete=complete_service)
@click.option(
    "--limit",
    type=click.IntRange(1, 10_000),
    default=20,
    show_default=True,
    help="How many deploys to show.",
)
@output_option
def history(service: str, limit: int, output: str) -> None:
    """List SERVICE's deploys, newest first; rollbacks are marked.

    \b
    Example:
      releaser history web --limit 50
      releaser history srv-d0abc123 -o json
    """
    from releaser.cli.console import print_json
    from releaser.output import format_duration, format_time, table
    from releaser.release.inspect import status_mark

    with render_client() as client:
        svc = client.resolve_service(service)
        deploys = client.list_deploys(svc.id, limit=limit)
    ledger = _ledger_by_deploy(svc.id)
    if output == "json":
        print_json([d.model_dump(mode="json") | _ledger_json(ledger.get(d.id)) for d in deploys])
        return
    body = [
        [
            status_mark(d.status),
            d.id,
            ("↩ rollback" if d.is_rollback else d.trigger),
            d.version,
            format_time(d.started_at or d.created_at),
            format_duration(d.duration_seconds),
            *_ledger_cells(ledger.get(d.id)),
        ]
        for d in deploys
    ]
    headers = ["status", "deploy", "trigger", "commit / image", "started", "took", "by", "verdict"]
    click.echo(table(body, headers) if body else f"No deploys for {svc.label}.")


def _ledger_by_deploy(service_id: str) -> dict[str, LedgerEntry]:
    from releaser.config import load_config
    from releaser.state.store import ledger_by_deploy

    return ledger_by_deploy(load_config(), service_id, console().warn)


def _ledger_cells(entry: LedgerEntry | None) -> list[str]:
    """who and verdict from releaser's ledger; '-' for deploys releaser did not make."""
    if entry is None:
        return ["-", "-"]
    return [entry.who, f"{entry.verdict} ({entry.action})"]


def _ledger_json(entry: LedgerEntry | None) -> dict[str, object]:
    if entry is None:
        return {"ledger": None}
    keep = ("who", "host", "ci_url", "action", "verdict", "exit_code", "at")
    return {"ledger": entry.model_dump(mode="json", include=set(keep))}
