"""``releaser go-no-go``: the pre-release checklist and its verdict."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from releaser.cli.common import (
    check_commit,
    check_image,
    complete_service,
    output_option,
    render_client,
)
from releaser.cli.guard import audited, ci_annotations, note

if TYPE_CHECKING:
    from releaser.release.gonogo import GoNoGoReport


@click.command("go-no-go")
@click.argument("service", shell_complete=complete_service)
@click.option(
    "--commit",
    metavar="SHA",
    callback=check_commit,
    help="The commit about to be released (repo services).",
)
@click.option(
    "--image",
    metavar="REF",
    callback=check_image,
    help="The image about to be released (image services).",
)
@click.option(
    "--env-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A local .env to compare with Render (drift, shell-unsafe values).",
)
@output_option
@audited("go-no-go", lock=False)
def go_no_go(
    service: str, commit: str | None, image: str | None, env_file: Path | None, output: str
) -> None:
    """May SERVICE be released now? Prints a checklist and a verdict.

    Checks: the service is active, no deploy is running, required vars are set (linked env
    groups count), secrets are strong and distinct, typed values parse, the .env file
    matches, a rollback target exists, the version is new, the git checkout is clean and
    pushed, and the database has a recent drill-verified backup. Values are never printed.

    Exit 0 for GO (warnings allowed), 1 for NO-GO, 2 for bad input, 3 when Render cannot
    be reached.

    \b
    Example:
      releaser go-no-go web --commit 3f2a9c1 --env-file .env.production
      releaser go-no-go web -o json | jq '.checks[] | select(.status == "FAIL")'
    """
    from releaser.cli.console import print_json
    from releaser.config import load_config
    from releaser.errors import NegativeVerdict, UsageError
    from releaser.release.gonogo import run_go_no_go

    if commit and image:
        raise UsageError("--commit and --image are exclusive", "Pass the one your service uses")
    config = load_config()
    with render_client() as client:
        svc = client.resolve_service(service)
        report = run_go_no_go(
            client, svc, config, commit=commit, image=image, env_file=env_file, cwd=Path.cwd()
        )
    note(verdict=report.verdict, annotations=ci_annotations(report.checks))
    note(report=f"## go-no-go: {report.verdict}\n\n```\n{render_report(report)}\n```")
    if output == "json":
        print_json(report.model_dump(mode="json"))
    else:
        click.echo(render_report(report, config.path))
    if report.verdict == "NO-GO":
        failed = [c.name for c in report.checks if c.status == "FAIL"]
        raise NegativeVerdict(
            f"NO-GO for {svc.label}: {len(failed)} check(s) failed ({', '.join(failed)})",
            "Fix what the FAIL lines say, then run go-no-go again",
        )


# Colour shows on a terminal only: click.echo strips it in pipes and CI logs, and the
# global --no-color / NO_COLOR turn it off everywhere.
STATUS_COLOURS = {"PASS": "green", "WARN": "yellow", "FAIL": "red"}


def render_report(report: GoNoGoReport, config_path: Path | None = None) -> str:
    name = report.service_name or report.service_id
    # Which rules applied: the same checks say GO without a config and NO-GO with one.
    rules = f"rules from {config_path}" if config_path else "default rules (no releaser.toml)"
    lines = [f"go-no-go for {name} ({report.service_id}), {rules}", ""]
    width = max(len(c.name) for c in report.checks)
    for check in report.checks:
        status = click.style(f"{check.status:<4}", fg=STATUS_COLOURS.get(check.status))
        lines.append(f"  {status}  {check.name:<{width}}  {check.detail}")
    warnings = sum(1 for c in report.checks if c.status == "WARN")
    failures = sum(1 for c in report.checks if c.status == "FAIL")
    counts = []
    if failures:
        counts.append(f"{failures} failed")
    if warnings:
        counts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
    verdict = click.style(
        report.verdict, fg="green" if report.verdict == "GO" else "red", bold=True
    )
    lines += ["", f"Verdict: {verdict}" + (f" ({', '.join(counts)})" if counts else "")]
    return "\n".join(lines)
