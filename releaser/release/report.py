"""What a deploy (or rollback) run concluded, as data, as a terminal summary, and as markdown.

The markdown is incident-ready: pasted into a ticket it answers what was deployed, when, the
symptom, the decisive log lines, the decision taken and the state now.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, Field, computed_field

from releaser.errors import (
    EXIT_NEGATIVE,
    EXIT_OK,
    EXIT_UNSAFE,
    ReleaserError,
    UnsafeState,
)
from releaser.files import write_private
from releaser.output import format_duration, format_time
from releaser.results import Outcome, Result


class DeployOutcome(Outcome):
    """Outcomes of `releaser deploy` (and promote, watch), each with its exit code."""

    HEALTHY = "healthy", EXIT_OK  # live, soaked, healthy
    DRY_RUN = "dry_run", EXIT_OK  # the plan only
    NO_GO = "no_go", EXIT_NEGATIVE  # go-no-go said no: nothing deployed
    FAILED = "failed", EXIT_NEGATIVE  # Render failed it; the previous version kept serving
    CANCELED = "canceled", EXIT_NEGATIVE  # releaser canceled it; previous version serving
    ROLLED_BACK = "rolled_back", EXIT_NEGATIVE  # turned bad after live; rolled back, healthy
    NOT_BACK = "not_back", EXIT_UNSAFE  # failed and NOT safely back on a healthy version


class RollbackOutcome(Outcome):
    """Outcomes of `releaser rollback`: anything but planned, started or healthy needs a human."""

    PLANNED = "planned", EXIT_OK
    STARTED = "started", EXIT_OK  # --no-wait
    HEALTHY = "healthy", EXIT_OK
    FAILED = "failed", EXIT_UNSAFE


class PhaseTiming(BaseModel):
    phase: str
    seconds: float


class CheckLine(BaseModel):
    name: str
    status: str
    detail: str


class RollbackSummary(BaseModel):
    deploy_id: str | None
    to_deploy_id: str
    to_version: str
    outcome: str  # "healthy", "failed", "unknown", "not_started"
    detail: str = ""
    autodeploy_disabled: bool = False
    autodeploy_before: str | None = None  # the exact setting before: autoDeploy + trigger
    autodeploy_command: str | None = None


class DeployReport(Result):
    """What a deploy run concluded; ``summary`` is one sentence for the report and error line."""

    service_id: str
    service_name: str | None
    outcome: DeployOutcome
    refused: bool = False  # a dry run that a real run would refuse (it exits 1)
    deployed: str  # what was asked for: "commit 1a2b3c4", "image ...", "the branch head"
    deploy_id: str | None = None
    deploy_version: str | None = None
    previous_deploy_id: str | None = None
    previous_version: str | None = None
    watch_verdict: str | None = None
    cause: str | None = None
    cause_detail: str | None = None
    decisive_lines: list[str] = Field(default_factory=list)
    evidence: list[str] = Field(default_factory=list)  # what the verdict rests on
    harmless: list[str] = Field(default_factory=list)  # seen, judged harmless, and why
    render_reason: str | None = None
    actions: list[str] = Field(default_factory=list)
    timings: list[PhaseTiming] = Field(default_factory=list)
    api_requests: int = 0
    health_probes: int = 0
    health_url: str | None = None
    health_judged: str | None = None  # what decides health for this service type, in words
    rollback: RollbackSummary | None = None
    undo_command: str | None = None
    state_now: str = ""
    warnings: list[str] = Field(default_factory=list)
    not_undone: list[str] = Field(default_factory=list)
    checks: list[CheckLine] = Field(default_factory=list)
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def exit_code(self) -> int:
        return EXIT_NEGATIVE if self.refused else self.outcome.exit_code

    @property
    def label(self) -> str:
        return f"{self.service_name} ({self.service_id})" if self.service_name else self.service_id

    def error(self, default_advice: str = "") -> ReleaserError | None:
        if self.outcome is DeployOutcome.NOT_BACK:
            return UnsafeState(
                self.summary, f"A human is needed: {self.undo_command or 'check releaser status'}"
            )
        return super().error(default_advice)

    def render_text(self) -> str:
        """The terminal summary (stdout): short, the verdict first."""
        return _deploy_text(self)

    def render_markdown(self) -> str:
        """An incident-ready summary for ``--report FILE.md``."""
        return _deploy_markdown(self)


def _timings_line(report: DeployReport) -> str:
    return ", ".join(f"{t.phase} {format_duration(t.seconds)}" for t in report.timings) or "-"


def _deploy_text(report: DeployReport) -> str:
    lines = [
        f"{report.outcome.heading}: {report.summary}",
        f"  service    {report.label}",
        f"  deployed   {report.deployed}" + (f" as {report.deploy_id}" if report.deploy_id else ""),
    ]
    if report.previous_deploy_id:
        lines.append(f"  previous   {report.previous_deploy_id} ({report.previous_version})")
    for check in report.checks:
        if check.status in ("FAIL", "WARN"):
            lines.append(f"  check      {check.status} {check.name}: {check.detail}")
    if report.cause:
        lines.append(
            f"  cause      {report.cause}"
            + (f": {report.cause_detail}" if report.cause_detail else "")
        )
    if report.render_reason:
        lines.append(f"  render     {report.render_reason}")
    for index, line in enumerate(report.decisive_lines):
        lines.append(f"  {'log' if index == 0 else '':<10} {line}")
    for index, item in enumerate(report.evidence[:5]):
        lines.append(f"  {'evidence' if index == 0 else '':<10} {item}")
    for index, item in enumerate(report.harmless[:5]):
        lines.append(f"  {'harmless' if index == 0 else '':<10} {item}")
    for action in report.actions:
        lines.append(f"  action     {action}")
    rollback = report.rollback
    if rollback is not None and rollback.autodeploy_disabled:
        lines.append(f"  autodeploy turned off; it was {rollback.autodeploy_before}")
        lines.append(f"             put it back: {rollback.autodeploy_command}")
    if report.timings:
        lines.append(f"  timings    {_timings_line(report)}")
    lines.append(f"  requests   {report.api_requests} API requests, {report.health_probes} probes")
    if report.health_judged:
        lines.append(f"  health     judged by {report.health_judged}")
    if report.state_now:
        lines.append(f"  now        {report.state_now}")
    for warning in report.warnings:
        lines.append(f"  warning    {warning}")
    if report.undo_command:
        lines.append(f"  undo       {report.undo_command}")
    return "\n".join(lines)


# How every markdown report begins: --report replaces an existing file only if it is one.
REPORT_HEAD = b"# Release report: "


def _deploy_markdown(report: DeployReport) -> str:
    title = f"Release report: {report.service_name or report.service_id}"
    out = [
        f"# {title}",
        "",
        f"**{report.outcome.heading}**: {report.summary}",
        "",
    ]
    out += [
        "| | |",
        "|---|---|",
        f"| Service | `{report.service_id}` {report.service_name or ''} |",
        f"| Deployed | {report.deployed}"
        + (f" (`{report.deploy_id}`, {report.deploy_version})" if report.deploy_id else "")
        + " |",
        "| Previous version | "
        + (
            f"`{report.previous_deploy_id}` {report.previous_version}"
            if report.previous_deploy_id
            else "none"
        )
        + " |",
        f"| Started | {format_time(report.started_at)} UTC |",
        f"| Finished | {format_time(report.finished_at)} UTC |",
        f"| Exit code | {report.exit_code} |",
        "",
    ]
    out += ["## Symptom", ""]
    if report.cause:
        out.append(
            f"- Cause: **{report.cause}**"
            + (f" ({report.cause_detail})" if report.cause_detail else "")
        )
    if report.render_reason:
        out.append(f"- Render reported: {report.render_reason}")
    if report.watch_verdict:
        out.append(f"- Watch verdict: `{report.watch_verdict}`")
    if not (report.cause or report.render_reason or report.watch_verdict):
        out.append("- None observed.")
    out.append("")
    if report.decisive_lines:
        out += ["## Decisive log lines", "", "```", *report.decisive_lines, "```", ""]
    if report.evidence:
        out += ["## Evidence behind the verdict", ""] + [f"- {e}" for e in report.evidence]
        out.append("")
    if report.harmless:
        out += ["## Seen but judged harmless", ""] + [f"- {h}" for h in report.harmless]
        out.append("")
    if report.checks:
        out += ["## Go/no-go checks", "", "| check | status | detail |", "|---|---|---|"]
        out += [f"| {c.name} | {c.status} | {c.detail.replace('|', '/')} |" for c in report.checks]
        out.append("")
    out += ["## Decision taken", ""]
    out += [f"- {action}" for action in report.actions] or ["- None."]
    if report.rollback:
        rb = report.rollback
        out.append(
            f"- Rollback to `{rb.to_deploy_id}` ({rb.to_version}): {rb.outcome}"
            + (f", {rb.detail}" if rb.detail else "")
        )
        if rb.autodeploy_disabled:
            out.append(
                f"- Autodeploy was turned off (it was {rb.autodeploy_before}). "
                f"Put it back: `{rb.autodeploy_command}`"
            )
    out.append("")
    out += ["## State now", "", report.state_now or "unknown", ""]
    if report.timings:
        out += ["## Timings", "", "| phase | duration |", "|---|---|"]
        out += [f"| {t.phase} | {format_duration(t.seconds)} |" for t in report.timings]
        out.append("")
    out += [
        f"API requests: {report.api_requests}. Health probes: {report.health_probes}"
        + (f" ({report.health_url})" if report.health_url else "")
        + ".",
        "",
    ]
    if report.health_judged:
        out += [f"Health judged by: {report.health_judged}.", ""]
    if report.not_undone:
        out += ["## What a rollback does not undo", ""]
        out += [f"- {note}" for note in report.not_undone]
        out.append("")
    if report.warnings:
        out += ["## Warnings", ""] + [f"- {w}" for w in report.warnings] + [""]
    if report.undo_command:
        out += ["## Undo", "", "```", report.undo_command, "```", ""]
    return "\n".join(out)


class RollbackReport(Result):
    """A manual rollback: the plan (dry run) or what happened."""

    service_id: str
    service_name: str | None
    outcome: RollbackOutcome
    target_deploy_id: str
    target_version: str
    live_deploy_id: str | None = None
    live_version: str | None = None
    rollback_deploy_id: str | None = None
    autodeploy: str = ""  # what happens / happened to autodeploy, in words
    autodeploy_command: str | None = None
    warnings: list[str] = Field(default_factory=list)
    not_undone: list[str] = Field(default_factory=list)
    undo_command: str | None = None
    state_now: str = ""
    api_requests: int = 0
    health_probes: int = 0

    def error(self, default_advice: str = "") -> ReleaserError | None:
        if self.ok:
            return None
        return UnsafeState(self.summary, "A human is needed: check 'releaser status' and the logs")

    def render_text(self) -> str:
        return _rollback_text(self)


def _rollback_text(report: RollbackReport) -> str:
    lines = [
        f"{report.outcome.heading}: {report.summary}",
        f"  service    {report.service_name or ''} ({report.service_id})",
        f"  from       {report.live_deploy_id or '-'} ({report.live_version or '-'})",
        f"  to         {report.target_deploy_id} ({report.target_version})",
    ]
    if report.rollback_deploy_id:
        lines.append(f"  rollback   {report.rollback_deploy_id}")
    lines.append(f"  autodeploy {report.autodeploy}")
    if report.autodeploy_command:
        lines.append(f"             re-enable: {report.autodeploy_command}")
    if report.state_now:
        lines.append(f"  now        {report.state_now}")
    for warning in report.warnings:
        lines.append(f"  warning    {warning}")
    lines.append("  not undone by a rollback:")
    lines += [f"    - {note}" for note in report.not_undone]
    if report.undo_command:
        lines.append(f"  undo       {report.undo_command}")
    if report.api_requests:
        lines.append(
            f"  requests   {report.api_requests} API requests, {report.health_probes} probes"
        )
    return "\n".join(lines)


def write_report(path: Path, markdown: str, warn: Callable[[str], None]) -> None:
    """Write a ``--report`` file; whatever happens to the file, the verdict stands.

    The run happened: its outcome and exit code matter more than the file, so a failure
    to write is a warning, not an error.
    """
    try:
        write_private(path, markdown)
    except (OSError, ReleaserError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else exc.message
        warn(f"could not write the report to {path} ({why}); see below.")
