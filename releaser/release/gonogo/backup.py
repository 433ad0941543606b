"""The check that looks at backups: a recent snapshot that a restore drill verified."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from releaser.config import Config, DatabaseConfig, ServiceRules
from releaser.errors import ReleaserError
from releaser.output import format_duration
from releaser.release.gonogo.check import CheckResult, Status, _result


def check_database_backup(
    rules: ServiceRules, config: Config, *, now: datetime | None = None
) -> CheckResult:
    name = "database backup"
    if not rules.database:
        return _result(name, "SKIP", "no database linked to this service in releaser.toml")
    database = config.database(rules.database)
    if database is None:
        return _result(
            name,
            "WARN",
            f"database {rules.database!r} is not declared under [databases] in releaser.toml",
        )
    if not database.store:
        return _result(
            name, "WARN", f"database {rules.database!r} has no snapshot store configured"
        )
    from releaser.db.evidence import latest_verified  # the db package: only with a store

    bad: Status = "FAIL" if (database.production or rules.production) else "WARN"
    try:
        found = latest_verified(
            database.store,
            endpoint_url=database.endpoint_url,
            database=rules.database,
            accept=database.evidence_ages() if database.evidence else None,
        )
    except ReleaserError as exc:
        return _result(name, bad, f"cannot read the snapshot store: {exc.message}")
    return judge_backup(rules.database, database, found, bad, now or datetime.now(UTC))


class VerifiedSnapshot(Protocol):
    """What the backup check needs from releaser.db's evidence (its VerifiedBackup)."""

    @property
    def snapshot_id(self) -> str: ...

    @property
    def taken_at(self) -> datetime: ...


def judge_backup(
    name: str,
    database: DatabaseConfig,
    found: VerifiedSnapshot | None,
    bad: Status,
    now: datetime,
) -> CheckResult:
    """PASS when the newest drill-verified snapshot is younger than max_backup_age."""
    ages = database.evidence_ages()
    if found is None:
        return _result(
            "database backup",
            bad,
            f"no drill-verified snapshot of {name!r}; run 'releaser db drill {name}'",
        )
    # Render export and PITR evidence (releaser.toml `evidence`) carry a kind and a label.
    kind = getattr(found, "kind", "snapshot")
    what = getattr(found, "what", f"snapshot {found.snapshot_id}")
    limit = ages.get(kind, database.max_backup_age_seconds)
    setting = (
        f"evidence {kind} max {format_duration(limit)}"
        if database.evidence
        else f"max_backup_age {database.max_backup_age}"
    )
    age = (now - found.taken_at).total_seconds()
    if age > limit:
        return _result(
            "database backup",
            bad,
            f"newest verified {what} is {format_duration(age)} old "
            f"({setting}); take and drill a new one",
        )
    return _result(
        "database backup", "PASS", f"{what} from {format_duration(age)} ago, verified by a drill"
    )
