"""The Markdown report of a Render export or PITR drill (``db drill --from … --report``)."""

from __future__ import annotations

from releaser.db.render_export import RenderDrillResult
from releaser.db.report import checks_markdown
from releaser.output import format_duration


def render_drill_markdown(result: RenderDrillResult) -> str:
    ev = result.evidence
    verdict = "PASSED" if ev.passed else "FAILED"
    export = ev.kind == "render-export"
    lines = [
        f"# {'Render export' if export else 'Point-in-time recovery'} drill {verdict}: "
        f"{ev.database}",
        "",
        f"- Source: `{ev.render_id}`",
        f"- {'Export' if export else 'Recovery instance'}: `{ev.subject}`"
        + ("" if export else f" ({'deleted' if ev.instance_deleted else 'NOT DELETED'})"),
        f"- Data as of: {ev.data_at:%Y-%m-%d %H:%M:%S} UTC "
        f"({'export created' if export else 'restore time'})",
        f"- Drilled: {ev.drilled_at:%Y-%m-%d %H:%M:%S} UTC, checked on `{ev.target}`",
        f"- RPO: {format_duration(ev.rpo_seconds) if export else 'point in time (WAL)'}",
        f"- RTO: {format_duration(ev.rto_seconds)}",
        f"- Evidence: `{result.store_url}/{result.evidence_key}`",
        "",
        "Row counts are approximate: the copy is compared with the source as it is now.",
    ]
    if ev.sha256:
        lines.insert(4, f"- Archive: {ev.size_bytes} bytes, sha256 `{ev.sha256}`")
    if ev.error:
        lines += ["", f"**Error:** {ev.error}"]
    lines += ["", "## Phases", "", "| phase | seconds | MB/s |", "|---|---:|---:|"]
    for phase, timing in ev.phases.items():
        rate = f"{timing.mb_per_s}" if timing.mb_per_s is not None else "-"
        lines.append(f"| {phase} | {timing.seconds:.2f} | {rate} |")
    return "\n".join(lines + checks_markdown(ev.checks)) + "\n"
