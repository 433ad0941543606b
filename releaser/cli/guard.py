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

from releaser.errors import EXIT_ENVIRONMENT, EXIT_USAGE, Declined, ReleaserError

F = TypeVar("F", bound=Callable[..., Any])

_META_KEY = "releaser.guard"
VERDICTS = {0: "ok", 1: "failed", 2: "refused", 3: "error", 4: "unsafe", 130: "interrupted"}


class Guard:
    def __init__(self, action: str, lock_timeout: float) -> None:
        self.action = action
        self.lock_timeout = lock_timeout
        self.held: list[tuple[str, str | None, Any]] = []  # (service, name, lock)
        self.labels: list[str] = []  # the services this run locked, for messages
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
        self.labels.append(service_name or service)

    def report_outcome(
        self, exit_code: int, error: str | None, notify_url: str | None, changed: bool = True
    ) -> None:
        """Ledger (and lock release), then GitHub Actions files, then the webhook."""
        from releaser.cli.ci import notify, outcome_outputs, publish_github

        self.finish(exit_code, error, changed)
        noted = self.noted.get(None, {})
        outputs = outcome_outputs(self.action, exit_code, noted, error)
        annotations = list(noted.get("annotations", []))
        if exit_code != 0 and error:
            annotations.append(("error", error))
        publish_github(os.environ, outputs, noted.get("report"), annotations)
        if notify_url:
            from releaser.state.identity import current_actor

            notify(notify_url, outputs, ", ".join(self.labels), current_actor().ci_url)

    def _release_all(self) -> None:
        for _, _, lock in self.held:
            lock.release()
        self.held = []
        if self._store is not None:
            self._store.close()
            self._store = None

    def finish(self, exit_code: int, error: str | None, changed: bool = True) -> None:
        """Append one ledger entry per locked service, then release (even if appends fail)."""
        from releaser.cli.console import say
        from releaser.state.models import LedgerEntry

        if not self.held:
            return
        if not changed:
            # Refused input or a declined confirmation: nothing was changed, so there is
            # nothing to record (the ledger is a list of writes, not of typos).
            self._release_all()
            return
        common = self.noted.get(None, {})
        try:
            for service, service_name, _ in self.held:
                fields = {**common, **self.noted.get(service, {})}
                detail = dict(fields.pop("detail", {}))
                fields.pop("annotations", None)  # for CI only
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


def audited(action: str, *, lock: bool = True) -> Callable[[F], F]:
    """Decorate a command: --notify and CI outcome reporting; with ``lock`` (write commands)
    also --lock-timeout and the ledger."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, notify: str | None, **kwargs: Any) -> Any:
            from releaser.cli.ci import resolve_notify_url
            from releaser.durations import parse_duration

            timeout = parse_duration(kwargs.pop("lock_timeout", "0"), "--lock-timeout")
            url = resolve_notify_url(notify)  # a bad --notify: exit 2 before any write
            guard = Guard(action, timeout)
            click.get_current_context().meta[_META_KEY] = guard
            try:
                result = func(*args, **kwargs)
            except BaseException as exc:
                # Refused input (exit 2) or a declined confirmation changed nothing.
                changed = not isinstance(exc, Declined) and _exit_code_of(exc)[0] != EXIT_USAGE
                guard.report_outcome(*_exit_code_of(exc), url, changed=changed)
                raise
            guard.report_outcome(0, None, url)
            return result

        decorated = click.option(
            "--notify",
            metavar="URL",
            default=None,
            help="Post the verdict to this Slack-compatible webhook (or env:VAR holding it).",
        )(wrapper)
        if lock:
            decorated = click.option(
                "--lock-timeout",
                default="0",
                show_default=True,
                help="Wait this long (e.g. 10m) for another releaser's lock on the service; "
                "then exit 3 naming the holder.",
            )(decorated)
        return decorated  # type: ignore[return-value]

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


def ci_annotations(checks: Any, warnings: Any = ()) -> list[tuple[str, str]]:
    """FAIL and WARN lines as CI annotations: [("error", "name: detail"), ...]."""
    level = {"FAIL": "error", "WARN": "warning"}
    found = [(level[c.status], f"{c.name}: {c.detail}") for c in checks if c.status in level]
    return found + [("warning", str(w)) for w in warnings]


def note(service: str | None = None, **fields: Any) -> None:
    """Say what the write did for its ledger entry: from_ref, to_ref, verdict, detail, report.

    ``service``: for that service's entry only (a release locks several); default: all.
    """
    guard = _guard()
    if guard is not None:
        noted = guard.noted.setdefault(service, {})
        noted.update({k: v for k, v in fields.items() if v is not None})
