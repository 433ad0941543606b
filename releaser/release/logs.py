"""Fetching a service's logs for a time window or for one deploy's lifetime."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

from releaser import timebase
from releaser.errors import ApiError, EnvironmentProblem, NotFoundError
from releaser.output import format_time, redact
from releaser.render.client import RenderClient
from releaser.render.models import LogEntry, Service
from releaser.results import Listing, Style

MAX_ENTRIES = 5000  # a CLI page; more than this belongs in a log drain, not a terminal


class LogWindow(BaseModel):
    start: datetime
    end: datetime | None
    deploy_id: str | None = None


def deploy_window(client: RenderClient, service: Service, deploy_id: str) -> LogWindow:
    """A deploy's logs are its time window: from its creation until the next deploy began.

    Render's /logs has no deploy filter, so the window is the only way to attribute lines.
    """
    deploys = client.list_deploys(service.id, limit=100)
    index = next((i for i, d in enumerate(deploys) if d.id == deploy_id), None)
    if index is None:
        # Older than the last 100 deploys (or unknown): ask for it directly for a clear 404.
        deploy = client.get_deploy(service.id, deploy_id)
        end = deploy.finished_at
    else:
        deploy = deploys[index]
        end = deploys[index - 1].created_at if index > 0 else None
    start = deploy.created_at or deploy.started_at
    if start is None:
        raise NotFoundError(f"deploy {deploy_id} has no start time", "Use --since instead")
    return LogWindow(start=start, end=end, deploy_id=deploy_id)


def since_window(client: RenderClient, since: float | timedelta | datetime) -> LogWindow:
    """From ``since`` ago (seconds or a timedelta, on the server's clock) or a moment, to now."""
    if isinstance(since, datetime):
        return LogWindow(start=since, end=None)
    back = since if isinstance(since, timedelta) else timedelta(seconds=since)
    return LogWindow(start=client.server_now() - back, end=None)


def fetch_logs(
    client: RenderClient,
    service: Service,
    window: LogWindow,
    *,
    level: str | None = None,
    tail: int | None = None,
    secrets: Sequence[str] = (),
) -> list[LogEntry]:
    """Log entries oldest first; with ``tail``, only the newest ``tail`` of them.

    ``secrets`` are masked in every message: an app that logs its settings must not leak
    them through us.
    """
    owner = client.owner_id_for(service)
    levels = [level] if level else None
    end = window.end or client.server_now() + timedelta(seconds=1)
    # With --tail, read backward from the end so only the newest lines are fetched.
    entries = client.iter_logs(
        owner,
        service.id,
        start_time=window.start,
        end_time=end,
        direction="forward" if tail is None else "backward",
        level=levels,
        max_entries=MAX_ENTRIES if tail is None else tail,
    )
    unique = sorted(_dedupe(entries), key=_when)
    for entry in unique:
        entry.message = redact(entry.message, secrets)
    return unique


def _dedupe(entries: Iterable[LogEntry]) -> list[LogEntry]:
    seen: set[str] = set()
    unique = []
    for entry in entries:
        if entry.id in seen:
            continue
        seen.add(entry.id)
        unique.append(entry)
    return unique


def _when(entry: LogEntry) -> datetime:
    return entry.timestamp or datetime.min.replace(tzinfo=UTC)


FOLLOW_OVERLAP = timedelta(seconds=5)  # re-read lately written lines: they may arrive late


def follow_logs(
    client: RenderClient,
    service: Service,
    printed: Sequence[LogEntry],
    start: datetime,
    emit: Callable[[LogEntry], None],
    *,
    level: str | None = None,
    secrets: Sequence[str] = (),
    poll: float = 2.0,
    note: Callable[[str], None] = lambda _: None,
    sleep: Callable[[float], None] = timebase.sleep,
) -> None:
    """Print new lines as they come, forever (until Ctrl-C), after ``printed`` (the history).

    Each poll re-reads from a little before the newest line seen, so a line that reaches the
    log store late is still shown; ids already shown are skipped, so nothing repeats. A lost
    connection is retried with backoff, said on stderr, never the end of the tail; a refused
    API key is.
    """
    owner = client.owner_id_for(service)
    levels = [level] if level else None
    shown = {e.id: _when(e) for e in printed}
    newest = max([start, *shown.values()])
    failures = 0
    while True:
        try:
            end = client.server_now() + timedelta(seconds=1)
            batch = list(
                client.iter_logs(
                    owner,
                    service.id,
                    start_time=newest - FOLLOW_OVERLAP,
                    end_time=end,
                    direction="forward",
                    level=levels,
                    max_entries=MAX_ENTRIES,
                )
            )
        except EnvironmentProblem as exc:
            if isinstance(exc, ApiError) and exc.status in (401, 403):
                raise
            failures += 1
            wait = min(30.0, poll * 2**failures)
            note(f"logs: lost the log stream ({exc.message}); reconnecting in {wait:.0f}s")
            sleep(wait)
            continue
        if failures:
            note("logs: reconnected")
            failures = 0
        for entry in sorted(_dedupe(batch), key=_when):
            if entry.id in shown:
                continue
            entry.message = redact(entry.message, secrets)
            emit(entry)
            shown[entry.id] = _when(entry)
            newest = max(newest, _when(entry))
        # Forget ids that the next read can no longer return.
        horizon = newest - FOLLOW_OVERLAP - timedelta(seconds=1)
        shown = {i: t for i, t in shown.items() if t >= horizon}
        sleep(poll)


class LogLines(Listing[LogEntry]):
    """`releaser logs`: the lines, oldest first; JSON is the list of entries."""

    def render_text(self) -> str:
        return "\n".join(text_line(entry) for entry in self.items)

    def render_terminal(self, style: Style) -> str:
        return "\n".join(text_line(entry, style) for entry in self.items)

    def note(self) -> str:
        return "" if self.items else "No log lines in that window."


def text_line(entry: LogEntry, style: Style | None = None) -> str:
    """One line as people read it: time, level (errors red, warnings yellow on a terminal:
    ``style`` is the CLI's), message."""
    lvl = (entry.level or "").upper()
    level = f"{lvl:<5}"
    colour = {"ERROR": "red", "WARNING": "yellow", "WARN": "yellow"}.get(lvl)
    if style is not None and colour:
        level = style(level, fg=colour)
    return f"{format_time(entry.timestamp)} {level} {entry.message}"


def json_line(entry: LogEntry) -> str:
    """One line of ``--follow -o json``: one JSON object per line, as it comes."""
    return json.dumps(entry.model_dump(mode="json"))
