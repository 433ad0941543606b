"""``releaser db``: snapshots to S3 or a directory, verify, restore, recovery drills, prune.

Glue only: parse, call the core in ``releaser.db``, confirm, and ``console().finish`` the
``releaser.db.results`` result it builds. Only click is imported at module level so
``releaser --help`` never loads boto3 or psycopg.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from releaser.cli.common import output_option
from releaser.cli.console import console
from releaser.cli.db_render import export_command, render_drill_options
from releaser.cli.guard import audited, hold, note

if TYPE_CHECKING:
    from releaser.db.results import DrillReport
    from releaser.results import Result

store_option = click.option(
    "--to",
    "to",
    metavar="STORE",
    help="s3://bucket/prefix or file:///path (default: the database's store in releaser.toml).",
)
endpoint_option = click.option(
    "--endpoint-url",
    metavar="URL",
    help="S3-compatible endpoint (default: AWS_ENDPOINT_URL, or endpoint_url in releaser.toml).",
)
jobs_option = click.option(
    "--jobs",
    "-j",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Parallel connections (reading verification facts, restoring).",
)


@click.group()
def db() -> None:
    """Database snapshots, verified restores and recovery drills.

    \b
    A backup is not a backup until it has been restored and checked:
      releaser db snapshot main-db                 dump to the store, with a manifest
      releaser db drill main-db --report drill.md  restore into a scratch db and check it
      releaser db list                             what the store holds, last verified

    SOURCE is a database named in releaser.toml, a Render Postgres id (dpg-…) or name, a
    DSN, or env:VAR. Passwords are never printed.
    """


db.add_command(export_command)


def config() -> Any:
    from releaser.config import load_config

    return load_config()


def reporter() -> Any:
    from releaser.db.progress import StderrReporter

    return StderrReporter()


def warn_password(*args: tuple[str, str | None]) -> None:
    """Warn (stderr) about DSN arguments that put a password in ps for everyone."""
    from releaser.db.dsn import PASSWORD_WARNING, parse_dsn, password_on_command_line
    from releaser.errors import ReleaserError

    for what, value in args:
        if value and password_on_command_line(value):
            try:
                parse_dsn(value)
            except ReleaserError:
                continue  # its one error line comes next; a warning would make it two
            console().say(PASSWORD_WARNING.format(what=what))


def finish_with_report(result: Result, report_path: str | None) -> None:
    """Print the verdict, then write the report: a bad report path must not hide the verdict."""
    from releaser.files import write_private

    out = console()
    out.show(result)
    if report_path:
        write_private(report_path, result.render_markdown() or "")
    error = result.error()
    if error is not None:
        raise error


@db.command()
@click.argument("source")
@store_option
@endpoint_option
@jobs_option
@output_option
def snapshot(source: str, to: str | None, endpoint_url: str | None, jobs: int) -> None:
    """Dump SOURCE into the store, consistently, with a manifest to verify against.

    pg_dump -Fc runs on an exported REPEATABLE READ snapshot; row counts, fingerprints,
    sequences and other facts are read in that same snapshot. The dump streams through
    SHA-256 into the store (no temp file); the manifest is written last, so a failed
    dump leaves no usable-looking snapshot.

    \b
    Example:
      releaser db snapshot main-db
      releaser db snapshot dpg-abc123 --to s3://backups/app -o json
    """
    from releaser.db.resolve import resolve_source, resolve_store
    from releaser.db.results import SnapshotTaken
    from releaser.db.snapshot import take_snapshot

    warn_password(("SOURCE", source))
    settings = config()
    store = resolve_store(to, settings, database=source, endpoint_url=endpoint_url)
    src = resolve_source(source, settings)
    taken = take_snapshot(
        src.dsn, store, name=src.name, render_id=src.render_id, jobs=jobs, reporter=reporter()
    )
    console().finish(SnapshotTaken.of(store.url, taken))


@db.command(name="list")
@click.argument("database", required=False)
@store_option
@endpoint_option
@output_option
def list_(database: str | None, to: str | None, endpoint_url: str | None) -> None:
    """List the snapshots in a store, newest first, with when each was last verified.

    DATABASE (optional) keeps only that database's snapshots. Incomplete snapshots (no
    manifest: a failed or running dump) are listed and never count as latest.

    \b
    Example:
      releaser db list --to s3://backups/app
    """
    from releaser.db.catalog import list_snapshots
    from releaser.db.render_evidence import render_drills
    from releaser.db.resolve import resolve_store
    from releaser.db.results import SnapshotList

    store = resolve_store(to, config(), database=database, endpoint_url=endpoint_url)
    entries = list_snapshots(store, database)
    console().finish(SnapshotList.of(store.url, entries, render_drills(store, database)))


@db.command()
@click.argument("snapshot_id")
@store_option
@endpoint_option
@output_option
def verify(snapshot_id: str, to: str | None, endpoint_url: str | None) -> None:
    """Re-download SNAPSHOT_ID, re-hash it against its manifest and read it in full.

    Checks the manifest belongs to SNAPSHOT_ID, the size and sha256, and reads every block
    with pg_restore (no database needed): the table of contents and each table's rows.
    Exit 1 when anything does not match (recorded as failed evidence: the snapshot is then
    not verified). Only a drill proves the data itself.

    \b
    Example:
      releaser db verify app-20240501T020000Z-1a2b --to s3://backups/app
    """
    from releaser.db.resolve import resolve_store
    from releaser.db.results import Verification
    from releaser.db.verify import verify_snapshot

    store = resolve_store(to, config(), endpoint_url=endpoint_url)
    verified = verify_snapshot(store, snapshot_id, reporter())
    console().finish(Verification.of(store.url, snapshot_id, verified))


@db.command()
@click.argument("snapshot_id")
@store_option
@endpoint_option
@click.option(
    "--target",
    required=True,
    metavar="DSN",
    help="Database to restore into: a DSN, env:VAR or a releaser.toml database.",
)
@click.option("--create", is_flag=True, help="Create the target database from template0.")
@jobs_option
@click.option("--dry-run", is_flag=True, help="Print the plan; write nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation on a terminal.")
@click.option("--workdir", metavar="DIR", help="Where to download the archive (default: TMPDIR).")
@output_option
@audited("db restore")
def restore(
    snapshot_id: str,
    to: str | None,
    endpoint_url: str | None,
    target: str,
    create: bool,
    jobs: int,
    dry_run: bool,
    yes: bool,
    workdir: str | None,
) -> None:
    """Restore SNAPSHOT_ID into --target, then check it against the manifest.

    Refuses the snapshot's source database, databases marked production in
    releaser.toml (also when named by Render id or name) and targets holding any user
    object. Restores with --no-owner --no-acl --exit-on-error (in one transaction, or in
    parallel with --jobs from a local copy) as a throwaway unprivileged role, runs ANALYZE,
    restores the database's own settings and comment, then compares row counts,
    fingerprints, sequences and indexes. Exit 1 on any mismatch. Without a terminal,
    --yes is required (exit 2 otherwise).

    \b
    Example:
      releaser db restore app-20240501T020000Z-1a2b --to s3://backups/app \\
        --target postgresql://postgres@staging:5432/app_restored --create --dry-run
    """
    from releaser.db.resolve import production_dsns, resolve_store, resolve_target
    from releaser.db.restore import NOT_RESTORED, plan_restore, run_restore
    from releaser.db.results import Restored, RestorePlanned

    warn_password(("--target", target))
    settings, out = config(), console()
    store = resolve_store(to, settings, endpoint_url=endpoint_url)
    target_dsn = resolve_target(target, settings)
    production = production_dsns(settings)
    plan = plan_restore(
        store, snapshot_id, target_dsn, create=create, jobs=jobs, production=production
    )
    if dry_run:
        return out.finish(RestorePlanned.of(snapshot_id, plan))
    confirm_restore(plan.steps, f"Restore {snapshot_id} into {target_dsn.masked}?", yes)
    hold(f"db:{target_dsn.masked}")
    note(from_ref=snapshot_id, to_ref=target_dsn.masked)
    restored = run_restore(plan, store, reporter=reporter(), workdir=workdir)
    out.say(f"Not brought back by any restore: {NOT_RESTORED}.")
    out.finish(Restored.of(snapshot_id, target_dsn.masked, restored))


def confirm_restore(steps: list[str], question: str, yes: bool) -> None:
    """The one confirmation policy; on a terminal, the plan is shown before the question."""
    from releaser.cli.console import stdin_is_tty

    out = console()
    if not yes and stdin_is_tty():
        for step in steps:
            out.say(f"  - {step}")
    out.confirm_write(question, yes=yes)


@db.command()
@click.argument("source")
@store_option
@endpoint_option
@click.option("--use-latest", is_flag=True, help="Drill the newest complete snapshot.")
@click.option(
    "--target-server",
    metavar="DSN",
    help="Server for the scratch database (default: the source's server).",
)
@click.option("--report", "report_path", metavar="FILE.md", help="Also write a Markdown report.")
@click.option(
    "--cleanup",
    is_flag=True,
    help="Only drop scratch databases and restore roles that killed drills left behind "
    "(older than 3 hours) on the drill server, and say so.",
)
@jobs_option
@click.option("--workdir", metavar="DIR", help="Where to download the archive (default: TMPDIR).")
@render_drill_options
@output_option
@audited("db drill")
def drill(
    source: str,
    to: str | None,
    endpoint_url: str | None,
    use_latest: bool,
    target_server: str | None,
    report_path: str | None,
    cleanup: bool,
    jobs: int,
    workdir: str | None,
    **render: Any,
) -> None:
    """Prove SOURCE's backup restores: snapshot, restore into scratch, check, drop.

    The scratch database is created from template0 and always dropped (also on Ctrl-C
    and SIGTERM); the dump's code runs as a throwaway unprivileged role. A source marked
    production needs --target-server. Leftovers of killed drills older than 3 hours are
    dropped first (--cleanup does only that).
    Reports RPO (now minus the newest verified snapshot), RTO by phase with MB/s, and
    every check; stores the result next to the snapshot ('last verified' in db list).
    Exit 1 when the drill fails.

    --from render-export restores one of Render's own exports (--export-id, --latest, or
    a fresh one) into scratch; --from render-pitr recovers SOURCE into a new, BILLED Render
    instance (needs --yes or a terminal confirmation, and RENDER_OWNER_ID), checks it and
    deletes it. Both check the copy against SOURCE as it is now (schema, approximate row
    counts, releaser.toml invariants) and store evidence.

    \b
    Example:
      releaser db drill main-db --report drill.md
      releaser db drill dpg-abc123 --to s3://backups/app --use-latest -o json
      releaser db drill main-db --from render-export --latest
      releaser db drill main-db --from render-pitr --ago 30m --yes
    """
    from releaser.cli.db_render import check_origin_options, render_drill
    from releaser.db.dsn import parse_dsn
    from releaser.db.dsn import resolve_env as env_value
    from releaser.db.resolve import resolve_source
    from releaser.db.results import Cleanup

    options = check_origin_options(use_latest, **render)
    if options.origin != "snapshot":
        return render_drill(
            source, to, endpoint_url, target_server, report_path, jobs, workdir, options
        )
    warn_password(("SOURCE", source), ("--target-server", target_server))
    if report_path:  # refused before the drill, not after it (its outcome would be lost)
        check_report_path(report_path)
    server = parse_dsn(env_value(target_server)) if target_server else None
    src = resolve_source(source, config())
    if cleanup:
        from releaser.db.drill import cleanup_leftovers

        return console().finish(Cleanup.of(cleanup_leftovers(server or src.dsn)))
    result = drill_snapshot(source, src, to, endpoint_url, use_latest, server, jobs, workdir)
    note(to_ref=result.flat.snapshot_id, verdict="passed" if result.flat.passed else "failed")
    note(report=result.render_markdown())
    finish_with_report(result, report_path)


def check_report_path(report_path: str) -> None:
    from pathlib import Path

    from releaser.files import check_writable_file

    check_writable_file(Path(report_path), "--report", b"# Recovery drill")


def drill_snapshot(
    source: str,
    src: Any,
    to: str | None,
    endpoint_url: str | None,
    use_latest: bool,
    server: Any,
    jobs: int,
    workdir: str | None,
) -> DrillReport:
    """Drill SOURCE's snapshots (under the database's release lock) into a result."""
    from releaser.db.drill import run_drill
    from releaser.db.resolve import is_production, production_dsns, resolve_store
    from releaser.db.results import DrillReport

    settings = config()
    store = resolve_store(to, settings, database=source, endpoint_url=endpoint_url)
    production = bool(src.config and src.config.production) or is_production(
        src.dsn, production_dsns(settings)
    )
    hold(f"db:{src.name}")
    drilled = run_drill(
        store,
        source=src.dsn,
        name=src.name,
        render_id=src.render_id,
        use_latest=use_latest,
        target_server=server,
        jobs=jobs,
        reporter=reporter(),
        workdir=workdir,
        production_source=production,
    )
    return DrillReport.of(drilled)


@db.command()
@store_option
@endpoint_option
@click.option(
    "--keep", type=click.IntRange(min=1), required=True, help="Snapshots to keep per database."
)
@click.option("--max-age", metavar="AGE", help="Also delete snapshots older than this (e.g. 30d).")
@click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation on a terminal.")
@output_option
@audited("db prune")
def prune(
    to: str | None,
    endpoint_url: str | None,
    keep: int,
    max_age: str | None,
    dry_run: bool,
    yes: bool,
) -> None:
    """Delete old snapshots: beyond the newest --keep, or older than --max-age.

    Never deletes the newest snapshot or the newest drill-verified one of each database,
    nor anything under an S3 object lock (those are reported). Incomplete snapshots go
    once they are a day old.

    \b
    Example:
      releaser db prune --to s3://backups/app --keep 14 --max-age 30d --dry-run
    """
    from releaser.db.prune import apply_prune, plan_prune
    from releaser.db.resolve import resolve_store
    from releaser.db.results import PruneReport
    from releaser.durations import parse_duration

    store = resolve_store(to, config(), endpoint_url=endpoint_url)
    max_age_seconds = parse_duration(max_age, "--max-age") if max_age else None
    hold(f"store:{store.url}", skip=dry_run)
    decisions = plan_prune(store, keep=keep, max_age_seconds=max_age_seconds)
    if not dry_run:
        confirm_prune(decisions, store.url, yes)
        decisions = apply_prune(store, decisions)
        note(detail={"deleted": [d.entry.snapshot_id for d in decisions if d.action == "deleted"]})
    result = PruneReport.of(store.url, dry_run, decisions)
    if result.locked:
        console().say(f"{result.locked} snapshot(s) kept because of an object lock.")
    console().finish(result)


def confirm_prune(decisions: list[Any], store_url: str, yes: bool) -> None:
    """The one confirmation policy, with what would go shown first on a terminal.

    No terminal and no --yes is refused even when nothing is due today: a script must not
    work one day and fail the next.
    """
    from releaser.cli.console import stdin_is_tty
    from releaser.output import table

    out = console()
    to_delete = [d for d in decisions if d.action == "delete"]
    if to_delete and not yes and stdin_is_tty():
        out.say(table([[d.entry.snapshot_id, d.reason] for d in to_delete], ["delete", "why"]))
    if to_delete or not stdin_is_tty():
        out.confirm_write(f"Delete {len(to_delete)} snapshots from {store_url}?", yes=yes)
