"""The release lock and the ledger around every write command, in one place.

A write command is decorated with ``@audited("deploy")`` (which adds ``--lock-timeout``),
calls ``hold(service_id, name)`` once it knows the service (before its first write), and
may ``note(...)`` what it did. When the command ends, however it ends, the ledger gets one
entry with who, where, what and the verdict, then the lock is released.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

from releaser.errors import EXIT_ENVIRONMENT, ReleaserError

F = TypeVar("F", bound=Callable[..., Any])

_META_KEY = "releaser.guard"
VERDICTS = {0: "ok", 1: "failed", 2: "refused", 3: "error", 4: "unsafe", 130: "interrupted"}


class Guard:
    def __init__(self, action: str, lock_timeout: float) -> None:
        self.action = action
        self.lock_timeout = lock_timeout
        self.held: list[tuple[str, str | None, Any]] = []  # (service, name, lock)
        self.noted: dict[str | None, dict[str, Any]] = {}  # per service; None: every one
        self._store: Any = None
        self._actor: Any = None

    def take(self, service: str, service_name: str | None) -> None:
        from releaser.config import load_config
        from releaser.state.identity import current_actor
        from releaser.state.models import LockHolder
        from releaser.state.store import acquire, open_store

        if any(service == held for held, _, _ in self.held):
            return
        if self._store is None:
            self._store = open_store(load_config())
            self._actor = current_actor()
        holder = LockHolder(
            service=service,
            service_name=service_name,
            since=datetime.now(UTC),
            what=self.action,
            pid=os.getpid(),
            **self._actor.model_dump(),
        )
        try:
            lock = acquire(self._store, holder, self.lock_timeout)
        except BaseException:
            self._release_all()
            raise
        self.held.append((service, service_name, lock))

    def _release_all(self) -> None:
        for _, _, lock in self.held:
            lock.release()
        self.held = []
        if self._store is not None:
            self._store.close()
            self._store = None

    def finish(self, exit_code: int, error: str | None) -> None:
        """Append one ledger entry per locked service, then release (even if appends fail)."""
        from releaser.output import say
        from releaser.state.models import LedgerEntry

        if not self.held:
            return
        common = self.noted.get(None, {})
        try:
            for service, service_name, _ in self.held:
                fields = {**common, **self.noted.get(service, {})}
                detail = dict(fields.pop("detail", {}))
                if error:
                    detail["error"] = error
                entry = LedgerEntry(
                    at=datetime.now(UTC),
                    service=service,
                    service_name=service_name,
                    action=self.action,
                    verdict=fields.pop("verdict", None) or VERDICTS.get(exit_code, "error"),
                    exit_code=exit_code,
                    detail=detail,
                    **fields,
                    **self._actor.model_dump(),
                )
                self._store.append(entry)
            if self._store.local_only and exit_code == 0:  # errors stay the last line alone
                say(
                    f"Ledger: recorded in {self._store.where} (lock is local only: set "
                    "RELEASER_STATE_DSN to exclude other machines)."
                )
        except ReleaserError as exc:
            # The write itself is done: its exit code stands, the gap is said out loud.
            say(f"Warning: this {self.action} is NOT in the ledger: {exc.one_line()}")
        finally:
            self._release_all()


def _exit_code_of(exc: BaseException) -> tuple[int, str | None]:
    if isinstance(exc, ReleaserError):
        return exc.exit_code, exc.one_line()
    if isinstance(exc, click.exceptions.Exit):
        return exc.exit_code, None
    if isinstance(exc, click.Abort):
        return 1, "not confirmed"
    if isinstance(exc, KeyboardInterrupt):
        return 130, "interrupted"
    return EXIT_ENVIRONMENT, f"unexpected {type(exc).__name__}"


def audited(action: str) -> Callable[[F], F]:
    """Decorate a write command: adds --lock-timeout; records the run in the ledger."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, lock_timeout: str, **kwargs: Any) -> Any:
            from releaser.durations import parse_duration

            guard = Guard(action, parse_duration(lock_timeout, "--lock-timeout"))
            click.get_current_context().meta[_META_KEY] = guard
            try:
                result = func(*args, **kwargs)
            except BaseException as exc:
                guard.finish(*_exit_code_of(exc))
                raise
            guard.finish(0, None)
            return result

        option = click.option(
            "--lock-timeout",
            default="0",
            show_default=True,
            help="Wait this long (e.g. 10m) for another releaser's lock on the service; "
            "then exit 3 naming the holder.",
        )
        return option(wrapper)  # type: ignore[return-value]

    return decorate


def _guard() -> Guard | None:
    ctx = click.get_current_context(silent=True)
    guard = ctx.meta.get(_META_KEY) if ctx else None
    return guard if isinstance(guard, Guard) else None


def hold(service: str, service_name: str | None = None, *, skip: bool = False) -> None:
    """Take the release lock for ``service`` (a dry run, ``skip``, takes none and logs none)."""
    guard = _guard()
    if guard is not None and not skip:
        guard.take(service, service_name)


def note(service: str | None = None, **fields: Any) -> None:
    """Say what the write did for its ledger entry: from_ref, to_ref, verdict, detail, report.

    ``service``: for that service's entry only (a release locks several); default: all.
    """
    guard = _guard()
    if guard is not None:
        noted = guard.noted.setdefault(service, {})
        noted.update({k: v for k, v in fields.items() if v is not None})
