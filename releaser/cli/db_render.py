"""``releaser db export`` and the Render-native drills of ``db drill --from render-…``.

Glue only, like ``releaser.cli.db`` (whose helpers it uses): Render's own exports and
point-in-time recovery, drilled by ``releaser.db.render_export`` and ``releaser.db.pitr``,
finished as ``releaser.db.results`` results. Only click is imported at module level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import click

from releaser.cli.common import output_option
from releaser.cli.console import console


def _db() -> Any:
    """releaser.cli.db, for its shared helpers (imported late: it imports this module)."""
    from releaser.cli import db

    return db


endpoint_option = click.option(
    "--endpoint-url",
    metavar="URL",
    help="S3-compatible endpoint (default: AWS_ENDPOINT_URL, or endpoint_url in releaser.toml).",
)

ORIGINS = ("snapshot", "render-export", "render-pitr")

# The options of Render-native drills, each with the --from values it belongs to: the one
# list that declares them (render_drill_options) and refuses them elsewhere (check_origin).
_ORIGIN_OPTIONS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "--export-id": (
        ("render-export",),
        {"metavar": "ID", "help": "render-export: this export (exp-…)."},
    ),
    "--latest": (
        ("render-export",),
        {"is_flag": True, "help": "render-export: the newest ready export."},
    ),
    "--at": (
        ("render-pitr",),
        {"metavar": "TIME", "help": "render-pitr: restore time (ISO 8601, UTC)."},
    ),
    "--ago": (
        ("render-pitr",),
        {"metavar": "AGE", "help": "render-pitr: restore to now minus AGE (30m)."},
    ),
    "--keep-minutes": (
        ("render-pitr",),
        {
            "type": click.FloatRange(min=0),
            "default": 0,
            "help": "render-pitr: keep the (billed) instance this long for a human to look at.",
        },
    ),
    "--yes": (
        ("render-pitr",),
        {"is_flag": True, "help": "render-pitr: confirm the billed instance."},
    ),
    "--wait": (
        ("render-export", "render-pitr"),
        {
            "metavar": "AGE",
            "default": "30m",
            "show_default": True,
            "help": "How long to wait for a new export or a recovery instance.",
        },
    ),
}


def _dest(flag: str) -> str:
    return flag.removeprefix("--").replace("-", "_")


def render_drill_options(function: Any) -> Any:
    """The options of Render-native drills (--from render-export / render-pitr)."""
    options = [
        click.option(
            "--from",
            "origin",
            type=click.Choice(ORIGINS),
            default="snapshot",
            show_default=True,
            help="What to drill: our snapshots, Render's exports, or Render's PITR.",
        ),
        *(click.option(flag, **kwargs) for flag, (_, kwargs) in _ORIGIN_OPTIONS.items()),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@dataclass(frozen=True)
class RenderDrillOptions:
    """What ``render_drill_options`` parsed, checked against --from by ``check_origin_options``."""

    origin: str
    export_id: str | None
    latest: bool
    at: str | None
    ago: str | None
    keep_minutes: float
    yes: bool
    wait: str


def check_origin_options(use_latest: bool, **values: Any) -> RenderDrillOptions:
    """An option of another --from is a mistake worth saying, not something to ignore."""
    from releaser.errors import UsageError

    options = RenderDrillOptions(**values)
    given: dict[str, tuple[str, ...]] = {"--use-latest": ("snapshot",)} if use_latest else {}
    for flag, (origins, kwargs) in _ORIGIN_OPTIONS.items():
        if values[_dest(flag)] not in (None, False, kwargs.get("default")):
            given[flag] = origins
    wrong = [flag for flag, origins in given.items() if options.origin not in origins]
    if wrong:
        raise UsageError(
            f"{', '.join(wrong)} cannot be used with --from {options.origin}",
            "See 'releaser db drill --help' for the options of each --from",
        )
    if options.at and options.ago:
        raise UsageError("--at and --ago exclude each other", "Pass one of them")
    return options


def _render_source(source: str, origin: str) -> Any:
    from releaser.db.resolve import resolve_source
    from releaser.errors import UsageError

    src = resolve_source(source, _db().config())
    if src.render_id is None:
        raise UsageError(
            f"{origin} needs a Render Postgres as SOURCE, and {source!r} is not one",
            'Name it by dpg-… id or Render name, or set source = "dpg-…" in releaser.toml',
        )
    return src


@click.command(name="export")
@click.argument("source")
@click.option(
    "--download-to",
    metavar="STORE",
    help="Also copy the export into this store (s3://… or file://…) with a manifest.",
)
@endpoint_option
@click.option("--list", "list_only", is_flag=True, help="List SOURCE's exports; create none.")
@click.option("--wait", metavar="AGE", default="30m", show_default=True, help="Wait this long.")
@output_option
def export_command(
    source: str, download_to: str | None, endpoint_url: str | None, list_only: bool, wait: str
) -> None:
    """Trigger a Render export of SOURCE (a Render Postgres) and wait until it is ready.

    Render keeps daily exports for 7 days; this makes one now. --download-to copies the
    .dir.tar.gz at once (its URL is signed and short-lived), streaming it through SHA-256
    into the store, and writes a manifest last. Drill it with
    'releaser db drill SOURCE --from render-export'.

    \b
    Example:
      releaser db export main-db --download-to s3://backups/app
      releaser db export dpg-abc123 --list
    """
    from releaser.db.render_export import copy_export_to_store, trigger_export
    from releaser.db.resolve import resolve_store
    from releaser.db.results import ExportList, ExportMade
    from releaser.durations import parse_duration
    from releaser.render.client import RenderClient

    wait_seconds = parse_duration(wait, "--wait")
    src = _render_source(source, "db export")
    config = _db().config()
    store = resolve_store(download_to, config, endpoint_url=endpoint_url) if download_to else None
    with RenderClient.from_env() as client:
        if list_only:
            exports = client.list_exports(src.render_id)
            return console().finish(ExportList.of(src.render_id, exports))
        reporter = _db().reporter()
        made = trigger_export(client, src.render_id, wait_seconds=wait_seconds, reporter=reporter)
        stored = None
        if store:
            stored = copy_export_to_store(client, src.render_id, src.name, made, store, reporter)
    url = store.url if store else None
    console().finish(ExportMade.of(src.name, src.render_id, made, url, stored))


def _parse_at(text: str) -> Any:
    from datetime import UTC, datetime

    from releaser.errors import UsageError

    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--at {text!r} is not a time", "Use ISO 8601, e.g. 2026-05-01T14:30:00Z"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _confirm_pitr(plan: Any, src: Any, yes: bool) -> None:
    """PITR creates a billed instance: --yes, or a terminal confirmation naming it."""
    what = (
        f"a BILLED Render Postgres ({plan.plan}) recovered from {src.name} ({src.render_id}) "
        f"at {plan.restore_time:%Y-%m-%d %H:%M:%S} UTC"
    )
    # The one confirmation policy, with a question that names what will be billed.
    console().confirm_write(f"Create {what}, check it, then delete it?", yes=yes)


def render_drill(
    source: str,
    to: str | None,
    endpoint_url: str | None,
    target_server: str | None,
    report_path: str | None,
    jobs: int,
    workdir: str | None,
    options: RenderDrillOptions,
) -> None:
    """``db drill --from render-export|render-pitr``: drill, finish, write the report."""
    from releaser.config import DatabaseConfig
    from releaser.db.dsn import parse_dsn
    from releaser.db.dsn import resolve_env as env_value
    from releaser.db.resolve import resolve_store
    from releaser.db.results import RenderDrillReport
    from releaser.durations import parse_duration
    from releaser.errors import UsageError
    from releaser.render.client import RenderClient

    if options.origin == "render-pitr" and target_server:
        raise UsageError("--target-server is for --from snapshot or render-export", "")
    wait_seconds = parse_duration(options.wait, "--wait")
    store = resolve_store(to, _db().config(), database=source, endpoint_url=endpoint_url)
    src = _render_source(source, f"--from {options.origin}")
    settings = src.config or DatabaseConfig()
    checks: dict[str, Any] = {
        "invariants": settings.invariants,
        "drift_per_day": settings.row_drift_per_day,
    }
    with RenderClient.from_env() as client:
        if options.origin == "render-export":
            from releaser.db.render_export import run_export_drill

            result = run_export_drill(
                client,
                store,
                postgres_id=src.render_id,
                database=src.name,
                source=src.dsn,
                export_id=options.export_id,
                latest=options.latest,
                target_server=parse_dsn(env_value(target_server)) if target_server else None,
                jobs=jobs,
                wait_seconds=wait_seconds,
                reporter=_db().reporter(),
                workdir=workdir,
                **checks,
            )
        else:
            result = _pitr_drill(client, store, src, options, wait_seconds, checks)
    _db().finish_with_report(RenderDrillReport.of(result), report_path)


def _pitr_drill(
    client: Any,
    store: Any,
    src: Any,
    options: RenderDrillOptions,
    wait_seconds: float,
    checks: dict[str, Any],
) -> Any:
    """Plan the recovery, confirm the billed instance, then recover, check and delete it."""
    from datetime import timedelta

    from releaser.db.pitr import plan_pitr, run_pitr_drill
    from releaser.durations import parse_duration

    ago = options.ago
    plan = plan_pitr(
        client,
        src.render_id,
        at=_parse_at(options.at) if options.at else None,
        ago=timedelta(seconds=parse_duration(ago, "--ago")) if ago else None,
    )
    _confirm_pitr(plan, src, options.yes)
    return run_pitr_drill(
        client,
        store,
        plan,
        database=src.name,
        source=src.dsn,
        keep_minutes=options.keep_minutes,
        wait_seconds=wait_seconds,
        reporter=_db().reporter(),
        **checks,
    )
