"""The ``releaser`` entry point: lazy command loading and the one error boundary."""

from __future__ import annotations

import importlib
import sys
import traceback
from typing import Any

import click

from releaser import __version__
from releaser.errors import EXIT_ENVIRONMENT, ReleaserError

# name -> "module:attribute". Commands load on first use so `releaser --help` and
# read-only commands never import boto3 or psycopg.
COMMANDS: dict[str, str] = {
    "services": "releaser.cli.services:services",
    "status": "releaser.cli.services:status",
    "history": "releaser.cli.services:history",
    "logs": "releaser.cli.logs:logs",
    "go-no-go": "releaser.cli.gonogo:go_no_go",
    "env": "releaser.cli.env:env",
    "deploy": "releaser.cli.deploy:deploy",
    "rollback": "releaser.cli.deploy:rollback",
    "promote": "releaser.cli.deploy:promote",
    "watch": "releaser.cli.deploy:watch",
    "cancel": "releaser.cli.deploy:cancel",
    "db": "releaser.cli.db:db",
    "sim": "releaser.cli.sim:sim",
}


class ReleaserGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command), target
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ReleaserError as exc:
            if ctx.meta.get("releaser.verbose"):
                traceback.print_exc()
            click.echo(f"Error: {exc.one_line()}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("Error: interrupted. Nothing further was started.", err=True)
            ctx.exit(130)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:  # a bug: still one line, with the way to learn more
            if ctx.meta.get("releaser.verbose"):
                traceback.print_exc()
            click.echo(
                f"Error: unexpected {exc.__class__.__name__}: {exc}. "
                "Run again with -v for the traceback and report it.",
                err=True,
            )
            ctx.exit(EXIT_ENVIRONMENT)


@click.group(cls=ReleaserGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="releaser")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks and debug detail.")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """Release manager for apps on Render.

    \b
    Answers three questions with evidence and an exit code:
      may we release now?             releaser go-no-go SERVICE
      did it work, or are we back?    releaser deploy SERVICE / releaser rollback SERVICE
      can we restore our database?    releaser db drill DATABASE

    \b
    Exit codes: 0 success/GO, 1 NO-GO or failed (rolled back), 2 usage or config error,
    3 Render/S3/Postgres unreachable or refusing, 4 failed and NOT safely back.

    Reads RENDER_API_KEY and RENDER_API_URL; try it locally with 'releaser sim serve'.
    """
    ctx.meta["releaser.verbose"] = verbose


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
