"""The drill report as Markdown (``--report FILE.md``): for a ticket or a postmortem."""

from __future__ import annotations

from releaser.db.checks import Check
from releaser.db.drill import DrillResult
from releaser.db.restore import NOT_RESTORED
from releaser.output import format_duration


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def drill_markdown(result: DrillResult) -> str:
    ev = result.evidence
    verdict = "PASSED" if ev.passed else "FAILED"
    lines = [
        f"# Recovery drill {verdict}: {ev.database}",
        "",
        f"- Snapshot: `{ev.snapshot_id}` taken {ev.taken_at:%Y-%m-%d %H:%M:%S} UTC "
        f"({'taken by this drill' if result.took_snapshot else 'latest existing'})",
        f"- Store: `{result.store_url}`",
        f"- Drilled: {ev.drilled_at:%Y-%m-%d %H:%M:%S} UTC on `{ev.target_server}` "
        f"(scratch database `{ev.scratch_database}`, dropped)",
        f"- RPO (now minus newest verified snapshot): {format_duration(ev.rpo_seconds)}",
        f"- RTO (download + restore + analyze + verify): {format_duration(ev.rto_seconds)}",
        f"- Evidence: `{result.evidence_key}`",
    ]
    if ev.error:
        lines += ["", f"**Error:** {ev.error}"]
    lines += ["", f"Not brought back by any restore, so not checked: {NOT_RESTORED}."]
    lines += ["", "## Phases", "", "| phase | seconds | MB | MB/s |", "|---|---:|---:|---:|"]
    for phase, timing in ev.phases.items():
        size = f"{timing.bytes / 1_000_000:.1f}" if timing.bytes is not None else "-"
        rate = f"{timing.mb_per_s}" if timing.mb_per_s is not None else "-"
        lines.append(f"| {phase} | {timing.seconds:.2f} | {size} | {rate} |")
    return "\n".join(lines + checks_markdown(ev.checks)) + "\n"


def checks_markdown(checks: list[Check]) -> list[str]:
    """The checks section: every check with expected and actual, passing or not."""
    failed = sum(1 for c in checks if not c.ok)
    lines = [
        "",
        f"## Checks ({len(checks) - failed} passed, {failed} failed)",
        "",
        "| check | expected | actual | ok |",
        "|---|---|---|---|",
    ]
    for c in checks:
        mark = "yes" if c.ok else "**NO**"
        lines.append(f"| {_cell(c.name)} | {_cell(c.expected)} | {_cell(c.actual)} | {mark} |")
    return lines
