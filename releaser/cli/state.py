"""`releaser lock` and `releaser ledger`: who holds a release lock, who changed what."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import click

from releaser.cli.common import output_option
from releaser.cli.console import console

if TYPE_CHECKING:
    from releaser.state.store import StateStore

T = TypeVar("T")


def _store() -> StateStore:
    from releaser.config import load_config
    from releaser.state.store import open_store

    store = open_store(load_config())
    if store.local_only:
        console().say(f"State: {store.where} (local only: set RELEASER_STATE_DSN to share it).")
    return store


def _read(read: Callable[[StateStore], list[T]]) -> list[T]:
    """What ``read`` finds in the state store; nothing when there is no store yet.

    A read-only command must not create ``.releaser/`` on a fresh checkout.
    """
    from releaser.config import load_config
    from releaser.state.store import store_exists

    if not store_exists(load_config()):
        return []
    store = _store()
    try:
        return read(store)
    finally:
        store.close()


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
def lock_status(service: str | None) -> None:
    """List the locks held now (of SERVICE, or all): who, where, since when, doing what.

    \b
    Example:
      releaser lock status web -o json
    """
    from releaser.state.views import LockHolders

    holders = _read(lambda store: store.holders(service))
    console().show(LockHolders(items=holders, service=service))


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
    from releaser.errors import UsageError
    from releaser.state.store import break_lock
    from releaser.state.views import LockRelease

    if not force:
        raise UsageError(
            "breaking a lock needs --force",
            f"Check 'releaser lock status {service}' first, then pass --force",
        )
    store = _store()
    try:
        holder = break_lock(store, service)
    finally:
        store.close()
    console().finish(LockRelease.of(service, holder))


@click.command()
@click.argument("service", required=False)
@click.option("--since", default=None, help="Only entries newer than this (e.g. 7d, 12h).")
@output_option
def ledger(service: str | None, since: str | None) -> None:
    """List every write releaser made: when, who, where, what (from, to), verdict.

    \b
    Example:
      releaser ledger web --since 7d
      releaser ledger -o json | jq '.[] | select(.verdict != "ok")'
    """
    from datetime import UTC, datetime, timedelta

    from releaser.durations import parse_duration
    from releaser.state.views import LedgerEntries

    cutoff = None
    if since is not None:
        cutoff = datetime.now(UTC) - timedelta(seconds=parse_duration(since, "--since"))
    entries = _read(lambda store: store.entries(service, cutoff))
    console().show(LedgerEntries(items=entries, service=service))
