"""`releaser deploy`, `rollback` and `promote`: glue over releaser.release."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from releaser.cli.common import (
    check_commit,
    check_image,
    complete_service,
    output_option,
    render_client,
    write_report,
)
from releaser.cli.console import console
from releaser.cli.guard import audited, ci_annotations, hold, note

if TYPE_CHECKING:
    from releaser.release.deploy import DeployOptions
    from releaser.release.report import DeployReport, RollbackReport
    from releaser.release.rollback import RollbackPlan


# The watch's own flags: deploy, promote and watch share them (same names, defaults, help).
_TIMEOUT = click.option(
    "--timeout",
    default="20m",
    show_default=True,
    help="Give up on a deploy still in progress after this long (it is canceled).",
)
_SOAK = click.option(
    "--soak",
    default="60s",
    show_default=True,
    help="After live, how long health probes and logs must stay good.",
)
_REPORT = click.option(
    "--report",
    "report_path",
    default=None,
    help="Also write an incident-ready markdown summary to this file.",
)


def _deploy_options(func: Any) -> Any:
    """Watch and safety options shared by deploy and promote."""
    options = [
        _TIMEOUT,
        _SOAK,
        click.option(
            "--no-rollback",
            is_flag=True,
            help="If it turns bad after live, do not roll back automatically (exit 4).",
        ),
        click.option("--skip-checks", is_flag=True, help="Do not run go-no-go first."),
        click.option("--dry-run", is_flag=True, help="Print the plan; write nothing."),
        click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation."),
        _REPORT,
        output_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


def watch_options(
    timeout: str,
    soak: str,
    no_rollback: bool,
    skip_checks: bool,
    *,
    commit: str | None = None,
    image: str | None = None,
    deploy_only: bool = False,
    clear_cache: bool = False,
) -> DeployOptions:
    """DeployOptions from the flags deploy and promote share (and deploy's own)."""
    from releaser.durations import parse_bounded
    from releaser.release.deploy import DeployOptions

    return DeployOptions(
        commit=commit,
        image=image,
        deploy_only=deploy_only,
        clear_cache=clear_cache,
        # Refused before any write: `--timeout 0` once created a deploy and canceled it.
        timeout=parse_bounded(timeout, "--timeout", 10.0, 24 * 3600.0),
        soak=parse_bounded(soak, "--soak", 1.0, 6 * 3600.0),
        rollback=not no_rollback,
        skip_checks=skip_checks,
    )


def _finish_deploy(report: DeployReport, report_path: str | None) -> None:
    """Note the run for the ledger, write the markdown, print, exit with the report's code."""
    note(from_ref=report.previous_deploy_id, to_ref=report.deploy_id, verdict=report.outcome)
    markdown = report.render_markdown()
    note(report=markdown, annotations=ci_annotations(report.checks, report.warnings))
    write_report(report_path, markdown)
    console().finish(report)


def _run_deploy(
    service: str,
    options: DeployOptions,
    *,
    dry_run: bool,
    yes: bool,
    report_path: str | None,
    promote_from: str | None = None,
) -> None:
    from releaser.config import load_config
    from releaser.files import check_writable_file
    from releaser.release.deploy import execute_deploy, plan_deploy, plan_report
    from releaser.release.report import REPORT_HEAD
    from releaser.release.watch import ServerClock

    if report_path is not None:
        check_writable_file(Path(report_path), "--report", REPORT_HEAD)
    if not dry_run:
        console().check_confirmable(yes)  # exit 2 before any request, not after the checks
    config = load_config()
    with render_client() as client:
        svc = client.resolve_service(service)
        hold(svc.id, svc.name, skip=dry_run)
        if promote_from is not None:
            from releaser.release.promote import promotion_options

            options = promotion_options(client, promote_from, svc, options, progress=console().say)
        plan = plan_deploy(client, config, svc, options)
        if dry_run:
            _finish_deploy(plan_report(plan, "dry_run"), report_path)
            return
        if plan.refusal:
            _finish_deploy(plan_report(plan, "no_go"), report_path)
            return
        previous = f" (rollback target {plan.previous.id})" if plan.previous else ""
        console().confirm_write(f"Deploy {options.what} to {svc.label}{previous}?", yes=yes)
        clock = ServerClock(client.server_now)
        report = execute_deploy(client, plan, clock, progress=console().say)
    _finish_deploy(report, report_path)


@click.command()
@click.argument("service", shell_complete=complete_service)
@click.option(
    "--commit",
    default=None,
    callback=check_commit,
    help="Deploy this commit (default: the branch head).",
)
@click.option(
    "--image", default=None, callback=check_image, help="Deploy this image (image-backed services)."
)
@click.option("--deploy-only", is_flag=True, help="Redeploy the last build, without building.")
@click.option("--clear-cache", is_flag=True, help="Clear the build cache first.")
@_deploy_options
@audited("deploy")
def deploy(
    service: str,
    commit: str | None,
    image: str | None,
    deploy_only: bool,
    clear_cache: bool,
    timeout: str,
    soak: str,
    no_rollback: bool,
    skip_checks: bool,
    dry_run: bool,
    yes: bool,
    report_path: str | None,
) -> None:
    """Deploy SERVICE, watch it, and roll back if it turns bad.

    \b
    1. go-no-go (unless --skip-checks): NO-GO stops here, exit 1
    2. remembers the live deploy as the way back
    3. triggers one deploy, then watches status, logs and events
    4. a crash loop in the logs: cancels it (the old version still serves)
    5. after live: probes health for --soak; if it turns bad, rolls back once

    \b
    Exit: 0 healthy; 1 failed and back on the previous version;
    4 failed and NOT safely back (a human is needed).

    \b
    Example:
      releaser deploy web --commit 1a2b3c4 --soak 2m --report release.md
    """
    options = watch_options(
        timeout,
        soak,
        no_rollback,
        skip_checks,
        commit=commit,
        image=image,
        deploy_only=deploy_only,
        clear_cache=clear_cache,
    )
    _run_deploy(service, options, dry_run=dry_run, yes=yes, report_path=report_path)


@click.command()
@click.option(
    "--from",
    "from_service",
    required=True,
    shell_complete=complete_service,
    help="The staging service (verified).",
)
@click.option(
    "--to",
    "to_service",
    required=True,
    shell_complete=complete_service,
    help="The production service.",
)
@_deploy_options
@audited("promote")
def promote(
    from_service: str,
    to_service: str,
    timeout: str,
    soak: str,
    no_rollback: bool,
    skip_checks: bool,
    dry_run: bool,
    yes: bool,
    report_path: str | None,
) -> None:
    """Deploy to production exactly what is live and healthy on staging.

    The same commit (or image digest) that staging runs, then watched like
    'releaser deploy'. Refuses when staging is not live and healthy, or when the
    two services do not build from the same repository or image.

    \b
    Example:
      releaser promote --from web-staging --to web --yes
    """
    _run_deploy(
        to_service,
        watch_options(timeout, soak, no_rollback, skip_checks),
        dry_run=dry_run,
        yes=yes,
        report_path=report_path,
        promote_from=from_service,
    )


def _finish_rollback(report: RollbackReport) -> None:
    note(from_ref=report.live_deploy_id, to_ref=report.target_deploy_id, verdict=report.outcome)
    detail: dict[str, str] = {}
    if report.rollback_deploy_id:
        detail["deploy_id"] = report.rollback_deploy_id
    if report.autodeploy:  # an autodeploy change is a write of its own: the ledger says so
        detail["autodeploy"] = report.autodeploy
    note(detail=detail or None)
    console().finish(report)


def _rollback_question(plan: RollbackPlan) -> str:
    live = f" from {plan.live.id}" if plan.live else ""
    return f"Roll {plan.service.label} back{live} to {plan.target.id} ({plan.target.version})?"


@click.command()
@click.argument("service", shell_complete=complete_service)
@click.option(
    "--to",
    "to",
    required=True,
    help="previous (the last good deploy before the live one), a dep-… id, or a commit sha.",
)
@click.option(
    "--keep-autodeploy",
    is_flag=True,
    help="Leave autodeploy on (default: turn it off so a push does not redeploy).",
)
@click.option("--no-wait", is_flag=True, help="Start the rollback and return.")
@click.option("--dry-run", is_flag=True, help="Print the plan; write nothing.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@output_option
@audited("rollback")
def rollback(
    service: str,
    to: str,
    keep_autodeploy: bool,
    no_wait: bool,
    dry_run: bool,
    yes: bool,
) -> None:
    """Roll SERVICE back to a previous deploy, fast (Render reuses the build).

    Checks the target before writing (exists, not live, was live once), turns
    autodeploy off unless --keep-autodeploy, waits for live and probes health.
    Prints what a rollback does not undo and the command that undoes it.

    \b
    Example:
      releaser rollback web --to previous
      releaser rollback web --to dep-d0abc123 --dry-run
    """
    from releaser.config import load_config
    from releaser.release.rollback import execute_rollback, plan_rollback, rollback_report
    from releaser.release.watch import ServerClock

    if not dry_run:
        console().check_confirmable(yes)  # exit 2 before any request
    config = load_config()
    with render_client() as client:
        svc = client.resolve_service(service)
        hold(svc.id, svc.name, skip=dry_run)
        rules = config.rules_for(svc.id, svc.name)
        plan = plan_rollback(client, svc, to, keep_autodeploy=keep_autodeploy, rules=rules)
        if dry_run:
            _finish_rollback(rollback_report(plan))
            return
        console().confirm_write(_rollback_question(plan), yes=yes)
        report = execute_rollback(
            client,
            plan,
            ServerClock(client.server_now),
            wait=not no_wait,
            health_path=rules.health_path,
            progress=console().say,
        )
    _finish_rollback(report)


@click.command()
@click.argument("service")
@click.argument("deploy_id", required=False)
@_TIMEOUT
@_SOAK
@click.option(
    "--rollback-on-failure",
    is_flag=True,
    help="If it turns bad after live, roll back to the previous deploy (default: report only).",
)
@_REPORT
@output_option
@audited("watch")
def watch(
    service: str,
    deploy_id: str | None,
    timeout: str,
    soak: str,
    rollback_on_failure: bool,
    report_path: str | None,
) -> None:
    """Re-attach to a running deploy of SERVICE and judge it like 'releaser deploy'.

    DEPLOY_ID defaults to the newest deploy in progress. Same verdicts, same
    report and exit codes as deploy: a crash loop is canceled; after live, health
    is probed for --soak. It rolls back only with --rollback-on-failure.

    \b
    Example:
      releaser watch web dep-d0abc123 --rollback-on-failure --report release.md
    """
    from releaser.config import load_config
    from releaser.files import check_writable_file
    from releaser.release.deploy import attach_plan, execute_deploy
    from releaser.release.report import REPORT_HEAD
    from releaser.release.watch import ServerClock

    if report_path is not None:
        check_writable_file(Path(report_path), "--report", REPORT_HEAD)
    options = replace(watch_options(timeout, soak, not rollback_on_failure, True), attached=True)
    config = load_config()
    with render_client() as client:
        svc = client.resolve_service(service)
        # It may cancel a crash loop or roll back: a write, so it holds the release lock.
        hold(svc.id, svc.name)
        plan, running = attach_plan(client, config, svc, deploy_id, options)
        clock = ServerClock(client.server_now)
        report = execute_deploy(client, plan, clock, progress=console().say, attach=running)
    _finish_deploy(report, report_path)


@click.command()
@click.argument("service")
@click.argument("deploy_id", required=False)
@click.option("--dry-run", is_flag=True, help="Print what would be canceled; write nothing.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@output_option
@audited("cancel")
def cancel(service: str, deploy_id: str | None, dry_run: bool, yes: bool) -> None:
    """Cancel a running deploy of SERVICE (DEPLOY_ID, or the newest in progress).

    The live deploy keeps serving. One cancel request, then the status is read back.

    \b
    Exit: 0 canceled; 1 not confirmed, or it finished before the cancel;
    2 nothing in progress; 3 Render did not confirm the cancel.

    \b
    Example:
      releaser cancel web dep-d0abc123 --yes
    """
    from releaser.release import cancel as core

    if not dry_run:
        console().check_confirmable(yes)  # exit 2 before any request
    with render_client() as client:
        svc = client.resolve_service(service)
        running = core.find_running(client, svc, deploy_id)
        if dry_run:
            console().finish(core.plan_report(client, svc, running))
            return
        question = f"Cancel {running.id} ({running.version}, {running.status}) on {svc.label}?"
        console().confirm_write(question, yes=yes)
        hold(svc.id, svc.name)
        report = core.cancel(client, svc, running)
    note(to_ref=running.id, verdict=report.outcome)
    console().finish(report)
