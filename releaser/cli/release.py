"""`releaser release NAME`: glue over releaser.release.multi."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from releaser.cli.common import (
    check_commit,
    check_image,
    output_option,
    render_client,
    write_report,
)
from releaser.cli.console import console
from releaser.cli.guard import audited, ci_annotations, hold, note

if TYPE_CHECKING:
    from releaser.config import Config, ReleasePlan
    from releaser.release.deploy import DeployOptions
    from releaser.release.multi import ReleaseReport, ReleaseRun
    from releaser.render.client import RenderClient
    from releaser.render.models import Service


@click.command()
@click.argument("name")
@click.option(
    "--commit",
    default=None,
    callback=check_commit,
    help="Release this commit (default: the branch head).",
)
@click.option(
    "--image",
    default=None,
    callback=check_image,
    help="Release this image (image-backed services).",
)
@click.option(
    "--changed-since",
    metavar="REF",
    default=None,
    help="Only services whose rootDir / build filter paths changed since REF (git).",
)
@click.option("--timeout", default="20m", show_default=True, help="Per deploy and migration.")
@click.option("--soak", default="60s", show_default=True, help="Health soak after each deploy.")
@click.option("--dry-run", is_flag=True, help="Check and print the plan; write nothing.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Also write the release's markdown report to this file.",
)
@output_option
@audited("release")
def release(
    name: str,
    commit: str | None,
    image: str | None,
    changed_since: str | None,
    timeout: str,
    soak: str,
    dry_run: bool,
    yes: bool,
    report_path: str | None,
) -> None:
    """Release the services of [releases.NAME] together: migrate, deploy in order, all or none.

    \b
    1. one go-no-go over every service (any NO-GO: nothing changes, exit 1)
    2. takes the release lock of every service; turns their autodeploy off
    3. runs the migration as a one-off job; a failed migration deploys nothing
    4. deploys in order, each watched like 'releaser deploy'; when one fails,
       rolls back those already deployed, in reverse order
    5. turns autodeploy back on (on failure it stays off and says how)

    \b
    Exit: 0 all healthy; 1 failed and everything is back; 4 something is not back.

    \b
    Example:
      releaser release shop --commit 1a2b3c4 --changed-since v1.4.0 --yes --report release.md
    """
    from releaser.cli.deploy import watch_options
    from releaser.config import load_config
    from releaser.files import check_writable_file
    from releaser.release.multi import execute_release
    from releaser.release.report import REPORT_HEAD

    if report_path is not None:
        check_writable_file(Path(report_path), "--report", REPORT_HEAD)
    if not dry_run:
        console().check_confirmable(yes)  # exit 2 before any request or lock
    config = load_config()
    wanted = _release_plan(config, name).services
    options = watch_options(timeout, soak, False, False, commit=commit, image=image)
    with render_client() as client:
        run, report = _plan(client, config, name, wanted, options, changed_since, dry_run=dry_run)
        if report is None:
            console().confirm_write(
                f"Release {name} ({options.what}) to {len(run.plans)} service(s)?", yes=yes
            )
            report = execute_release(client, run, options, progress=console().say)
    if not dry_run:
        _note_services(report)
    _finish(report, report_path)


def _plan(
    client: RenderClient,
    config: Config,
    name: str,
    wanted: list[str],
    options: DeployOptions,
    changed_since: str | None,
    *,
    dry_run: bool,
) -> tuple[ReleaseRun, ReleaseReport | None]:
    """Resolve and lock the services, run go-no-go: the run, and its report if it stops here."""
    from releaser.release.multi import plan_release

    services = [client.resolve_service(s) for s in wanted]
    for svc in sorted(services, key=lambda s: s.id):  # one order: no two releases deadlock
        hold(svc.id, svc.name, skip=dry_run)
    select = _selector(changed_since, options.commit or "HEAD") if changed_since else None
    run, report = plan_release(client, config, name, services, options, select)
    for result in run.results:
        console().say(f"{'include' if result.included else 'skip   '} {result.why}")
    if report is None and dry_run:
        report = run_report_dry(run, options)
    return run, report


def _release_plan(config: Config, name: str) -> ReleasePlan:
    from releaser.errors import UsageError

    if name not in config.releases:
        known = ", ".join(sorted(config.releases)) or "none"
        raise UsageError(
            f"no release plan [releases.{name}] in releaser.toml (known: {known})",
            "Add it (see runbooks/multi-service-release.md)",
        )
    return config.releases[name]


def _note_services(report: ReleaseReport) -> None:
    """One ledger line per service: what it went from and to, and its verdict."""
    for result in report.services:
        note(
            result.service_id,
            from_ref=result.deploy.previous_deploy_id if result.deploy else None,
            to_ref=result.deploy.deploy_id if result.deploy else None,
            verdict=(result.deploy.outcome if result.deploy else report.outcome)
            + (f", rolled back ({result.rollback.outcome})" if result.rollback else ""),
            detail={"release": report.name, "included": result.included, "why": result.why},
        )


def _selector(since: str, until: str) -> Callable[[Service], tuple[bool, str]]:
    from releaser.release.changed import changed_files, select

    files = changed_files(since, until)

    def choose(service: Service) -> tuple[bool, str]:
        chosen = select(service, files)
        return chosen.included, chosen.why

    return choose


def run_report_dry(run: ReleaseRun, options: DeployOptions) -> ReleaseReport:
    from releaser.release.multi import ReleaseOutcome, ReleaseReport

    names = ", ".join(p.service.name or p.service.id for p in run.plans)
    return ReleaseReport(
        name=run.name,
        outcome=ReleaseOutcome.DRY_RUN,
        summary=f"would release {options.what} to {names}"
        + (f" after the migration `{run.plan.migrate.command}`" if run.plan.migrate else ""),
        deployed=options.what,
        checks=run.checks,
        services=run.results,
    )


def _finish(report: ReleaseReport, report_path: str | None) -> None:
    markdown = report.render_markdown()
    note(report=markdown, verdict=report.outcome, annotations=ci_annotations(report.checks))
    write_report(report_path, markdown)
    console().finish(report)
