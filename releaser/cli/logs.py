"""``releaser logs``: a service's recent logs, or one deploy's."""

from __future__ import annotations

import click

from releaser.cli.common import output_option, render_client


@click.command()
@click.argument("service")
@click.option("--since", default=None, help="How far back, e.g. 15m, 2h (default 15m).")
@click.option("--deploy", "deploy_id", default=None, help="Only this deploy's time window.")
@click.option(
    "--level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default=None,
    help="Only lines at this level.",
)
@click.option("--tail", type=click.IntRange(1, 5000), default=None, help="Only the newest N lines.")
@output_option
def logs(
    service: str,
    since: str | None,
    deploy_id: str | None,
    level: str | None,
    tail: int | None,
    output: str,
) -> None:
    """Print SERVICE's logs, oldest first.

    A deploy's logs are its time window (Render's log API has no deploy filter): from
    its creation until the next deploy started.

    \b
    Example:
      releaser logs web --since 1h --level error
      releaser logs web --deploy dep-d0abc123 --tail 50
    """
    from releaser.config import load_config
    from releaser.durations import parse_duration
    from releaser.errors import UsageError
    from releaser.output import format_time, print_json
    from releaser.release.envchange import service_secrets
    from releaser.release.logs import deploy_window, fetch_logs, since_window

    if since and deploy_id:
        raise UsageError("--since and --deploy select different windows", "Give one of them")
    since_seconds = parse_duration(since or "15m", "--since")
    config = load_config()
    with render_client() as client:
        svc = client.resolve_service(service)
        secrets = service_secrets(client, svc, config.rules_for(svc.id, svc.name))
        window = (
            deploy_window(client, svc, deploy_id)
            if deploy_id
            else since_window(client, since_seconds)
        )
        entries = fetch_logs(client, svc, window, level=level, tail=tail, secrets=secrets)
    if output == "json":
        print_json([e.model_dump(mode="json") for e in entries])
        return
    for entry in entries:
        lvl = (entry.level or "").upper()
        click.echo(f"{format_time(entry.timestamp)} {lvl:<5} {entry.message}")
    if not entries:
        click.echo("No log lines in that window.", err=True)
