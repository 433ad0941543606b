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


_SHA_CHARS = frozenset("0123456789abcdefABCDEF")


def check_commit(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--commit``: absent, or 7 to 40 hex digits. ``--commit ""`` (an unset CI variable)
    once deployed the branch head; --skip-checks does not skip this."""
    from releaser.errors import UsageError

    if value is None:
        return None
    if not value.strip():
        raise UsageError(
            "--commit is empty (an unset CI variable?)",
            "Pass a commit sha (7 to 40 hex digits), or leave --commit out for the branch head",
        )
    if not 7 <= len(value) <= 40 or not set(value) <= _SHA_CHARS:
        raise UsageError(
            f"--commit {value!r} is not a commit sha", "Pass 7 to 40 hex digits, e.g. 1a2b3c4"
        )
    return value


def check_image(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--image``: absent, or a non-empty reference without spaces."""
    from releaser.errors import UsageError

    if value is None:
        return None
    if not value.strip() or any(c.isspace() for c in value):
        raise UsageError(
            f"--image {value!r} is not an image reference",
            "Pass e.g. docker.io/acme/web:1.4.2, or leave --image out",
        )
    return value
