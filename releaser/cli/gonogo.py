"""``releaser go-no-go``: the pre-release checklist and its verdict."""

from __future__ import annotations

from pathlib import Path

import click

from releaser.cli.common import (
    check_commit,
    check_image,
    complete_service,
    output_option,
    render_client,
)
from releaser.cli.guard import audited, ci_annotations, note


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
    service: str,
    commit: str | None,
    image: str | None,
    env_file: Path | None,
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
    from releaser.cli.console import console
    from releaser.config import load_config
    from releaser.errors import UsageError
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
    note(report=report.render_markdown())
    console().finish(report)
