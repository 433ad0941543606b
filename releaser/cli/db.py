"""``releaser db``: snapshots to S3 or a directory, verify, restore, recovery drills, prune.

Glue only: parse, call one core function in ``releaser.db``, render, raise. Only click is
imported at module level so ``releaser --help`` never loads boto3 or psycopg.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from releaser.cli import console as terminal
from releaser.cli.common import confirm_write, output_option
from releaser.cli.db_render import export_command, render_drill_options
from releaser.cli.guard import audited, hold, note

if TYPE_CHECKING:
    from releaser.db.checks import Check

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


def _config() -> Any:
    from releaser.config import load_config

    return load_config()


def _reporter() -> Any:
    from releaser.db.progress import StderrReporter

    return StderrReporter()


def _checks_table(checks: list[Check]) -> str:
    from releaser.output import table

    rows = [[c.name, c.expected, c.actual, "ok" if c.ok else "MISMATCH"] for c in checks]
    return table(rows, ["check", "expected", "actual", "result"])


def _phases_and_checks(phases: dict[str, Any], checks: list[Check]) -> None:
    """A drill's timings by phase and its checks, each as a table when there are any."""
    from releaser.output import table

    if phases:
        click.echo()
        click.echo(
            table(
                [[k, f"{v.seconds:.2f}", v.mb_per_s] for k, v in phases.items()],
                ["phase", "seconds", "MB/s"],
            )
        )
    if checks:
        click.echo()
        click.echo(_checks_table(checks))


def _fail_if(checks: list[Check], what: str) -> None:
    from releaser.errors import NegativeVerdict

    failed = [c for c in checks if not c.ok]
    if failed:
        names = ", ".join(c.name for c in failed[:3]) + (" …" if len(failed) > 3 else "")
        raise NegativeVerdict(
            f"{what} failed: {len(failed)} of {len(checks)} checks do not match ({names})",
            "Do not rely on this snapshot; see the checks above and use another one",
        )


def _warn_password(*args: tuple[str, str | None]) -> None:
    """Warn (stderr) about DSN arguments that put a password in ps for everyone."""
    from releaser.db.dsn import PASSWORD_WARNING, parse_dsn, password_on_command_line
    from releaser.errors import ReleaserError

    for what, value in args:
        if value and password_on_command_line(value):
            try:
                parse_dsn(value)
            except ReleaserError:
                continue  # its one error line comes next; a warning would make it two
            click.echo(PASSWORD_WARNING.format(what=what), err=True)


def _pairs(lines: list[tuple[str, object]]) -> None:
    from releaser.output import pairs

    click.echo(pairs(lines))


@db.command()
@click.argument("source")
@store_option
@endpoint_option
@jobs_option
@output_option
def snapshot(source: str, to: str | None, endpoint_url: str | None, jobs: int, output: str) -> None:
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
    from releaser.cli.console import print_json
    from releaser.db.progress import human_bytes, mb_per_s
    from releaser.db.resolve import resolve_source, resolve_store
    from releaser.db.snapshot import take_snapshot
    from releaser.output import format_duration, format_time

    _warn_password(("SOURCE", source))
    config = _config()
    store = resolve_store(to, config, database=source, endpoint_url=endpoint_url)
    src = resolve_source(source, config)
    result = take_snapshot(
        src.dsn, store, name=src.name, render_id=src.render_id, jobs=jobs, reporter=_reporter()
    )
    m = result.manifest
    rate = mb_per_s(m.dump.size_bytes, m.dump_seconds)
    if output == "json":
        print_json({"store": store.url, **m.model_dump(mode="json")})
        return
    _pairs(
        [
            ("snapshot", m.snapshot_id),
            ("store", store.url),
            ("source", m.source.display),
            ("taken at", f"{format_time(m.taken_at)} UTC"),
            (
                "size",
                f"{human_bytes(m.dump.size_bytes)} (database {human_bytes(m.facts.size_bytes)})",
            ),
            ("sha256", m.dump.sha256),
            ("tables", f"{len(m.facts.tables)} ({m.facts.total_rows} rows)"),
            ("pg_dump", f"{m.dump.pg_dump_version} for server {m.facts.server_version}"),
            ("took", f"{format_duration(m.dump_seconds)} ({rate} MB/s)"),
        ]
    )


@db.command(name="list")
@click.argument("database", required=False)
@store_option
@endpoint_option
@output_option
def list_(database: str | None, to: str | None, endpoint_url: str | None, output: str) -> None:
    """List the snapshots in a store, newest first, with when each was last verified.

    DATABASE (optional) keeps only that database's snapshots. Incomplete snapshots (no
    manifest: a failed or running dump) are listed and never count as latest.

    \b
    Example:
      releaser db list --to s3://backups/app
    """
    from releaser.cli.console import print_json
    from releaser.cli.db_render import echo_render_drills, render_drill_rows
    from releaser.db.catalog import list_snapshots
    from releaser.db.progress import human_bytes
    from releaser.db.resolve import resolve_store
    from releaser.output import table

    store = resolve_store(to, _config(), database=database, endpoint_url=endpoint_url)
    entries = list_snapshots(store, database)
    render = render_drill_rows(store, database)
    rows = [
        {
            "snapshot_id": e.snapshot_id,
            "database": e.database,
            "taken_at": e.taken_at,
            "complete": e.complete,
            "size_bytes": e.dump_size,
            "sha256": e.manifest.dump.sha256 if e.manifest else None,
            "verified": e.verified,
            "last_verified": e.last_verified,
            "last_drill_failed": e.last_drill_failed,
        }
        for e in entries
    ]
    if output == "json":
        print_json({"store": store.url, "snapshots": rows, "render_drills": render})
        return
    if not rows:
        click.echo(f"No snapshots in {store.url}.")
        echo_render_drills(render)
        return
    body = [
        [
            e.snapshot_id,
            e.database,
            e.taken_at,
            "complete" if e.complete else "INCOMPLETE",
            human_bytes(e.dump_size) if e.dump_size is not None else None,
            _verified_cell(e),
        ]
        for e in entries
    ]
    click.echo(
        table(body, ["snapshot", "database", "taken at (UTC)", "status", "size", "last verified"])
    )
    echo_render_drills(render)


def _verified_cell(entry: Any) -> object:
    """The newest evidence wins: a later failure shows FAILED even after a pass."""
    if entry.verified:
        return entry.last_verified
    if entry.last_drill_failed or entry.last_verified:
        return "FAILED"
    return "never"


@db.command()
@click.argument("snapshot_id")
@store_option
@endpoint_option
@output_option
def verify(snapshot_id: str, to: str | None, endpoint_url: str | None, output: str) -> None:
    """Re-download SNAPSHOT_ID, re-hash it against its manifest and read it in full.

    Checks the manifest belongs to SNAPSHOT_ID, the size and sha256, and reads every block
    with pg_restore (no database needed): the table of contents and each table's rows.
    Exit 1 when anything does not match (recorded as failed evidence: the snapshot is then
    not verified). Only a drill proves the data itself.

    \b
    Example:
      releaser db verify app-20240501T020000Z-1a2b --to s3://backups/app
    """
    from releaser.cli.console import print_json
    from releaser.db.resolve import resolve_store
    from releaser.db.verify import verify_snapshot

    store = resolve_store(to, _config(), endpoint_url=endpoint_url)
    result = verify_snapshot(store, snapshot_id, _reporter())
    if output == "json":
        print_json(
            {
                "snapshot_id": snapshot_id,
                "store": store.url,
                "passed": result.passed,
                "seconds": result.seconds,
                "mb_per_s": result.mb_per_s,
                "checks": [c.model_dump() for c in result.checks],
            }
        )
    else:
        click.echo(_checks_table(result.checks))
    _fail_if(result.checks, f"verification of {snapshot_id}")
    if output != "json":
        click.echo(
            f"Snapshot {snapshot_id} verified: {len(result.checks)} checks passed. The archive "
            "is intact and complete; only a drill proves the data restores."
        )


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
    output: str,
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
    from releaser.cli.console import print_json, say
    from releaser.db.resolve import production_dsns, resolve_store, resolve_target
    from releaser.db.restore import NOT_RESTORED, plan_restore, run_restore

    _warn_password(("--target", target))
    config = _config()
    store = resolve_store(to, config, endpoint_url=endpoint_url)
    target_dsn = resolve_target(target, config)
    plan = plan_restore(
        store,
        snapshot_id,
        target_dsn,
        create=create,
        jobs=jobs,
        production=production_dsns(config),
    )
    if dry_run:
        if output == "json":
            print_json({"dry_run": True, "snapshot_id": snapshot_id, "steps": plan.steps})
        else:
            click.echo(f"Plan for restoring {snapshot_id} (dry run, nothing written):")
            for number, step in enumerate(plan.steps, 1):
                click.echo(f"  {number}. {step}")
        return
    if not yes and terminal.stdin_is_tty():
        for step in plan.steps:
            say(f"  - {step}")
    confirm_write(f"Restore {snapshot_id} into {target_dsn.masked}?", yes=yes)
    hold(f"db:{target_dsn.masked}")
    note(from_ref=snapshot_id, to_ref=target_dsn.masked)
    outcome = run_restore(plan, store, reporter=_reporter(), workdir=workdir)
    if output == "json":
        print_json(
            {
                "snapshot_id": snapshot_id,
                "target": target_dsn.masked,
                "passed": outcome.passed,
                "rto_seconds": outcome.rto_seconds,
                "phases": {k: v.model_dump() for k, v in outcome.phases.items()},
                "checks": [c.model_dump() for c in outcome.checks],
                "not_restored": NOT_RESTORED,
            }
        )
    else:
        click.echo(_checks_table(outcome.checks))
        click.echo(f"Not brought back by any restore: {NOT_RESTORED}.", err=True)
    _fail_if(outcome.checks, f"restore of {snapshot_id} into {target_dsn.masked}")
    if output != "json":
        click.echo(f"Restored {snapshot_id} into {target_dsn.masked}; all checks passed.")


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
    output: str,
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

    check_origin_options(use_latest, **render)
    if render["origin"] != "snapshot":
        render_drill(
            source, to, endpoint_url, target_server, report_path, jobs, workdir, output, **render
        )
        return
    from releaser.cli.console import print_json
    from releaser.db.drill import run_drill
    from releaser.db.dsn import parse_dsn
    from releaser.db.dsn import resolve_env as env_value
    from releaser.db.report import drill_markdown
    from releaser.db.resolve import is_production, production_dsns, resolve_source, resolve_store
    from releaser.errors import NegativeVerdict
    from releaser.files import write_private
    from releaser.output import format_duration, format_time

    _warn_password(("SOURCE", source), ("--target-server", target_server))
    if report_path:  # refused before the drill, not after it (its outcome would be lost)
        from pathlib import Path

        from releaser.files import check_writable_file

        check_writable_file(Path(report_path), "--report", b"# Recovery drill")
    config = _config()
    server = parse_dsn(env_value(target_server)) if target_server else None
    src = resolve_source(source, config)
    if cleanup:
        from releaser.db.drill import cleanup_leftovers

        dropped = cleanup_leftovers(server or src.dsn)
        if output == "json":
            print_json({"cleaned_up": dropped})
        else:
            for line in dropped:
                click.echo(f"Dropped {line}: left behind by a killed drill.")
            if not dropped:
                click.echo("Nothing to clean up: no leftover of a killed drill.")
        return
    store = resolve_store(to, config, database=source, endpoint_url=endpoint_url)
    production = bool(src.config and src.config.production) or is_production(
        src.dsn, production_dsns(config)
    )
    hold(f"db:{src.name}")
    result = run_drill(
        store,
        source=src.dsn,
        name=src.name,
        render_id=src.render_id,
        use_latest=use_latest,
        target_server=server,
        jobs=jobs,
        reporter=_reporter(),
        workdir=workdir,
        production_source=production,
    )
    ev = result.evidence
    note(to_ref=ev.snapshot_id, verdict="passed" if ev.passed else "failed")
    note(report=drill_markdown(result))
    if output == "json":
        print_json(
            {
                "store": result.store_url,
                "evidence_key": result.evidence_key,
                "snapshot_taken_by_drill": result.took_snapshot,
                "cleaned_up": result.cleaned_up,
                **ev.model_dump(mode="json"),
            }
        )
    else:
        _pairs(
            [
                ("drill", "PASSED" if ev.passed else "FAILED"),
                ("snapshot", f"{ev.snapshot_id} (taken {format_time(ev.taken_at)} UTC)"),
                ("restored on", f"{ev.target_server} as {ev.scratch_database} (dropped)"),
                ("RPO", format_duration(ev.rpo_seconds)),
                ("RTO", format_duration(ev.rto_seconds)),
                (
                    "evidence",
                    "NOT STORED"
                    if result.evidence_error
                    else f"{result.store_url}/{result.evidence_key}",
                ),
            ]
        )
        _phases_and_checks(ev.phases, ev.checks)
    if report_path:  # after the verdict is printed: a bad report path must not hide it
        write_private(report_path, drill_markdown(result))
    if result.evidence_error:
        from releaser.errors import EnvironmentProblem

        verdict = "passed" if ev.passed else "failed"
        raise EnvironmentProblem(
            f"the drill {verdict} but its evidence could not be stored: {result.evidence_error}",
            "Fix the store, then run the drill again so the result is recorded",
        )
    if ev.error:
        raise NegativeVerdict(f"drill of {ev.snapshot_id} failed: {ev.error}", "")
    _fail_if(ev.checks, f"drill of {ev.snapshot_id}")


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
    output: str,
) -> None:
    """Delete old snapshots: beyond the newest --keep, or older than --max-age.

    Never deletes the newest snapshot or the newest drill-verified one of each database,
    nor anything under an S3 object lock (those are reported). Incomplete snapshots go
    once they are a day old.

    \b
    Example:
      releaser db prune --to s3://backups/app --keep 14 --max-age 30d --dry-run
    """
    from releaser.cli.console import print_json
    from releaser.db.progress import human_bytes
    from releaser.db.prune import apply_prune, plan_prune
    from releaser.db.resolve import resolve_store
    from releaser.durations import parse_duration
    from releaser.output import table

    store = resolve_store(to, _config(), endpoint_url=endpoint_url)
    max_age_seconds = parse_duration(max_age, "--max-age") if max_age else None
    hold(f"store:{store.url}", skip=dry_run)
    decisions = plan_prune(store, keep=keep, max_age_seconds=max_age_seconds)
    to_delete = [d for d in decisions if d.action == "delete"]
    if not dry_run and to_delete and not yes and terminal.stdin_is_tty():
        click.echo(
            table([[d.entry.snapshot_id, d.reason] for d in to_delete], ["delete", "why"]), err=True
        )
    # No terminal and no --yes is refused even when nothing is due today: a script must
    # not work one day and fail the next.
    if not dry_run and (to_delete or not terminal.stdin_is_tty()):
        confirm_write(f"Delete {len(to_delete)} snapshots from {store.url}?", yes=yes)
    if not dry_run:
        decisions = apply_prune(store, decisions)
        note(detail={"deleted": [d.entry.snapshot_id for d in decisions if d.action == "deleted"]})
    rows = [
        {
            "snapshot_id": d.entry.snapshot_id,
            "database": d.entry.database,
            "taken_at": d.entry.taken_at,
            "action": ("would delete" if dry_run and d.action == "delete" else d.action),
            "reason": d.reason,
            "size_bytes": d.size,
        }
        for d in decisions
    ]
    if output == "json":
        print_json({"store": store.url, "dry_run": dry_run, "snapshots": rows})
        return
    if not rows:
        click.echo(f"No snapshots in {store.url}.")
        return
    body = [
        [r["snapshot_id"], r["database"], r["taken_at"], r["action"], r["reason"]]
        + [human_bytes(d.size)]
        for r, d in zip(rows, decisions, strict=True)
    ]
    headers = ["snapshot", "database", "taken at (UTC)", "action", "why", "size"]
    click.echo(table(body, headers))
    locked = [d for d in decisions if d.action == "locked"]
    if locked:
        click.echo(f"{len(locked)} snapshot(s) kept because of an object lock.", err=True)
