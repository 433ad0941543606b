"""Read-only commands: services, status, history."""

from __future__ import annotations

import click

from releaser.cli.common import complete_service, output_option, render_client
from releaser.cli.console import console


@click.command()
@output_option
def services() -> None:
    """List the services this API key can see, with their live deploy.

    \b
    Example:
      releaser services
      releaser services -o json | jq '.[].id'
    """
    from releaser.release.inspect import Services, list_service_rows

    with render_client() as client:
        rows = list_service_rows(client)
    console().show(Services(items=rows))


@click.command()
@click.argument("service", shell_complete=complete_service)
@output_option
def status(service: str) -> None:
    """Show what is live on SERVICE and whether a deploy is under way.

    SERVICE is a service id (srv-…) or its exact name.

    \b
    Example:
      releaser status web
    """
    from releaser.release.inspect import service_status

    with render_client() as client:
        result = service_status(client, client.resolve_service(service))
    console().show(result)


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
def history(service: str, limit: int) -> None:
    """List SERVICE's deploys, newest first; rollbacks are marked.

    \b
    Example:
      releaser history web --limit 50
      releaser history srv-d0abc123 -o json
    """
    from releaser.config import load_config
    from releaser.release.inspect import DeployHistory
    from releaser.state.store import ledger_by_deploy

    with render_client() as client:
        svc = client.resolve_service(service)
        deploys = client.list_deploys(svc.id, limit=limit)
    ledger = ledger_by_deploy(load_config(), svc.id, console().warn)
    console().show(DeployHistory(label=svc.label, deploys=deploys, ledger=ledger))
