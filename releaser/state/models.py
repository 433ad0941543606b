"""What the state backend stores: lock holders and ledger entries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class LockHolder(BaseModel):
    """Who holds (or asks for) the release lock of one service, and why."""

    service: str  # the lock key: a Render service id, or a database name for db writes
    service_name: str | None = None
    who: str
    host: str
    ci_url: str | None = None
    since: datetime
    what: str  # the command: "deploy", "env set", ...
    pid: int

    def describe(self) -> str:
        """'alice on ci-3 since 2026-01-02 10:00:00Z (URL), running deploy'."""
        since = self.since.strftime("%Y-%m-%d %H:%M:%SZ")
        where = f" ({self.ci_url})" if self.ci_url else ""
        return f"{self.who} on {self.host} since {since}{where}, running {self.what}"


class LedgerEntry(BaseModel):
    """One write releaser made (or refused to make): append-only."""

    id: int | None = None
    at: datetime
    service: str
    service_name: str | None = None
    action: str
    who: str
    host: str
    ci_url: str | None = None
    from_ref: str | None = None
    to_ref: str | None = None
    verdict: str
    exit_code: int
    detail: dict[str, Any] = Field(default_factory=dict)
    report: str | None = None  # the markdown report, when the command made one
