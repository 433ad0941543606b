"""Options and helpers shared by commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from releaser.render.client import RenderClient

F = TypeVar("F", bound=Callable[..., Any])

output_option = click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table for people, json (one document on stdout) for scripts.",
)


def render_client() -> RenderClient:
    """The Render client from RENDER_API_KEY / RENDER_API_URL (imported lazily)."""
    from releaser.render.client import RenderClient

    return RenderClient.from_env()


def stdin_is_tty() -> bool:
    """Whether there is a person at a terminal to ask (the seam tests use to play one)."""
    import sys

    return sys.stdin.isatty()


def check_confirmable(yes: bool) -> None:
    """Fail early (exit 2, before any request) when a write could not be confirmed."""
    from releaser.errors import UsageError

    if not yes and not stdin_is_tty():
        raise UsageError(
            "this command writes and there is no terminal to confirm on, so nothing was changed",
            "Pass --yes to confirm non-interactively, or --dry-run to see the plan",
        )


def confirm_write(question: str, *, yes: bool) -> None:
    """The one confirmation policy for every command that writes.

    --yes: go ahead. No terminal and no --yes: exit 2, nothing changed (a script must say
    --yes rather than have a guess made for it). On a terminal: ask; anything but yes is
    exit 1, "nothing was changed".
    """
    from releaser.errors import NegativeVerdict

    if yes:
        return
    check_confirmable(yes)
    if not click.confirm(question, default=False, err=True):
        raise NegativeVerdict("not confirmed", "Nothing was changed")


def stdout_is_tty() -> bool:
    """Whether output goes to a terminal rather than a pipe, file or CI log."""
    import sys

    return sys.stdout.isatty()
