"""`releaser lock` and `releaser ledger`: who holds a release lock, who changed what."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from releaser.cli.common import output_option

if TYPE_CHECKING:
    from releaser.state.store import StateStore


def _store() -> StateStore:
    from releaser.cli.console import say
    from releaser.config import load_config
    from releaser.state.store import open_store

    store = open_store(load_config())
    if store.local_only:
        say(f"State: {store.where} (local only: set RELEASER_STATE_DSN to share it).")
    return store


@click.group()
def lock() -> None:
    """Show or break the per-service release locks.

    Deploy, rollback, promote, env set/restore and db restore/drill/prune hold the
    lock of their service while they run; a second releaser exits 3 naming the holder.

    \b
    Example:
      releaser lock status
      releaser lock release web --force
    """


@lock.command("status")
@click.argument("service", required=False)
@output_option
def lock_status(service: str | None, output: str) -> None:
    """List the locks held now (of SERVICE, or all): who, where, since when, doing what.

    \b
    Example:
      releaser lock status web -o json
    """
    from releaser.cli.console import print_json
    from releaser.output import format_time, table

    store = _store()
    try:
        holders = store.holders(service)
    finally:
        store.close()
    if output == "json":
        print_json([h.model_dump(mode="json") for h in holders])
        return
    if not holders:
        click.echo(f"{service} is not locked." if service else "No service is locked.")
        return
    rows = [
        [h.service_name or h.service, h.who, h.host, format_time(h.since), h.what, h.ci_url or ""]
        for h in holders
    ]
    click.echo(table(rows, ["service", "who", "host", "since", "what", "CI run"]))


@lock.command("release")
@click.argument("service")
@click.option("--force", is_flag=True, help="Required: you know the holder is gone or stuck.")
def lock_release(service: str, force: bool) -> None:
    """Break SERVICE's lock held by another releaser (recorded in the ledger).

    On PostgreSQL this ends the holder's database session; a holder that is still
    running is then no longer excluded, so only do it when it is gone or stuck.

    \b
    Example:
      releaser lock release web --force
    """
    from datetime import UTC, datetime

    from releaser.errors import UsageError
    from releaser.state.identity import current_actor
    from releaser.state.models import LedgerEntry

    if not force:
        raise UsageError(
            "breaking a lock needs --force",
            f"Check 'releaser lock status {service}' first, then pass --force",
        )
    store = _store()
    try:
        holder = store.force_release(service)
        if holder is None:
            click.echo(f"{service} is not locked; nothing to release.")
            return
        store.append(
            LedgerEntry(
                at=datetime.now(UTC),
                service=holder.service,
                service_name=holder.service_name,
                action="lock release --force",
                verdict="ok",
                exit_code=0,
                detail={"released_holder": holder.model_dump(mode="json")},
                **current_actor().model_dump(),
            )
        )
    finally:
        store.close()
    click.echo(
        f"Released the lock on {holder.service_name or holder.service} ({holder.describe()})."
    )


@click.command()
@click.argument("service", required=False)
@click.option("--since", default=None, help="Only entries newer than this (e.g. 7d, 12h).")
@output_option
def ledger(service: str | None, since: str | None, output: str) -> None:
    """List every write releaser made: when, who, where, what (from, to), verdict.

    \b
    Example:
      releaser ledger web --since 7d
      releaser ledger -o json | jq '.[] | select(.verdict != "ok")'
    """
    from datetime import UTC, datetime, timedelta

    from releaser.cli.console import print_json
    from releaser.durations import parse_duration
    from releaser.output import format_time, table

    cutoff = None
    if since is not None:
        cutoff = datetime.now(UTC) - timedelta(seconds=parse_duration(since, "--since"))
    store = _store()
    try:
        entries = store.entries(service, cutoff)
    finally:
        store.close()
    if output == "json":
        print_json([e.model_dump(mode="json") for e in entries])
        return
    if not entries:
        click.echo("The ledger has no entries" + (f" for {service}." if service else "."))
        return
    rows = [
        [
            format_time(e.at),
            e.service_name or e.service,
            e.action,
            e.who,
            f"{e.from_ref or '-'} → {e.to_ref or '-'}",
            e.verdict,
            e.ci_url or e.host,
        ]
        for e in entries
    ]
    click.echo(table(rows, ["at", "service", "action", "who", "from → to", "verdict", "where"]))
