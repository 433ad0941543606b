"""Comparing a restored database (or an archive's contents) with its manifest.

Every check is reported with expected and actual values, passing or not: an operator
reading a drill report should see what was compared, not just "OK".
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel

from releaser.db.manifest import Facts, SequenceFact, TableFact


class Check(BaseModel):
    name: str
    expected: str
    actual: str
    ok: bool


def check(name: str, expected: object, actual: object, ok: bool | None = None) -> Check:
    passed = (expected == actual) if ok is None else ok
    return Check(name=name, expected=_text(expected), actual=_text(actual), ok=passed)


def _text(value: object) -> str:
    if value is None:
        return "-"
    return str(value)


def all_ok(checks: Iterable[Check]) -> bool:
    return all(c.ok for c in checks)


def compare_facts(expected: Facts, actual: Facts) -> list[Check]:
    """The restored database against the manifest: relations, row counts, fingerprints,
    sequences, large objects, extensions, encoding, invalid indexes."""
    checks: list[Check] = []
    checks.extend(_relations(expected.tables, actual.tables))
    checks.extend(_sequences(expected.sequences, actual.sequences))
    checks.append(check("large objects", expected.large_objects, actual.large_objects))
    for name, version in sorted(expected.extensions.items()):
        checks.append(check(f"extension {name}", version, actual.extensions.get(name)))
    checks.append(check("encoding", expected.encoding, actual.encoding))
    if expected.database_settings is not None:
        checks.append(
            check(
                "database settings",
                "; ".join(expected.database_settings) or "none",
                "; ".join(actual.database_settings or []) or "none",
            )
        )
        checks.append(check("database comment", expected.database_comment, actual.database_comment))
    checks.append(
        check(
            "invalid indexes",
            "none",
            ", ".join(actual.invalid_indexes) or "none",
        )
    )
    return checks


def _relations(expected: list[TableFact], actual: list[TableFact]) -> list[Check]:
    checks: list[Check] = []
    found = {t.qualified: t for t in actual}
    for table in expected:
        label = "matview" if table.kind == "matview" else "table"
        got = found.pop(table.qualified, None)
        if got is None:
            checks.append(check(f"{label} {table.qualified}", "present", "missing"))
            continue
        if table.kind == "matview":
            checks.extend(_matview(table, got))
            continue
        checks.append(check(f"rows {table.qualified}", table.rows, got.rows))
        if table.fingerprint is not None or got.fingerprint is not None:
            checks.append(
                check(f"fingerprint {table.qualified}", table.fingerprint, got.fingerprint)
            )
    for extra in sorted(found):
        checks.append(check(f"relation {extra}", "absent", "present (not in the snapshot)"))
    return checks


def _matview(expected: TableFact, got: TableFact) -> list[Check]:
    """What a restore (which REFRESHes) can promise: populated as in the source, and the
    row count its query gives, when that query is deterministic."""
    populated = "populated" if expected.rows is not None else "not populated"
    checks = [
        check(
            f"matview {expected.qualified}",
            populated,
            "populated" if got.rows is not None else "not populated",
        )
    ]
    if expected.rows is not None and expected.deterministic:
        checks.append(check(f"rows {expected.qualified}", expected.rows, got.rows))
    return checks


def _last_used(seq: SequenceFact) -> int:
    # A sequence that was never called has handed out nothing yet.
    return seq.last_value if seq.is_called else seq.last_value - seq.increment


def _sequences(expected: list[SequenceFact], actual: list[SequenceFact]) -> list[Check]:
    """Sequences are not transactional: pg_dump reads them after the facts were read, so
    the restored value may be higher, never lower (lower would hand out used ids again)."""
    checks: list[Check] = []
    found = {s.qualified: s for s in actual}
    for seq in expected:
        got = found.get(seq.qualified)
        if got is None:
            checks.append(check(f"sequence {seq.qualified}", "present", "missing"))
            continue
        checks.append(_sequence(seq, got))
    return checks


def _sequence(seq: SequenceFact, got: SequenceFact) -> Check:
    """Not backwards in the sequence's own direction: >= for ascending, <= for descending.
    A cycling sequence may have wrapped around since, so only its presence is checked."""
    name = f"sequence {seq.qualified}"
    expected, actual = _last_used(seq), _last_used(got)
    if seq.cycle:
        return check(name, "present (cycles)", f"present ({actual})", ok=True)
    if seq.increment < 0:
        return check(name, f"<= {expected}", actual, ok=actual <= expected)
    return check(name, f">= {expected}", actual, ok=actual >= expected)


def compare_archive_rows(expected: Facts, copied: dict[str, int]) -> list[Check]:
    """Row counts read from the archive's COPY sections (verify, without a database);
    table data the manifest does not know means the dump is not the one described."""
    checks = []
    known = set()
    for table in expected.tables:
        known.add(table.qualified)
        if table.kind != "table":
            continue  # materialized views are refreshed on restore, not copied
        checks.append(
            check(f"archive rows {table.qualified}", table.rows, copied.get(table.qualified))
        )
    for extra in sorted(set(copied) - known):
        if copied[extra]:
            checks.append(check(f"archive rows {extra}", "absent", copied[extra]))
    return checks


_TOC_KIND = {"table": "TABLE", "matview": "MATERIALIZED VIEW"}


def compare_archive_contents(expected: Facts, contents: dict[str, set[str]]) -> list[Check]:
    """The archive's table of contents names every relation and sequence of the manifest."""
    missing = [
        t.qualified
        for t in expected.tables
        if t.qualified not in contents.get(_TOC_KIND[t.kind], set())
    ]
    missing += [
        s.qualified
        for s in expected.sequences
        if s.qualified not in contents.get("SEQUENCE", set())
    ]
    total = len(expected.tables) + len(expected.sequences)
    return [
        check(
            "archive table of contents",
            f"{total} relations and sequences",
            f"missing {', '.join(missing[:5])}" if missing else f"{total} relations and sequences",
        )
    ]
