"""Checking a copy recovered from Render (an export restored, or a PITR instance) against the
source as it is NOW.

Neither carries snapshot-consistent facts (Render exports have no manifest; a recovery is of
a past moment), so unlike our own snapshots the checks are: every table and sequence of the
source's current schema exists, row counts are plausible for the copy's age (reported side
by side, marked approximate), and the invariants in ``releaser.toml`` hold in the copy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from releaser.db import facts as facts_mod
from releaser.db.checks import Check, check
from releaser.db.dsn import Dsn
from releaser.db.manifest import TableFact
from releaser.db.pgtools import connect

MIN_ROW_SLACK = 10  # small tables churn by a few rows whatever the age
MIN_AGE_DAYS = 1 / 24  # even a fresh copy is allowed an hour's worth of drift


def row_allowance(source_rows: int, age_seconds: float, drift_per_day: float) -> int:
    """How far a copy of ``age_seconds`` may differ from the source's current count."""
    days = max(age_seconds / 86400, MIN_AGE_DAYS)
    return max(MIN_ROW_SLACK, math.ceil(source_rows * drift_per_day * days))


def _schema(dsn: Dsn, what: str) -> tuple[list[TableFact], list[str], dict[str, int]]:
    from psycopg import sql

    with connect(dsn, autocommit=True, what=what) as conn:
        relations = facts_mod.list_relations(conn)
        sequences = [f"{s}.{n}" for s, n, *_ in conn.execute(facts_mod.SEQUENCES_SQL).fetchall()]
        counts: dict[str, int] = {}
        for rel in relations:
            if rel.kind != "table":
                continue  # materialized views are refreshed on restore, not copied
            query = sql.SQL("SELECT count(*) FROM {}.{}").format(
                sql.Identifier(rel.schema_name), sql.Identifier(rel.name)
            )
            row = conn.execute(query).fetchone()
            counts[rel.qualified] = int(row[0]) if row else 0
    return relations, sequences, counts


def compare_with_source(
    source: Dsn, copy: Dsn, *, age_seconds: float, drift_per_day: float
) -> list[Check]:
    """Schema presence (exact) and row counts (approximate) of ``copy`` against ``source``."""
    src_relations, src_sequences, src_counts = _schema(source, "source database")
    relations, sequences, counts = _schema(copy, "recovered database")
    present = {r.qualified for r in relations}
    checks: list[Check] = []
    for rel in src_relations:
        label = "matview" if rel.kind == "matview" else "table"
        found = "present" if rel.qualified in present else "missing"
        checks.append(check(f"{label} {rel.qualified}", "present", found))
    have_sequences = set(sequences)
    for name in src_sequences:
        found = "present" if name in have_sequences else "missing"
        checks.append(check(f"sequence {name}", "present", found))
    for name, source_rows in src_counts.items():
        if name not in counts:
            continue  # already reported missing
        slack = row_allowance(source_rows, age_seconds, drift_per_day)
        got = counts[name]
        checks.append(
            check(
                f"rows {name} (approximate)",
                f"{source_rows} ± {slack} (source now)",
                got,
                ok=abs(got - source_rows) <= slack,
            )
        )
    return checks


def _passes(value: Any) -> bool:
    return value is None or value == 0 or value is False


def check_invariants(copy: Dsn, invariants: Mapping[str, str]) -> list[Check]:
    """Each invariant is a query whose first column is 0 (or false, or no row) when the data
    is sound, e.g. ``select count(*) from orders where total < 0``. Read-only transaction."""
    import psycopg

    checks: list[Check] = []
    if not invariants:
        return checks
    with connect(copy, what="recovered database") as conn:
        for name, query in invariants.items():
            try:
                with conn.transaction():
                    conn.execute("SET TRANSACTION READ ONLY")
                    conn.execute("SET LOCAL statement_timeout = '10min'")
                    row = conn.execute(query).fetchone()
                value = row[0] if row else None
                checks.append(check(f"invariant {name}", 0, value, ok=_passes(value)))
            except psycopg.Error as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else "error"
                checks.append(check(f"invariant {name}", 0, f"error: {first}", ok=False))
    return checks
