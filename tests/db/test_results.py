"""The db commands' results: the JSON keys scripts read, and the exit code of each verdict."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from releaser.db.checks import Check
from releaser.db.drill import DrillResult
from releaser.db.evidence import DrillEvidence, PhaseTiming
from releaser.db.results import Cleanup, DrillReport
from releaser.errors import EnvironmentProblem, NegativeVerdict
from releaser.output import to_json

WHEN = datetime(2026, 5, 1, 2, 0, tzinfo=UTC)


def _drill(
    checks: list[Check], error: str | None = None, evidence_error: str | None = None
) -> DrillReport:
    evidence = DrillEvidence(
        snapshot_id="app-1",
        database="app",
        taken_at=WHEN,
        drilled_at=WHEN,
        passed=error is None and all(c.ok for c in checks),
        target_server="postgresql://postgres@db:5432/postgres",
        scratch_database="releaser_drill_x",
        phases={"restore": PhaseTiming(seconds=1.5)},
        rto_seconds=1.5,
        checks=checks,
        error=error,
    )
    return DrillReport.of(
        DrillResult(evidence, False, "drills/x.json", "s3://b/p", evidence_error=evidence_error)
    )


def test_a_drill_result_keeps_the_evidence_keys_at_the_top_of_its_json() -> None:
    ok = _drill([Check(name="rows t", expected="1", actual="1", ok=True)])
    doc = json.loads(to_json(ok.model_dump(mode="json")))
    assert doc["store"] == "s3://b/p" and doc["evidence_key"] == "drills/x.json"
    assert doc["snapshot_taken_by_drill"] is False and doc["cleaned_up"] == []
    assert doc["snapshot_id"] == "app-1" and doc["passed"] is True
    assert doc["phases"]["restore"]["seconds"] == 1.5 and doc["checks"][0]["ok"] is True
    assert (doc["outcome"], doc["exit_code"]) == ("passed", 0)
    assert "flat" not in doc and "markdown" not in doc and "evidence_error" not in doc
    assert ok.error() is None
    assert ok.render_text().startswith("drill        PASSED\n")
    assert ok.render_markdown().startswith("# Recovery drill PASSED: app")


def test_each_drill_verdict_has_its_exit_code_and_one_line() -> None:
    bad = Check(name="rows t", expected="1", actual="2", ok=False)
    mismatch = _drill([bad]).error()
    assert isinstance(mismatch, NegativeVerdict)
    assert mismatch.one_line() == (
        "drill of app-1 failed: 1 of 1 checks do not match (rows t). Do not rely on this "
        "snapshot; see the checks above and use another one"
    )
    broken = _drill([], error="the archive is corrupt").error()
    assert isinstance(broken, NegativeVerdict)
    assert broken.one_line() == "drill of app-1 failed: the archive is corrupt."
    unrecorded = _drill([], evidence_error="S3 said no")
    error = unrecorded.error()
    assert isinstance(error, EnvironmentProblem) and unrecorded.exit_code == 3
    assert "the drill passed but its evidence could not be stored: S3 said no" in str(error)
    assert "NOT STORED" in unrecorded.render_text()


def test_cleanup_says_what_it_dropped_or_that_there_was_nothing() -> None:
    assert Cleanup.of([]).render_text() == "Nothing to clean up: no leftover of a killed drill."
    dropped = Cleanup.of(["database releaser_drill_1"])
    assert dropped.model_dump(mode="json")["cleaned_up"] == ["database releaser_drill_1"]
    assert (
        dropped.render_text() == "Dropped database releaser_drill_1: left behind by a killed drill."
    )
