"""``releaser env``: list, diff, set and restore a service's env vars without surprises."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from releaser.cli.common import output_option, render_client
from releaser.cli.console import console
from releaser.cli.guard import audited, hold, note

if TYPE_CHECKING:
    from releaser.release.envchange import EnvChangeResult, EnvPlan, PreparedChange
    from releaser.render.client import RenderClient

_backup_dir_option = click.option(
    "--backup-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where the backup of the previous vars goes [default: .releaser/backups].",
)
_dry_run_option = click.option(
    "--dry-run", is_flag=True, help="Print the plan and stop: no backup, no write."
)
_yes_option = click.option(
    "-y", "--yes", is_flag=True, help="Do not ask for confirmation (needed without a TTY)."
)
_deploy_option = click.option(
    "--deploy",
    is_flag=True,
    help="After the write, start a deploy_only deploy (no rebuild) so the change goes live.",
)


@click.group()
def env() -> None:
    """Inspect and change a service's environment variables safely.

    \b
    What is shown (list, get, diff, plans, JSON):
      - keys, where each comes from (service or env group), and plain values;
      - masked as '****** (len N, fp XXXXXXXX)': a value whose key contains SECRET,
        KEY, TOKEN, PASSWORD or PASS or is listed under secrets in releaser.toml, and
        any value that looks like a credential: a libpq string with password=, a PEM
        private key, a long random token (mixed-case letters and digits, or 32+ hex);
      - inside other values: a URL's password (also one containing '@'), known
        secrets, bearer tokens and key=value credentials are replaced by ******;
      - fp is a keyed hash (per-machine key in ~/.config/releaser, 0600), the same
        value gives the same fp on this machine; values under 12 characters get none;
      - control characters show as \\x1b, \\r, ...; long values are cut at 80.
    env diff masks every value. Only 'env get KEY --reveal' on a terminal prints one.

    \b
    Writes (set, unset, restore) change only the keys they name, one request per key,
    show the plan, ask for confirmation on a terminal (--yes in CI), and first save
    the previous variables to a backup (mode 0600: it holds secrets).

    \b
    Example:
      releaser env list web
      releaser env set web LOG_LEVEL=debug --deploy
    """


@env.command("list")
@click.argument("service")
@output_option
def env_list(service: str) -> None:
    """List SERVICE's variables: key, source (service or env group), masked value.

    \b
    Example:
      releaser env list web
      releaser env list web -o json | jq -r '.[].key'
    """
    from releaser.config import load_config
    from releaser.release.envchange import read_service_env
    from releaser.release.envview import env_vars

    config = load_config()
    with render_client() as client:
        svc = client.resolve_service(service)
        service_env = read_service_env(client, svc)
    console().show(env_vars(service_env, config.rules_for(svc.id, svc.name), svc.label))


@env.command("get")
@click.argument("service")
@click.argument("key")
@click.option(
    "--reveal",
    is_flag=True,
    help="Print the value itself; only to a terminal, never into a pipe, file or CI log.",
)
@output_option
def env_get(service: str, key: str, reveal: bool) -> None:
    """Show one of SERVICE's variables: masked as in 'env list' unless --reveal.

    \b
    Example:
      releaser env get web LOG_LEVEL
      releaser env get web DATABASE_URL --reveal
    """
    from releaser.cli import console as terminal
    from releaser.config import load_config
    from releaser.errors import NotFoundError, UsageError
    from releaser.release.envchange import read_service_env
    from releaser.release.envview import env_value

    if reveal and not terminal.stdout_is_tty():
        raise UsageError(
            "--reveal prints a secret and the output is not a terminal",
            "Run it in a terminal; nothing was printed",
        )
    config = load_config()
    with render_client() as client:
        svc = client.resolve_service(service)
        service_env = read_service_env(client, svc)
    if key not in service_env.effective():
        raise NotFoundError(
            f"{svc.label} has no variable {key!r}", f"List them with 'releaser env list {svc.id}'"
        )
    if reveal:
        console().data(service_env.effective()[key])
        return
    console().show(env_value(service_env, config.rules_for(svc.id, svc.name), key))


@env.command("diff")
@click.argument("service")
@click.option(
    "--env-file",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="The local .env file to compare.",
)
@output_option
def env_diff(service: str, env_file: Path) -> None:
    """Compare SERVICE's variables (env groups included) with a local .env file.

    Shows keys missing on Render, keys only on Render and values that differ (masked:
    length and fingerprint), and flags values that would break 'source .env'.

    \b
    Example:
      releaser env diff web --env-file .env.production
    """
    from releaser.release.envchange import read_service_env
    from releaser.release.envfile import read_env_file
    from releaser.release.envview import EnvDiff
    from releaser.release.gonogo import drift_rows

    local = read_env_file(env_file)  # bad file: exit 2 before any API call
    with render_client() as client:
        svc = client.resolve_service(service)
        service_env = read_service_env(client, svc)
    rows = drift_rows(local, service_env)
    console().show(EnvDiff(rows=rows, env_file=str(env_file), label=svc.label))


@env.command("set")
@click.argument("service")
@click.argument("assignments", nargs=-1, metavar="[KEY=VALUE]...")
@click.option(
    "--from-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Set every variable in this .env file (KEY=VALUE arguments win).",
)
@click.option("--unset", multiple=True, metavar="KEY", help="Remove KEY (repeatable).")
@_dry_run_option
@_yes_option
@_deploy_option
@click.option(
    "--force",
    is_flag=True,
    help="Write even if a new value fails its declared type or the secret rules.",
)
@_backup_dir_option
@output_option
@audited("env set")
def env_set(
    service: str,
    assignments: tuple[str, ...],
    from_file: Path | None,
    unset: tuple[str, ...],
    dry_run: bool,
    yes: bool,
    deploy: bool,
    force: bool,
    backup_dir: Path | None,
) -> None:
    """Set or remove variables on SERVICE, keeping every other variable.

    Shows the plan (added, changed, removed: keys only), asks for confirmation on a
    terminal (pass --yes in CI), saves the previous variables to a backup file, then
    writes. The change is live only after a deploy: pass --deploy for a deploy_only
    deploy (no rebuild). Undo with 'releaser env restore SERVICE BACKUP_FILE'.

    \b
    Example:
      releaser env set web LOG_LEVEL=debug FEATURE_X=on --dry-run
      releaser env set web --from-file .env.production --unset OLD_KEY --yes --deploy
    """
    from releaser.errors import UsageError
    from releaser.release.envchange import parse_assignments
    from releaser.release.envfile import read_env_file

    sets: dict[str, str] = {}
    if from_file is not None:
        sets.update(read_env_file(from_file).values())
    sets.update(parse_assignments(assignments))
    if not sets and not unset:
        raise UsageError(
            "nothing to change", "Pass KEY=VALUE arguments, --from-file FILE or --unset KEY"
        )
    _change(service, sets, list(unset), force, _Write(dry_run, yes, deploy, backup_dir))


@env.command("unset")
@click.argument("service")
@click.argument("keys", nargs=-1, required=True, metavar="KEY...")
@_dry_run_option
@_yes_option
@_deploy_option
@_backup_dir_option
@output_option
def env_unset(
    service: str,
    keys: tuple[str, ...],
    dry_run: bool,
    yes: bool,
    deploy: bool,
    backup_dir: Path | None,
) -> None:
    """Remove KEY... from SERVICE; every other variable stays.

    Same as 'env set SERVICE --unset KEY': plan, confirmation, backup, then one
    DELETE per key.

    \b
    Example:
      releaser env unset web OLD_FLAG LEGACY_URL --dry-run
    """
    _change(service, {}, list(keys), False, _Write(dry_run, yes, deploy, backup_dir))


def _change(
    service: str, sets: dict[str, str], unsets: list[str], force: bool, write: _Write
) -> None:
    """Shared by set and unset: plan, refuse bad values, confirm, back up, write."""
    from releaser.config import load_config
    from releaser.errors import UsageError
    from releaser.release.envchange import prepare_set, read_service_env

    write.check_confirmable()
    config = load_config()
    with render_client() as client:
        svc = client.resolve_service(service)
        hold(svc.id, svc.name, skip=write.dry_run)
        rules = config.rules_for(svc.id, svc.name)
        prepared = prepare_set(svc, read_service_env(client, svc), rules, sets, unsets)
        _show_plan(prepared)
        if prepared.problems and not force:
            raise UsageError(
                f"refusing to write: {'; '.join(prepared.problems)}",
                "Fix the values, or pass --force to write them anyway; nothing was written",
            )
        _apply(client, prepared, write)


@env.command("restore")
@click.argument("service")
@click.argument("backup_file", type=click.Path(path_type=Path, dir_okay=False))
@_dry_run_option
@_yes_option
@_deploy_option
@_backup_dir_option
@output_option
@audited("env restore")
def env_restore(
    service: str,
    backup_file: Path,
    dry_run: bool,
    yes: bool,
    deploy: bool,
    backup_dir: Path | None,
) -> None:
    """Put SERVICE's variables back exactly as saved in BACKUP_FILE.

    Variables added since the backup are removed. The current variables are backed up
    first, so a restore can itself be undone.

    \b
    Example:
      releaser env restore web .releaser/backups/srv-abc123-20250101T120000.000000Z.json --deploy
    """
    from releaser.release.envchange import prepare_restore, read_backup, read_service_env

    backup = read_backup(backup_file)  # bad file: exit 2 before any API call
    write = _Write(dry_run, yes, deploy, backup_dir)
    write.check_confirmable()
    with render_client() as client:
        svc = client.resolve_service(service)
        hold(svc.id, svc.name, skip=dry_run)
        prepared = prepare_restore(svc, read_service_env(client, svc), backup)
        _show_plan(prepared)
        _apply(client, prepared, write)


# --- shared by set, unset and restore ------------------------------------------------------


@dataclass(frozen=True)
class _Write:
    """How a write runs: the flags set, unset and restore share."""

    dry_run: bool
    yes: bool
    deploy: bool
    backup_dir: Path | None

    def check_confirmable(self) -> None:
        """Exit 2 before any request when a real write could not be confirmed."""
        if not self.dry_run:
            console().check_confirmable(self.yes)


def _plan_lines(plan: EnvPlan) -> list[str]:
    lines = [f"  + {k}" for k in plan.added]
    lines += [f"  ~ {k}" for k in plan.changed]
    lines += [f"  - {k}" for k in plan.removed]
    if not lines:
        lines.append("  (no changes)")
    lines.append(f"  ({plan.unchanged} unchanged)")
    lines += [f"  note: {n}" for n in plan.notes]
    return lines


def _show_plan(prepared: PreparedChange) -> None:
    label = f"{prepared.service_name} ({prepared.service_id})"
    plan = prepared.plan
    text = "\n".join(
        [
            f"Plan for {label}: {len(plan.added)} added, {len(plan.changed)} changed, "
            f"{len(plan.removed)} removed",
            *_plan_lines(plan),
        ]
    )
    # The plan is the data of a table run; with -o json it is talk and the JSON comes last.
    (console().say if console().json else console().data)(text)
    for problem in prepared.problems:
        console().warn(problem)


def _apply(client: RenderClient, prepared: PreparedChange, write: _Write) -> None:
    from releaser.release.envchange import DEFAULT_BACKUP_DIR, apply_change

    if prepared.plan.empty:
        console().say("Nothing to change.")
    elif write.dry_run:
        console().say("Dry run: nothing written.")
    else:
        name = prepared.service_name or prepared.service_id
        console().confirm_write(f"Write these changes to {name}?", yes=write.yes)
    result = apply_change(
        client,
        prepared,
        backup_dir=write.backup_dir or DEFAULT_BACKUP_DIR,
        dry_run=write.dry_run,
        deploy=write.deploy,
    )
    _report(result)


def _report(result: EnvChangeResult) -> None:
    say = console().say
    plan, keys = result.plan, ("added", "changed", "removed")  # keys only, never values
    note(detail={k: list(getattr(plan, k)) for k in keys} | {"written": result.written})
    if result.backup_path:
        say(f"Saved the previous variables to {result.backup_path} (mode 0600: it holds secrets).")
    if result.written:
        say(f"Wrote {plan.size} change(s) to {result.service_name or result.service_id}.")
        if result.deploy_status:
            what = result.deploy_id or "a deploy"
            say(
                f"Started {what} ({result.deploy_status}, deploy_only: no rebuild); "
                f"follow it with 'releaser status {result.service_id}'."
            )
        else:
            say(
                "The change is live only after a deploy: re-run with --deploy, or "
                "deploy from the Render dashboard."
            )
        say(f"Undo: releaser env restore {result.service_id} {result.backup_path}")
    console().finish(result)
