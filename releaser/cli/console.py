"""The one console: where a command's output, talk and questions go.

Data goes to stdout (one JSON document with ``-o json``); talk (progress, warnings) goes to
stderr. ``confirm_write`` is the one confirmation policy for every write, and ``finish``
prints a command's ``Result`` and raises the error that carries its exit code. Commands get
the console with ``console()``; the ``releaser`` group puts it in the Click context.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from releaser.errors import Declined, UsageError
from releaser.output import to_json
from releaser.results import Result, View

_json_printed: list[bool] = []  # set once this run's JSON document is on stdout


def json_was_printed() -> bool:
    """Whether stdout already holds this run's JSON document (then errors add no second one)."""
    return bool(_json_printed)


def reset_json_printed() -> None:
    _json_printed.clear()  # a new run (tests run many in one process)


def stdin_is_tty() -> bool:
    """Whether there is a person at a terminal to ask (the seam tests use to play one)."""
    return sys.stdin.isatty()


def stdout_is_tty() -> bool:
    """Whether output goes to a terminal rather than a pipe, file or CI log."""
    return sys.stdout.isatty()


def stderr_is_tty() -> bool:
    return sys.stderr.isatty()


class Console:
    """stdout for data, stderr for talk, the terminal checks and the confirmation policy."""

    def __init__(self, *, color: bool | None = None) -> None:
        self.color = color  # None: colour on a terminal only (click strips it elsewhere)
        self.output = "table"  # set by the -o option of the running command

    @property
    def json(self) -> bool:
        return self.output == "json"

    # --- writing ---------------------------------------------------------------------------

    def data(self, text: str = "") -> None:
        """A line of the command's answer (stdout)."""
        click.echo(text, color=self.color)

    def say(self, text: str) -> None:
        """Progress and talk: always stderr, so stdout stays parseable."""
        click.echo(text, err=True, color=self.color)

    def warn(self, text: str) -> None:
        self.say(f"Warning: {text}")

    def print_json(self, document: Any) -> None:
        """The run's one JSON document (stdout)."""
        _json_printed.append(True)
        click.echo(to_json(document))

    # --- asking ----------------------------------------------------------------------------

    def check_confirmable(self, yes: bool) -> None:
        """Fail early (exit 2, before any request) when a write could not be confirmed."""
        if not yes and not stdin_is_tty():
            raise UsageError(
                "this command writes and there is no terminal to confirm on, "
                "so nothing was changed",
                "Pass --yes to confirm non-interactively, or --dry-run to see the plan",
            )

    def confirm_write(self, question: str, *, yes: bool) -> None:
        """The one confirmation policy for every command that writes.

        --yes: go ahead. No terminal and no --yes: exit 2, nothing changed (a script must say
        --yes rather than have a guess made for it). On a terminal: ask; anything but yes is
        exit 1, "nothing was changed".
        """
        if yes:
            return
        self.check_confirmable(yes)
        if not click.confirm(question, default=False, err=True):
            raise Declined("not confirmed", "Nothing was changed")

    # --- ending ----------------------------------------------------------------------------

    def show(self, result: Result | View) -> None:
        """Print ``result``: its JSON document, or its text coloured for a terminal (click strips
        the colour in pipes and with --no-color)."""
        if isinstance(result, View):
            self._show_view(result)
            return
        if self.json:
            self.print_json(result.model_dump(mode="json"))
            return
        if not result.render_text():
            return  # its story was told as it went (on stderr)
        self.data(result.render_terminal(click.style))

    def _show_view(self, view: View) -> None:
        if self.json:
            self.print_json(view.json_document())
            return
        if text := view.render_terminal(click.style):
            self.data(text)
        if note := view.note():
            self.say(note)

    def finish(self, result: Result) -> None:
        """Print ``result`` and end the command with its exit code."""
        self.show(result)
        error = result.error("See the JSON report" if self.json else "See the report above")
        if error is not None:
            raise error


def console() -> Console:
    """The running command's console (made on first use, e.g. a command invoked alone)."""
    ctx = click.get_current_context()
    root = ctx.find_root()
    if not isinstance(root.obj, Console):
        root.obj = Console(color=root.color)
    return root.obj


def say(text: str) -> None:
    """Talk on stderr, for code that has no console at hand (callbacks given to the core)."""
    click.echo(text, err=True)


def set_output(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Callback of ``-o``: the console learns the format before the command body runs."""
    console().output = value
    return value
