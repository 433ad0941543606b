"""The state backend (release locks and the ledger) and how to open it.

PostgreSQL when ``RELEASER_STATE_DSN`` or ``[state] dsn`` is set: shared by every machine.
Otherwise SQLite under ``.releaser/``: the lock only excludes processes on this machine.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from releaser import timebase
from releaser.errors import ConfigError, LockHeld, ReleaserError
from releaser.state.models import LedgerEntry, LockHolder

if TYPE_CHECKING:
    from releaser.config import Config

LOCK_POLL_SECONDS = 0.25


class HeldLock(Protocol):
    def release(self) -> None: ...


class StateStore(Protocol):
    local_only: bool
    where: str  # for messages: "PostgreSQL host/db" or the SQLite path, never a password

    def try_lock(self, holder: LockHolder) -> HeldLock | None: ...

    def holders(self, service: str | None = None) -> list[LockHolder]: ...

    def force_release(self, service: str) -> LockHolder | None: ...

    def append(self, entry: LedgerEntry) -> int: ...

    def entries(
        self, service: str | None = None, since: datetime | None = None
    ) -> list[LedgerEntry]: ...

    def close(self) -> None: ...


def pending_migrations(
    current: int, migrations: list[list[str]], where: str
) -> list[tuple[int, list[str]]]:
    """The (version, statements) a backend at schema ``current`` still needs, oldest first.

    A schema newer than this releaser knows is refused: an old releaser must not write a
    ledger it does not understand.
    """
    if current > len(migrations):
        raise ConfigError(
            f"{where} has schema v{current}, newer than this releaser knows (v{len(migrations)})",
            "Upgrade releaser on this machine",
        )
    return [(v, migrations[v - 1]) for v in range(current + 1, len(migrations) + 1)]


def state_dsn(config: Config | None) -> str | None:
    """The shared backend's DSN: the environment wins over releaser.toml."""
    dsn = os.environ.get("RELEASER_STATE_DSN") or (config.state.dsn if config else None)
    return dsn or None


def open_store(config: Config | None) -> StateStore:
    dsn = state_dsn(config)
    if dsn:
        from releaser.state.pg import PostgresStore

        return PostgresStore(dsn)
    from releaser.state.local import SqliteStore

    return SqliteStore()


def store_exists(config: Config | None) -> bool:
    """Whether there is a state store to read (opening the local one would create it)."""
    from releaser.state.local import DEFAULT_STATE_DIR

    return bool(state_dsn(config)) or (DEFAULT_STATE_DIR / "state.db").exists()


def ledger_by_deploy(
    config: Config | None, service: str, warn: Callable[[str], None]
) -> dict[str, LedgerEntry]:
    """The ledger's entries for ``service`` keyed by the Render deploy they created.

    For read-only commands: never creates a local state file, and an unreachable backend
    is a warning (given to ``warn``), not a failure (Render's own history still answers).
    """
    if not store_exists(config):
        return {}
    try:
        store = open_store(config)
        try:
            entries = store.entries(service)
        finally:
            store.close()
    except ReleaserError as exc:
        warn(f"the ledger is not shown: {exc.one_line()}")
        return {}
    by_deploy: dict[str, LedgerEntry] = {}
    for entry in entries:
        deploy_id = entry.detail.get("deploy_id") or entry.to_ref
        if isinstance(deploy_id, str) and deploy_id.startswith("dep-"):
            by_deploy[deploy_id] = entry
    return by_deploy


def acquire(
    store: StateStore,
    holder: LockHolder,
    timeout: float,
    sleep: Callable[[float], None] = timebase.sleep,
) -> HeldLock:
    """Take the lock, waiting up to ``timeout`` seconds; raise LockHeld naming the holder."""
    deadline = timebase.monotonic() + timeout
    while True:
        held = store.try_lock(holder)
        if held is not None:
            return held
        if timebase.monotonic() >= deadline:
            break
        sleep(min(LOCK_POLL_SECONDS, max(deadline - timebase.monotonic(), 0.0)))
    current = store.holders(holder.service)
    for _ in range(20):  # the holder writes its row just after it takes the lock
        if current:
            break
        sleep(0.1)
        current = store.holders(holder.service)
    label = holder.service_name or holder.service
    by = current[0].describe() if current else "another releaser that is starting up"
    waited = f" after waiting {timeout:g}s" if timeout else ""
    if store.local_only:
        waited += " (a local lock: this machine only)"
    raise LockHeld(
        f"{label} is locked by {by}{waited}",
        "Wait for it to finish (or pass --lock-timeout 10m); if that holder is gone, "
        f"'releaser lock release {holder.service} --force'. Nothing was changed",
    )


def break_lock(store: StateStore, service: str) -> LockHolder | None:
    """``lock release --force``: end ``service``'s lock and record it in the ledger.

    Returns the holder whose lock was broken, or None when nobody held it.
    """
    from datetime import UTC

    from releaser.state.identity import current_actor

    holder = store.force_release(service)
    if holder is not None:
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
    return holder
