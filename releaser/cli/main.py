"""The ``releaser`` entry point: lazy command loading and the one error boundary."""

from __future__ import annotations

import difflib
import importlib
import json
import os
import re
import sys
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from releaser import __version__
from releaser.errors import EXIT_BUG, EXIT_NEGATIVE, EXIT_USAGE, ReleaserError

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
    "release": "releaser.cli.release:release",
    "lock": "releaser.cli.state:lock",
    "ledger": "releaser.cli.state:ledger",
}

# Global flags accepted anywhere on the line (people add -v at the end when a command fails).
_ANYWHERE = ("-v", "--verbose", "--no-color")


class _Invocation:
    """What the boundary needs to know about this run before Click has parsed anything."""

    def __init__(self, args: list[str]) -> None:
        self.verbose = "-v" in args or "--verbose" in args
        self.json = _wants_json(args)
        plain = (
            "--no-color" in args or os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb"
        )
        self.color: bool | None = False if plain else None  # None: colour on a terminal only


def _wants_json(args: Sequence[str]) -> bool:
    for index, arg in enumerate(args):
        if arg == "--":
            break
        if arg in ("-o", "--output") and args[index + 1 : index + 2] == ["json"]:
            return True
        if arg in ("-ojson", "--output=json"):
            return True
    return False


def _hoist_global_flags(args: list[str]) -> list[str]:
    """Move -v/--no-color given after the command to the front, where Click expects them."""
    end = args.index("--") if "--" in args else len(args)
    hoisted = [a for a in args[:end] if a in _ANYWHERE]
    rest = [a for a in args[:end] if a not in _ANYWHERE]
    return list(dict.fromkeys(hoisted)) + rest + args[end:]


def _check_utf8(args: Sequence[str]) -> None:
    # Bytes that are not UTF-8 arrive as lone surrogates; they would crash later, possibly
    # after a write (a backup file), and cannot be sent to Render anyway. Never echo them:
    # the argument may be a secret value.
    for position, arg in enumerate(args, start=1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            raise click.UsageError(
                f"argument {position} is not valid UTF-8 text. Pass UTF-8 text "
                "(check the shell's locale and the quoting)"
            ) from None
        if "\x00" in arg:
            raise click.UsageError(f"argument {position} contains a NUL byte. Remove it")


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

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            raise click.UsageError(did_you_mean(f"no command {name!r}", name, list(COMMANDS)))
        return super().resolve_command(ctx, args)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except BrokenPipeError:  # `releaser --help | head -1`
            raise click.exceptions.Exit(_quiet_broken_pipe()) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # Caught here because Click would turn it into exit 1 before main() sees it.
            ctx.exit(_quiet_broken_pipe())

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> NoReturn:
        """Run the CLI; every way it can end becomes an exit code and at most one line."""
        argv = list(sys.argv[1:] if args is None else args)
        from releaser.cli.console import reset_json_printed

        reset_json_printed()
        run = _Invocation(argv)
        code = 0
        try:
            _check_utf8(argv)
            result = super().main(
                _hoist_global_flags(argv), prog_name, complete_var, False, **extra
            )
            code = result if isinstance(result, int) else 0
        except ReleaserError as exc:
            code = _fail(run, exc.one_line(), exc.exit_code, exc.message, exc.advice)
        except click.ClickException as exc:
            if exc.__class__.__name__ == "NoArgsIsHelpError":  # `releaser db` alone: its help
                exc.show()
                code = EXIT_USAGE
            else:
                code = _usage_error(run, exc)
        except click.Abort as exc:
            # Click turns Ctrl-C into Abort; a declined or unanswerable prompt is Abort too.
            if isinstance(exc.__cause__, KeyboardInterrupt):
                code = _fail(run, "interrupted. Nothing further was started", 130)
            else:
                code = _fail(run, "not confirmed. Nothing was changed", EXIT_NEGATIVE)
        except KeyboardInterrupt:
            code = _fail(run, "interrupted. Nothing further was started", 130)
        except BrokenPipeError:
            code = _quiet_broken_pipe()
        except Exception as exc:  # a bug: still one line, with the way to learn more
            # Its own exit code (70), never 3: a retry will not fix a bug.
            code = _fail(
                run,
                f"unexpected {exc.__class__.__name__} (a bug in releaser): {exc}. "
                "Run again with -v for the traceback and report it",
                EXIT_BUG,
            )
        _flush_or_quiet()
        sys.exit(code)


def plain_text() -> bool:
    """NO_COLOR (https://no-color.org: any non-empty value) or a dumb terminal: no colour."""
    return bool(os.environ.get("NO_COLOR")) or os.environ.get("TERM") == "dumb"


def did_you_mean(message: str, given: str, known: Sequence[str]) -> str:
    """``message`` plus the closest known names, for a one-line error."""
    close = difflib.get_close_matches(given, known, n=3, cutoff=0.6)
    if close:
        return f"{message}. Did you mean {' or '.join(repr(c) for c in close)}?"
    return f"{message}. Run 'releaser --help' to list the commands"


def _usage_error(run: _Invocation, exc: click.ClickException) -> int:
    """Click's own errors, as one line like every other error (its usage block is noise)."""
    text = " ".join(exc.format_message().split()).rstrip(".")
    # "No such option '--tmeout'. (Did you mean '--timeout'?)" -> without the parentheses.
    text = re.sub(r"\.? ?\((Did you mean [^)]*)\)$", r". \1", text).rstrip(".")
    ctx = getattr(exc, "ctx", None)
    advice = f"Run '{ctx.command_path} --help' for usage" if ctx is not None else ""
    stop = " " if text.endswith("?") else ". "
    line = f"{text}{stop}{advice}" if advice else text
    return _fail(run, line, EXIT_USAGE, text, advice)


def _fail(
    run: _Invocation, line: str, code: int, message: str | None = None, advice: str = ""
) -> int:
    from releaser.cli.console import json_was_printed

    if run.verbose and sys.exc_info()[0] is not None:
        traceback.print_exc()
    line = " ".join(line.split())
    try:
        if run.json and not json_was_printed():
            # CI parses stdout: every outcome, failures included, is one JSON document.
            error = {
                "error": message if message is not None else line,
                "exit_code": code,
                "advice": advice,
            }
            click.echo(json.dumps(error))
        prefix = click.style("Error:", fg="red", bold=True)
        click.echo(f"{prefix} {line}", err=True, color=run.color)
    except BrokenPipeError:
        _quiet_broken_pipe()
    return code


def _quiet_broken_pipe() -> int:
    # The reader went away (`releaser logs web | head -1`): normal in a shell, not an error.
    # Point stdout at /dev/null so the interpreter's final flush does not complain either.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # not a real file (CliRunner): nothing to redirect
        pass
    return 0


def _flush_or_quiet() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_broken_pipe()
    except (OSError, ValueError):
        pass


@click.group(cls=ReleaserGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="releaser")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks and debug detail.")
@click.option(
    "--config",
    "config_path",
    metavar="FILE",
    default=None,
    help="Use this releaser.toml (default: $RELEASER_CONFIG, else the nearest releaser.toml "
    "from here up to the repository root).",
)
@click.option("--no-color", is_flag=True, help="Plain text even on a terminal (so does NO_COLOR).")
@click.pass_context
def main(ctx: click.Context, verbose: bool, config_path: str | None, no_color: bool) -> None:
    """Release manager for apps on Render.

    \b
    Answers three questions with evidence and an exit code:
      may we release now?             releaser go-no-go SERVICE
      did it work, or are we back?    releaser deploy SERVICE / releaser rollback SERVICE
      can we restore our database?    releaser db drill DATABASE

    \b
    Exit codes: 0 success/GO, 1 NO-GO or failed (rolled back), 2 usage or config error,
    3 Render/S3/Postgres unreachable or refusing, 4 failed and NOT safely back,
    70 a bug in releaser (report it; do not retry).

    Reads RENDER_API_KEY and RENDER_API_URL; try it locally with 'releaser sim serve'.
    """
    from releaser.cli.console import Console
    from releaser.config import use_config_file

    ctx.meta["releaser.verbose"] = verbose
    # Colour only on a terminal (Click strips it elsewhere), and never when asked not to.
    if no_color or plain_text():
        ctx.color = False
    ctx.obj = Console(color=ctx.color)
    use_config_file(config_path)


if __name__ == "__main__":  # pragma: no cover
    main()
