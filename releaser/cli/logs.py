"""``releaser logs``: a service's recent logs, or one deploy's."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from releaser.cli.common import complete_service, output_option, render_client
from releaser.cli.console import console

if TYPE_CHECKING:
    from datetime import datetime

    from releaser.render.client import RenderClient
    from releaser.render.models import LogEntry, Service


@click.command()
@click.argument("service", shell_complete=complete_service)
@click.option(
    "--since",
    default=None,
    help="How far back: a duration (15m, 2h; 1s to 365d; default 15m) or an RFC 3339 "
    "time (2026-01-31T09:30:00Z).",
)
@click.option("--deploy", "deploy_id", default=None, help="Only this deploy's time window.")
@click.option(
    "--level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default=None,
    help="Only lines at this level.",
)
@click.option("--tail", type=click.IntRange(1, 5000), default=None, help="Only the newest N lines.")
@click.option(
    "-f",
    "--follow",
    is_flag=True,
    help="Keep printing new lines (history first; reconnects; Ctrl-C stops, exit 0). "
    "With -o json, one JSON object per line.",
)
@output_option
def logs(
    service: str,
    since: str | None,
    deploy_id: str | None,
    level: str | None,
    tail: int | None,
    follow: bool,
) -> None:
    """Print SERVICE's logs, oldest first.

    A deploy's logs are its time window (Render's log API has no deploy filter): from
    its creation until the next deploy started.

    \b
    Example:
      releaser logs web --since 1h --level error
      releaser logs web --deploy dep-d0abc123 --tail 50
      releaser logs web --follow --tail 20
    """
    from releaser.config import load_config
    from releaser.durations import parse_since
    from releaser.release.envchange import service_secrets
    from releaser.release.logs import LogLines, deploy_window, fetch_logs, since_window

    _check_windows(since, deploy_id, follow)
    start = parse_since("15m" if since is None else since)
    config = load_config()
    with render_client() as client:
        svc = client.resolve_service(service)
        secrets = service_secrets(client, svc, config.rules_for(svc.id, svc.name))
        window = deploy_window(client, svc, deploy_id) if deploy_id else since_window(client, start)
        entries = fetch_logs(client, svc, window, level=level, tail=tail, secrets=secrets)
        if follow:
            _follow(client, svc, entries, window.start, level=level, secrets=secrets)
            return
    console().show(LogLines(items=entries))


def _check_windows(since: str | None, deploy_id: str | None, follow: bool) -> None:
    from releaser.errors import UsageError

    if since is not None and deploy_id:
        raise UsageError("--since and --deploy select different windows", "Give one of them")
    if follow and deploy_id:
        raise UsageError(
            "--follow and --deploy do not go together", "Use --follow with --since, or alone"
        )


def _follow(
    client: RenderClient,
    svc: Service,
    entries: list[LogEntry],
    start: datetime,
    *,
    level: str | None,
    secrets: list[str],
) -> None:
    """The history, then new lines as they come, until Ctrl-C (the way a tail ends: exit 0)."""
    from releaser.release.logs import follow_logs, json_line, text_line

    out = console()

    def emit(entry: LogEntry) -> None:
        out.data(json_line(entry) if out.json else text_line(entry, click.style))

    for entry in entries:
        emit(entry)
    try:
        follow_logs(client, svc, entries, start, emit, level=level, secrets=secrets, note=out.say)
    except KeyboardInterrupt:
        return
