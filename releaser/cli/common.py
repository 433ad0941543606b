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
