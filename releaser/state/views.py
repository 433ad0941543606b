"""What `releaser lock status` and `releaser ledger` show: the lock holders and the ledger.

The JSON form of each is the list of models (``LockHolder``, ``LedgerEntry``) as stored.
"""

from __future__ import annotations

from releaser.errors import EXIT_OK
from releaser.output import format_time, table
from releaser.results import Listing, Outcome, Result
from releaser.state.models import LedgerEntry, LockHolder


class LockHolders(Listing[LockHolder]):
    service: str | None = None  # the service asked about (None: all)

    def render_text(self) -> str:
        if not self.items:
            return f"{self.service} is not locked." if self.service else "No service is locked."
        rows = [
            [
                h.service_name or h.service,
                h.who,
                h.host,
                format_time(h.since),
                h.what,
                h.ci_url or "",
            ]
            for h in self.items
        ]
        return table(rows, ["service", "who", "host", "since", "what", "CI run"])


class LedgerEntries(Listing[LedgerEntry]):
    service: str | None = None  # the service asked about (None: all)

    def render_text(self) -> str:
        if not self.items:
            return "The ledger has no entries" + (f" for {self.service}." if self.service else ".")
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
            for e in self.items
        ]
        return table(rows, ["at", "service", "action", "who", "from → to", "verdict", "where"])


class LockOutcome(Outcome):
    RELEASED = "released", EXIT_OK
    NOT_LOCKED = "not_locked", EXIT_OK  # nothing to release


class LockRelease(Result):
    """What `lock release --force` did: the holder whose lock it broke, if any."""

    outcome: LockOutcome
    holder: LockHolder | None = None

    @classmethod
    def of(cls, service: str, holder: LockHolder | None) -> LockRelease:
        if holder is None:
            return cls(
                outcome=LockOutcome.NOT_LOCKED,
                summary=f"{service} is not locked; nothing to release.",
            )
        return cls(
            outcome=LockOutcome.RELEASED,
            summary=f"Released the lock on {holder.service_name or holder.service} "
            f"({holder.describe()}).",
            holder=holder,
        )

    def render_text(self) -> str:
        return self.summary  # one sentence, as it always read
