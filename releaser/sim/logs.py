"""The simulated log store and Render's log paging (GET /logs).

Every entry gets a unique timestamp (ties are nudged by a microsecond), so paging by time with
`nextStartTime`/`nextEndTime` never repeats or skips a line.
"""

from __future__ import annotations

import bisect
import fnmatch
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

_ONE_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class LogEntry:
    id: str
    timestamp: datetime
    message: str
    resource: str  # srv-… id
    level: str = "info"
    type: str = "app"  # app | build | request
    instance: str | None = None

    def labels(self) -> list[tuple[str, str]]:
        found = [("resource", self.resource), ("level", self.level), ("type", self.type)]
        if self.instance:
            found.append(("instance", self.instance))
        return found


@dataclass
class LogQuery:
    resources: Sequence[str]
    start: datetime
    end: datetime
    direction: Literal["forward", "backward"] = "backward"
    limit: int = 20
    levels: Sequence[str] = ()
    types: Sequence[str] = ()
    texts: Sequence[str] = ()
    instances: Sequence[str] = ()


@dataclass
class LogPage:
    logs: list[LogEntry]
    has_more: bool
    next_start: datetime
    next_end: datetime


@dataclass
class LogStore:
    entries: list[LogEntry] = field(default_factory=list)  # sorted by timestamp
    _times: set[datetime] = field(default_factory=set)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def add(
        self,
        timestamp: datetime,
        message: str,
        resource: str,
        level: str = "info",
        type: str = "app",
        instance: str | None = None,
    ) -> LogEntry:
        while timestamp in self._times:
            timestamp += _ONE_MICROSECOND
        self._times.add(timestamp)
        entry = LogEntry(
            id=f"{next(self._ids):08x}-sim0-4000-8000-{abs(hash(message)) % 16**12:012x}",
            timestamp=timestamp,
            message=message,
            resource=resource,
            level=level,
            type=type,
            instance=instance,
        )
        bisect.insort(self.entries, entry, key=lambda e: e.timestamp)
        return entry

    def query(self, query: LogQuery) -> LogPage:
        """One page, newest first (backward) or oldest first (forward), like Render."""
        lo = bisect.bisect_left(self.entries, query.start, key=lambda e: e.timestamp)
        hi = bisect.bisect_right(self.entries, query.end, key=lambda e: e.timestamp)
        window = (e for e in self.entries[lo:hi] if _matches(e, query))
        ordered = list(window)
        if query.direction == "backward":
            ordered.reverse()
        page = ordered[: query.limit]
        has_more = len(ordered) > len(page)
        next_start, next_end = query.start, query.end
        if has_more and query.direction == "backward":
            next_end = page[-1].timestamp - _ONE_MICROSECOND
        elif has_more:
            next_start = page[-1].timestamp + _ONE_MICROSECOND
        return LogPage(page, has_more, next_start, next_end)


def _matches(entry: LogEntry, query: LogQuery) -> bool:
    if entry.resource not in query.resources:
        return False
    if query.levels and not any(_like(entry.level, p) for p in query.levels):
        return False
    if query.types and not any(_like(entry.type, p) for p in query.types):
        return False
    if query.instances and not any(_like(entry.instance or "", p) for p in query.instances):
        return False
    return not query.texts or any(_contains(entry.message, p) for p in query.texts)


def _like(value: str, pattern: str) -> bool:
    # Render filters accept wildcards; plain values match exactly.
    return fnmatch.fnmatchcase(value, pattern) if "*" in pattern else value == pattern


def _contains(message: str, pattern: str) -> bool:
    if "*" in pattern:
        return fnmatch.fnmatch(message.lower(), f"*{pattern.lower()}*")
    return pattern.lower() in message.lower()
