"""``releaser db export`` and the Render-native drills of ``db drill --from render-…``.

Glue only, like ``releaser.cli.db`` (whose helpers it uses): Render's own exports and
point-in-time recovery, drilled by ``releaser.db.render_export`` and ``releaser.db.pitr``.
Only click is imported at module level.
"""

from __future__ import annotations

from typing import Any

import click

from releaser.cli.common import confirm_write, output_option


def _db() -> Any:
    """releaser.cli.db, for its shared helpers (imported late: it imports this module)."""
    from releaser.cli import db

    return db


endpoint_option = click.option(
    "--endpoint-url",
    metavar="URL",
    help="S3-compatible endpoint (default: AWS_ENDPOINT_URL, or endpoint_url in releaser.toml).",
)


def render_drill_options(function: Any) -> Any:
    """The options of Render-native drills (--from render-export / render-pitr)."""
    options = [
        click.option(
            "--from",
            "origin",
            type=click.Choice(["snapshot", "render-export", "render-pitr"]),
            default="snapshot",
            show_default=True,
            help="What to drill: our snapshots, Render's exports, or Render's PITR.",
        ),
        click.option("--export-id", metavar="ID", help="render-export: this export (exp-…)."),
        click.option("--latest", is_flag=True, help="render-export: the newest ready export."),
        click.option("--at", metavar="TIME", help="render-pitr: restore time (ISO 8601, UTC)."),
        click.option("--ago", metavar="AGE", help="render-pitr: restore to now minus AGE (30m)."),
        click.option(
            "--keep-minutes",
            type=click.FloatRange(min=0),
            default=0,
            help="render-pitr: keep the (billed) instance this long for a human to look at.",
        ),
        click.option("--yes", is_flag=True, help="render-pitr: confirm the billed instance."),
        click.option(
            "--wait",
            metavar="AGE",
            default="30m",
            show_default=True,
            help="How long to wait for a new export or a recovery instance.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def render_drill_rows(store: Any, database: str | None) -> list[dict[str, Any]]:
    """Render export and PITR drills: first-class evidence beside the snapshots."""
    from releaser.db.render_evidence import render_drills

    return [
        {
            "database": s.database,
            "kind": s.kind,
            "subject": s.last_passed.subject if s.last_passed else None,
            "data_at": s.last_passed.data_at if s.last_passed else None,
            "last_verified": s.last_passed.drilled_at if s.last_passed else None,
            "last_drill_failed": s.last_failed_at,
        }
        for s in render_drills(store, database)
    ]


def echo_render_drills(render: list[dict[str, Any]]) -> None:
    from releaser.output import format_time, table

    if not render:
        return
    click.echo()
    body = [
        [
            r["database"],
            r["kind"],
            r["subject"] or "-",
            format_time(r["data_at"]),
            format_time(r["last_verified"]) if r["last_verified"] else "never",
            format_time(r["last_drill_failed"]),
        ]
        for r in render
    ]
    headers = ["database", "Render drill", "export / instance", "data as of", "last verified"]
    click.echo(table(body, [*headers, "last failed"]))


def _render_source(source: str, origin: str) -> Any:
    from releaser.db.resolve import resolve_source
    from releaser.errors import UsageError

    src = resolve_source(source, _db()._config())
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
    source: str,
    download_to: str | None,
    endpoint_url: str | None,
    list_only: bool,
    wait: str,
    output: str,
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
    from releaser.cli.console import print_json
    from releaser.db.render_export import copy_export_to_store, trigger_export
    from releaser.db.resolve import resolve_store
    from releaser.durations import parse_duration
    from releaser.output import format_time, table
    from releaser.render.client import RenderClient

    wait_seconds = parse_duration(wait, "--wait")
    src = _render_source(source, "db export")
    store = (
        resolve_store(download_to, _db()._config(), endpoint_url=endpoint_url)
        if download_to
        else None
    )
    with RenderClient.from_env() as client:
        if list_only:
            exports = client.list_exports(src.render_id)
            rows = [{"id": e.id, "created_at": e.created_at, "ready": bool(e.url)} for e in exports]
            if output == "json":
                print_json({"render_id": src.render_id, "exports": rows})
            else:
                body = [
                    [r["id"], format_time(e.created_at), r["ready"]]
                    for r, e in zip(rows, exports, strict=True)
                ]
                click.echo(table(body, ["export", "created at (UTC)", "has URL"]))
            return
        made = trigger_export(
            client, src.render_id, wait_seconds=wait_seconds, reporter=_db()._reporter()
        )
        stored = (
            copy_export_to_store(client, src.render_id, src.name, made, store, _db()._reporter())
            if store
            else None
        )
    doc = {
        "export_id": made.id,
        "render_id": src.render_id,
        "created_at": made.created_at,
        "stored": None
        if stored is None or store is None
        else {
            "store": store.url,
            "key": stored.key,
            "manifest": stored.manifest_key,
            "sha256": stored.sha256,
            "size_bytes": stored.size,
        },
    }
    if output == "json":
        print_json(doc)
        return
    lines: list[tuple[str, object]] = [
        ("export", made.id),
        ("source", f"{src.name} {src.render_id}"),
        ("created at", f"{format_time(made.created_at)} UTC"),
    ]
    if stored is not None and store is not None:
        lines += [("copied to", f"{store.url}/{stored.key}"), ("sha256", stored.sha256)]
    _db()._pairs(lines)


def check_origin_options(
    use_latest: bool,
    *,
    origin: str,
    export_id: str | None,
    latest: bool,
    at: str | None,
    ago: str | None,
    keep_minutes: float,
    yes: bool,
    wait: str,
) -> None:
    """An option of another --from is a mistake worth saying, not something to ignore."""
    from releaser.errors import UsageError

    given = {
        "--use-latest": use_latest,
        "--export-id": export_id,
        "--latest": latest,
        "--at": at,
        "--ago": ago,
        "--keep-minutes": keep_minutes,
        "--yes": yes,
        "--wait": wait != "30m",
    }
    allowed = {
        "snapshot": {"--use-latest"},
        "render-export": {"--export-id", "--latest", "--wait"},
        "render-pitr": {"--at", "--ago", "--keep-minutes", "--yes", "--wait"},
    }[origin]
    wrong = [name for name, value in given.items() if value and name not in allowed]
    if wrong:
        raise UsageError(
            f"{', '.join(wrong)} cannot be used with --from {origin}",
            "See 'releaser db drill --help' for the options of each --from",
        )
    if at and ago:
        raise UsageError("--at and --ago exclude each other", "Pass one of them")


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
    confirm_write(f"Create {what}, check it, then delete it?", yes=yes)


def render_drill(
    source: str,
    to: str | None,
    endpoint_url: str | None,
    target_server: str | None,
    report_path: str | None,
    jobs: int,
    workdir: str | None,
    output: str,
    *,
    origin: str,
    export_id: str | None,
    latest: bool,
    at: str | None,
    ago: str | None,
    keep_minutes: float,
    yes: bool,
    wait: str,
) -> None:
    from datetime import timedelta

    from releaser.config import DatabaseConfig
    from releaser.db.dsn import parse_dsn
    from releaser.db.dsn import resolve_env as env_value
    from releaser.db.render_report import render_drill_markdown
    from releaser.db.resolve import resolve_store
    from releaser.durations import parse_duration
    from releaser.errors import NegativeVerdict, UsageError
    from releaser.files import write_private
    from releaser.render.client import RenderClient

    if origin == "render-pitr" and target_server:
        raise UsageError("--target-server is for --from snapshot or render-export", "")
    wait_seconds = parse_duration(wait, "--wait")
    config = _db()._config()
    store = resolve_store(to, config, database=source, endpoint_url=endpoint_url)
    src = _render_source(source, f"--from {origin}")
    settings = src.config or DatabaseConfig()
    with RenderClient.from_env() as client:
        if origin == "render-export":
            from releaser.db.render_export import run_export_drill

            result = run_export_drill(
                client,
                store,
                postgres_id=src.render_id,
                database=src.name,
                source=src.dsn,
                export_id=export_id,
                latest=latest,
                target_server=parse_dsn(env_value(target_server)) if target_server else None,
                jobs=jobs,
                invariants=settings.invariants,
                drift_per_day=settings.row_drift_per_day,
                wait_seconds=wait_seconds,
                reporter=_db()._reporter(),
                workdir=workdir,
            )
        else:
            from releaser.db.pitr import plan_pitr, run_pitr_drill

            plan = plan_pitr(
                client,
                src.render_id,
                at=_parse_at(at) if at else None,
                ago=timedelta(seconds=parse_duration(ago, "--ago")) if ago else None,
            )
            _confirm_pitr(plan, src, yes)
            result = run_pitr_drill(
                client,
                store,
                plan,
                database=src.name,
                source=src.dsn,
                invariants=settings.invariants,
                drift_per_day=settings.row_drift_per_day,
                keep_minutes=keep_minutes,
                wait_seconds=wait_seconds,
                reporter=_db()._reporter(),
            )
    if report_path:
        write_private(report_path, render_drill_markdown(result))
    _show_render_drill(result, output)
    ev = result.evidence
    if ev.error:
        raise NegativeVerdict(f"{ev.kind} drill of {ev.subject} failed: {ev.error}", "")
    _db()._fail_if(ev.checks, f"{ev.kind} drill of {ev.subject}")


def _show_render_drill(result: Any, output: str) -> None:
    from releaser.cli.console import print_json
    from releaser.output import format_duration, format_time

    ev = result.evidence
    if output == "json":
        print_json(
            {
                "store": result.store_url,
                "evidence_key": result.evidence_key,
                **ev.model_dump(mode="json"),
            }
        )
        return
    export = ev.kind == "render-export"
    _db()._pairs(
        [
            ("drill", f"{ev.kind} {'PASSED' if ev.passed else 'FAILED'}"),
            ("source", f"{ev.database} {ev.render_id}"),
            (
                "export" if export else "recovery instance",
                ev.subject if export else f"{ev.subject} (deleted)",
            ),
            (
                "data as of",
                f"{format_time(ev.data_at)} UTC ({'export created' if export else 'restore time'})",
            ),
            ("checked on", ev.target),
            ("RPO", format_duration(ev.rpo_seconds) if export else "point in time (WAL)"),
            ("RTO", format_duration(ev.rto_seconds)),
            ("evidence", f"{result.store_url}/{result.evidence_key}"),
        ]
    )
    _db()._phases_and_checks(ev.phases, ev.checks)
