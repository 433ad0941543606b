"""Changing a service's env vars without surprises: read, merge, plan, back up, write.

Writes go key by key (``PUT``/``DELETE /services/{id}/env-vars/{key}``), never through the
``PUT /services/{id}/env-vars`` that replaces ALL variables: a value that came back null or a
listing short by a page can then never drop a variable nobody named. Before any write, the
current variables go to a 0600 backup file that ``env restore`` reads back. Dry runs stop
after the plan, in here, not in the CLI.

Values live only in the ``target`` mappings handed to Render and in backup files; plans,
results and errors carry keys, lengths and fingerprints.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from releaser.config import ServiceRules
from releaser.errors import EXIT_OK, ApiError, ConfigError, EnvironmentProblem, UsageError
from releaser.render.client import RenderClient
from releaser.render.models import EnvVar, Service
from releaser.results import Outcome, Result

BACKUP_FORMAT: Literal["releaser-env-backup/1"] = "releaser-env-backup/1"
DEFAULT_BACKUP_DIR = Path(".releaser") / "backups"
_ASSIGNMENT_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


# --- reading ---------------------------------------------------------------------------


class EnvSourceVar(BaseModel):
    """One variable as the service sees it: where it comes from and whether it is shadowed."""

    key: str
    value: str = Field(repr=False)
    source: str  # "service" or "group:<name>"
    overridden: bool = False  # a group value hidden by the service's own variable


class ServiceEnv(BaseModel):
    service_vars: dict[str, str] = Field(repr=False)
    groups: list[tuple[str, dict[str, str]]] = Field(repr=False)  # (group name, vars)
    null_keys: list[str] = Field(default_factory=list)  # service vars Render listed without value

    def effective(self) -> dict[str, str]:
        """What the running service gets: group values, overridden by the service's own."""
        merged: dict[str, str] = {}
        for _name, values in self.groups:
            merged.update(values)
        merged.update(self.service_vars)
        return merged

    def sources(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for name, values in self.groups:
            for key in values:
                found[key] = f"group:{name}"
        for key in self.service_vars:
            found[key] = "service"
        return found

    def rows(self) -> list[EnvSourceVar]:
        rows = [
            EnvSourceVar(key=k, value=v, source="service") for k, v in self.service_vars.items()
        ]
        for name, values in self.groups:
            for key, value in values.items():
                rows.append(
                    EnvSourceVar(
                        key=key,
                        value=value,
                        source=f"group:{name}",
                        overridden=key in self.service_vars,
                    )
                )
        return sorted(rows, key=lambda r: (r.key, r.source != "service"))

    def group_of(self, key: str) -> str | None:
        for name, values in self.groups:
            if key in values:
                return name
        return None


def secret_values(env: ServiceEnv, rules: ServiceRules) -> list[str]:
    """Values that must never be printed: secret keys' values and passwords inside URLs.

    Log lines are the app's own words; an app that logs its settings would otherwise leak
    them through ``releaser logs`` and the deploy progress.
    """
    from urllib.parse import urlsplit

    from releaser.redaction import looks_like_credential

    found = []
    for key, value in env.effective().items():
        if rules.is_secret(key) or looks_like_credential(value):
            found.append(value)
        elif "://" in value:
            try:
                parts = urlsplit(value)
                password, user = parts.password, parts.username
            except ValueError:
                password = user = None
            # A long user name without a password is a key (Sentry DSNs, git tokens).
            found += [password or "", user if user and not password and len(user) >= 16 else ""]
    return [v for v in found if v]


def service_secrets(client: RenderClient, service: Service, rules: ServiceRules) -> list[str]:
    return secret_values(read_service_env(client, service), rules)


def as_values(env_vars: Iterable[EnvVar]) -> dict[str, str]:
    """Key -> value, an unset value as "" (how Render's API and our targets spell it)."""
    return {v.key: v.value or "" for v in env_vars}


def read_service_env(client: RenderClient, service: Service) -> ServiceEnv:
    listed = client.list_env_vars(service.id)
    groups = [
        (g.name or g.id, as_values(g.env_vars or [])) for g in client.linked_env_groups(service.id)
    ]
    return ServiceEnv(
        service_vars=as_values(listed),
        groups=groups,
        null_keys=sorted(v.key for v in listed if v.value is None),
    )


# --- parsing assignments -----------------------------------------------------------------


def parse_assignments(args: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``KEY=VALUE`` arguments. Errors never echo the argument: it may hold a secret."""
    result: dict[str, str] = {}
    for index, arg in enumerate(args, start=1):
        if "=" not in arg:
            raise UsageError(
                f"argument {index} of the KEY=VALUE list has no '='",
                "Write KEY=VALUE (KEY= for an empty value); quote values with spaces",
            )
        key, value = arg.split("=", 1)
        if not _ASSIGNMENT_KEY.fullmatch(key):
            raise UsageError(
                f"argument {index} of the KEY=VALUE list does not start with a valid name",
                "Names are letters, digits and underscores, not starting with a digit",
            )
        result[key] = value
    return result


# --- planning ----------------------------------------------------------------------------


class EnvPlan(BaseModel):
    """What a write would do, by key only."""

    added: list[str] = Field(default_factory=list)
    changed: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    unchanged: int = 0
    notes: list[str] = Field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)

    @property
    def size(self) -> int:
        """How many keys the write changes (one request each)."""
        return len(self.added) + len(self.changed) + len(self.removed)


def diff_plan(current: Mapping[str, str], target: Mapping[str, str]) -> EnvPlan:
    return EnvPlan(
        added=sorted(k for k in target if k not in current),
        changed=sorted(k for k in target if k in current and current[k] != target[k]),
        removed=sorted(k for k in current if k not in target),
        unchanged=sum(1 for k in target if k in current and current[k] == target[k]),
    )


class PreparedChange(BaseModel):
    """A planned write: the full target set (values: never printed) and its plan."""

    service_id: str
    service_name: str | None
    current: dict[str, str] = Field(repr=False, exclude=True)
    target: dict[str, str] = Field(repr=False, exclude=True)
    plan: EnvPlan
    problems: list[str] = Field(default_factory=list)  # typed/secret problems in new values


def validate_new_values(
    rules: ServiceRules, values: Mapping[str, str], others: Mapping[str, str]
) -> list[str]:
    """Problems with values about to be written (key, type and why; never the value)."""
    from releaser.release.values import check_secret, check_typed

    problems = []
    for key, value in sorted(values.items()):
        value_type = rules.type_of(key)
        if value_type:
            reason = check_typed(value_type, value)
            if reason:
                problems.append(f"{key} ({value_type}): {reason}")
        if rules.is_secret(key):
            reason = check_secret(value, rules.min_secret_length)
            if reason:
                problems.append(f"{key} (secret): {reason}")
            twins = sorted(
                k for k, v in others.items() if k != key and v == value and rules.is_secret(k)
            )
            if twins and value:
                problems.append(f"{key} (secret): same value as {', '.join(twins)}")
    return problems


def prepare_set(
    service: Service,
    env: ServiceEnv,
    rules: ServiceRules,
    sets: Mapping[str, str],
    unsets: list[str] | tuple[str, ...],
) -> PreparedChange:
    """Merge ``sets`` and ``unsets`` into the service's own vars; every other var stays."""
    both = sorted(set(sets) & set(unsets))
    if both:
        raise UsageError(
            f"{', '.join(both)} is both set and unset",
            "Pass each key either as KEY=VALUE or --unset",
        )
    current = dict(env.service_vars)
    target = dict(current)
    notes = []
    for key in unsets:
        if key in target:
            del target[key]
            continue
        group = env.group_of(key)
        if group:
            raise UsageError(
                f"{key} comes from the linked env group {group!r}, not from the service",
                f"Change it in the env group {group!r} in the Render dashboard",
            )
        notes.append(f"{key} is not set on the service; nothing to remove")
    for key, value in sets.items():
        target[key] = value
        group = env.group_of(key)
        if group and key not in current:
            notes.append(f"{key} will override the value from env group {group!r}")
    plan = diff_plan(current, target)
    plan.notes = notes
    new_values = {k: v for k, v in sets.items() if current.get(k) != v}
    effective = {**env.effective(), **target}
    return PreparedChange(
        service_id=service.id,
        service_name=service.name,
        current=current,
        target=target,
        plan=plan,
        problems=validate_new_values(rules, new_values, effective),
    )


def prepare_restore(service: Service, env: ServiceEnv, backup: EnvBackup) -> PreparedChange:
    """Put the service's own vars back exactly as in ``backup`` (vars added since go)."""
    if backup.service_id != service.id:
        raise UsageError(
            f"the backup is of service {backup.service_id}, not {service.id}",
            "Restore it onto the service it was taken from, or pick the right backup file",
        )
    if env.null_keys:
        raise EnvironmentProblem(
            f"Render listed {', '.join(env.null_keys)} without a value, so the current "
            "variables are not known for sure",
            "Nothing was written; try again, and check the service in the Render dashboard",
        )
    current = dict(env.service_vars)
    target = {v.key: v.value for v in backup.env_vars}
    return PreparedChange(
        service_id=service.id,
        service_name=service.name,
        current=current,
        target=target,
        plan=diff_plan(current, target),
    )


# --- backups -----------------------------------------------------------------------------


class BackupVar(BaseModel):
    key: str
    value: str = Field(repr=False)


class EnvBackup(BaseModel):
    model_config = ConfigDict(extra="ignore")

    format: Literal["releaser-env-backup/1"]
    service_id: str
    service_name: str | None = None
    taken_at: datetime
    env_vars: list[BackupVar]


def write_backup(
    directory: Path, service_id: str, service_name: str | None, values: Mapping[str, str]
) -> Path:
    """Save ``values`` to a new file readable only by its owner; returns its path."""
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:  # a file in the way, a read-only disk: refused before any write
        raise ConfigError(
            f"cannot create the backup folder {directory}: {exc.strerror}",
            "Pass --backup-dir with a writable folder; nothing was changed",
        ) from None
    now = datetime.now(UTC)
    backup = EnvBackup(
        format=BACKUP_FORMAT,
        service_id=service_id,
        service_name=service_name,
        taken_at=now,
        env_vars=[BackupVar(key=k, value=v) for k, v in values.items()],
    )
    stamp = now.strftime("%Y%m%dT%H%M%S.%fZ")
    path = directory / f"{service_id}-{stamp}.json"
    try:
        # O_EXCL: never overwrite an earlier backup; 0600 from the first byte, not chmod after.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise ConfigError(
            f"cannot write the backup file {path}: {exc.strerror}",
            "Pass --backup-dir with a writable directory; nothing was changed",
        ) from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(backup.model_dump_json(indent=2))
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    return path


def read_backup(path: Path) -> EnvBackup:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"backup file {path} does not exist", "Check the path") from None
    except (OSError, UnicodeDecodeError):
        raise ConfigError(f"cannot read backup file {path}", "Check the path") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}:{exc.lineno}: not a releaser env backup (invalid JSON: {exc.msg})",
            "Pass a file written by 'releaser env set'",
        ) from None
    try:
        return EnvBackup.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "document"
        raise ConfigError(
            f"{path}: not a releaser env backup ({where}: {first['msg']})",
            "Pass a file written by 'releaser env set'",
        ) from None


# --- applying ----------------------------------------------------------------------------


class EnvChangeOutcome(Outcome):
    DRY_RUN = "dry_run", EXIT_OK  # the plan only
    UNCHANGED = "unchanged", EXIT_OK  # nothing to change
    WRITTEN = "written", EXIT_OK  # backed up, written and read back (deployed with --deploy)


class EnvChangeResult(Result):
    """What `env set/unset/restore` did; told on stderr as it went, so no text form."""

    outcome: EnvChangeOutcome
    service_id: str
    service_name: str | None
    plan: EnvPlan
    dry_run: bool
    written: bool = False
    backup_path: str | None = None
    deploy_id: str | None = None
    deploy_status: str | None = None  # "queued" when Render answered 202 without a body

    def render_text(self) -> str:
        return ""  # the plan went to stdout before the write, the rest to stderr as it went


def apply_change(
    client: RenderClient,
    prepared: PreparedChange,
    *,
    backup_dir: Path,
    dry_run: bool = False,
    deploy: bool = False,
) -> EnvChangeResult:
    """Back up, write the planned keys one by one, optionally deploy. A dry run writes nothing."""
    result = EnvChangeResult(
        service_id=prepared.service_id,
        service_name=prepared.service_name,
        plan=prepared.plan,
        dry_run=dry_run,
        outcome=EnvChangeOutcome.DRY_RUN if dry_run else EnvChangeOutcome.UNCHANGED,
        summary="dry run: nothing written" if dry_run else "nothing to change",
    )
    if dry_run or prepared.plan.empty:
        return result
    # Someone may have changed the variables while a human read the plan: never overwrite
    # what we have not shown them.
    now = as_values(client.list_env_vars(prepared.service_id))
    if now != prepared.current:
        moved = diff_plan(prepared.current, now)
        keys = sorted({*moved.added, *moved.changed, *moved.removed})
        raise EnvironmentProblem(
            f"the service's env vars changed since the plan was made ({', '.join(keys)})",
            "Nothing was written; run the command again to see a fresh plan",
        )
    backup = write_backup(backup_dir, prepared.service_id, prepared.service_name, now)
    result.backup_path = str(backup)
    restore_hint = (
        f"The previous variables are saved in {backup}; check with 'releaser env list "
        f"{prepared.service_id}' and put them back with 'releaser env restore "
        f"{prepared.service_id} {backup}'"
    )
    _write_keys(client, prepared, restore_hint)
    result.written = True
    result.outcome = EnvChangeOutcome.WRITTEN
    result.summary = f"wrote {prepared.plan.size} change(s) to {prepared.service_id}"
    if deploy:
        try:
            created = client.create_deploy(prepared.service_id, deploy_only=True)
        except ApiError as exc:
            exc.message = f"the variables were written (backup: {backup}), but {exc.message}"
            exc.advice = (
                f"Start the deploy with 'releaser deploy {prepared.service_id}' or from the "
                "Render dashboard; the new values are not live until then"
            )
            raise
        result.deploy_id = created.id if created else None
        result.deploy_status = (created.status if created else None) or "queued"
    return result


def _write_keys(client: RenderClient, prepared: PreparedChange, restore_hint: str) -> None:
    """One PUT per added or changed key, one DELETE per removed key, then read back.

    After a failed write nothing more is written (its outcome may be unknown): the error
    says how many keys went through and how to put the backup back.
    """
    plan = prepared.plan
    steps: list[tuple[str, str | None]] = [
        (k, prepared.target[k]) for k in [*plan.added, *plan.changed]
    ]
    steps += [(k, None) for k in plan.removed]
    for done, (key, value) in enumerate(steps):
        try:
            if value is None:
                client.delete_env_var(prepared.service_id, key)
            else:
                client.set_env_var(prepared.service_id, key, value)
        except ApiError as exc:
            exc.message = (
                f"writing {key} failed after {done} of {len(steps)} change(s) went through: "
                f"{exc.message}"
            )
            exc.advice = restore_hint
            raise
    after = as_values(client.list_env_vars(prepared.service_id))
    wrong = sorted(
        key
        for key, value in steps
        if (after.get(key) != value if value is not None else key in after)
    )
    if wrong:
        raise EnvironmentProblem(
            f"after the write, Render shows different values for {', '.join(wrong)}",
            restore_hint,
        )
