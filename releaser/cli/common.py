"""Options and helpers shared by commands."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
import click.shell_completion

from releaser.cli.console import console, set_output

if TYPE_CHECKING:
    from releaser.render.client import RenderClient

# ``-o``: the console learns the format (``console().json``) before the body runs; bodies
# print through ``console().show/finish`` and never read it.
output_option = click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table for people, json (one document on stdout) for scripts.",
    callback=set_output,
    expose_value=False,
)


def complete_service(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[click.shell_completion.CompletionItem]:
    """Shell completion of SERVICE: the names (and ids) the API key can see.

    Completion must be quick and silent: one attempt, a short timeout, nothing on failure.
    """
    from click.shell_completion import CompletionItem

    from releaser.errors import ReleaserError
    from releaser.render.client import RenderClient, RetryPolicy

    try:
        with RenderClient.from_env(timeout=3.0, retry=RetryPolicy(attempts=1)) as client:
            found = client.list_services()
    except (ReleaserError, OSError):
        return []
    words = sorted({s.name for s in found if s.name} | {s.id for s in found})
    return [CompletionItem(w) for w in words if w.startswith(incomplete)]


def render_client() -> RenderClient:
    """The Render client from RENDER_API_KEY / RENDER_API_URL (imported lazily)."""
    from releaser.cli.console import say
    from releaser.render.client import RenderClient

    return RenderClient.from_env(on_retry=say)


def write_report(path: str | None, markdown: str) -> None:
    """``--report FILE``: write the markdown; a failure to write is a warning, not the verdict."""
    from releaser.release.report import write_report as write

    if path:
        write(Path(path), markdown, console().warn)


# The two below are for the commands not yet on the console (cli/db*.py): new code calls
# console().check_confirmable / console().confirm_write; delete these when nothing uses them.
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
