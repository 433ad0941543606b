"""go-no-go: may we release this service now? A checklist with evidence and one verdict.

Each check is a function over models (pure, testable without HTTP) returning a CheckResult
with one line of detail. Details name keys, types, lengths and fingerprints, never values.
The verdict is NO-GO iff any check FAILs; WARN and SKIP never block.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel

from releaser.config import Config, DatabaseConfig, ServiceRules
from releaser.errors import ReleaserError
from releaser.output import format_duration, mask
from releaser.release import gitstate
from releaser.release.envchange import ServiceEnv, diff_plan, read_service_env
from releaser.release.envfile import EnvFile, read_env_file
from releaser.release.gitstate import GitState
from releaser.release.values import check_json, check_secret, check_typed
from releaser.render.client import RenderClient
from releaser.render.models import Deploy, Service

Status = Literal["PASS", "WARN", "FAIL", "SKIP"]

DEPLOY_HISTORY = 50  # deploys read: enough for in-progress, rollback target and retention
# Builds Render likely keeps for rollback, by service plan (DESIGN.md: "2 to 30 by plan").
# A guess on purpose: past it we WARN that a rollback may have to rebuild, we never FAIL.
RETENTION_BY_PLAN = {
    "free": 2,
    "starter": 5,
    "starter_plus": 5,
    "standard": 10,
    "standard_plus": 10,
    "pro": 30,
    "pro_plus": 30,
    "pro_max": 30,
    "pro_ultra": 30,
}
DEFAULT_RETENTION = 2
_SHA = re.compile(r"[0-9a-fA-F]{7,40}")


class CheckResult(BaseModel):
    name: str
    status: Status
    detail: str


class GoNoGoReport(BaseModel):
    service_id: str
    service_name: str | None
    verdict: Literal["GO", "NO-GO"]
    checks: list[CheckResult]


def _result(name: str, status: Status, detail: str) -> CheckResult:
    return CheckResult(name=name, status=status, detail=detail)


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _keys(keys: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" (+{len(keys) - limit} more)" if len(keys) > limit else "")


# --- service and deploys ---------------------------------------------------------------


def check_service(service: Service) -> CheckResult:
    if service.is_suspended:
        return _result(
            "service",
            "FAIL",
            f"{service.label} is suspended; resume it before releasing",
        )
    return _result("service", "PASS", f"{service.label} exists and is not suspended")


def _live(deploys: Sequence[Deploy]) -> Deploy | None:
    return next((d for d in deploys if d.status == "live"), None)


def check_no_deploy_in_progress(deploys: Sequence[Deploy]) -> CheckResult:
    running = [d for d in deploys if d.in_progress]
    if running:
        what = ", ".join(f"{d.id} ({d.status})" for d in running)
        return _result(
            "no deploy in progress",
            "FAIL",
            f"deploy in progress: {what}; wait for it to finish or cancel it",
        )
    return _result("no deploy in progress", "PASS", "no deploy is queued or running")


def retention_for(plan: str | None) -> int:
    return RETENTION_BY_PLAN.get((plan or "").lower(), DEFAULT_RETENTION)


def check_rollback_target(
    service: Service, deploys: Sequence[Deploy], rules: ServiceRules
) -> CheckResult:
    """Something to roll back to: the live deploy (or the newest successful one)."""
    name = "rollback target"
    target = _live(deploys) or next((d for d in deploys if d.succeeded), None)
    if target is None:
        scope = f" in the last {len(deploys)} deploys" if len(deploys) >= DEPLOY_HISTORY else ""
        detail = f"no successful deploy{scope}: nothing to roll back to"
        if rules.require_rollback_target:
            return _result(
                name,
                "FAIL",
                detail + " (set require_rollback_target = false for a first release)",
            )
        return _result(name, "WARN", detail)
    newer = deploys.index(target)
    keep = retention_for(service.plan)
    label = f"{target.id} ({target.version})"
    if newer >= keep:
        return _result(
            name,
            "WARN",
            f"{label} is {newer} deploys back; Render likely keeps about {keep} builds on "
            f"plan {service.plan or 'unknown'}, so a rollback may have to rebuild",
        )
    state = "live" if target.status == "live" else f"{target.status}, newest successful"
    return _result(name, "PASS", f"{label} is {state}")


# --- release version -------------------------------------------------------------------


def split_image_ref(ref: str) -> tuple[str, str | None, str | None]:
    """(repository, tag, digest) with Docker Hub's implicit parts made explicit."""
    text = ref.strip()
    digest: str | None = None
    if "@" in text:
        text, digest = text.split("@", 1)
    tag: str | None = None
    last = text.rsplit("/", 1)[-1]
    if ":" in last:
        text, tag = text.rsplit(":", 1)
    parts = text.split("/")
    if len(parts) == 1 or not ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = ["docker.io", *parts]
    if parts[0] in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        parts[0] = "docker.io"
        if len(parts) == 2:
            parts = ["docker.io", "library", parts[1]]
    return "/".join(parts).lower(), tag, digest


def _same_commit(a: str, b: str) -> bool:
    a, b = a.lower(), b.lower()
    return a.startswith(b) or b.startswith(a)


def check_release_version(
    service: Service, deploys: Sequence[Deploy], commit: str | None, image: str | None
) -> CheckResult:
    name = "release version"
    live = _live(deploys)
    if commit:
        if service.image_path:
            return _result(
                name,
                "FAIL",
                f"{service.label} deploys an image ({service.image_path}); pass --image, "
                "not --commit",
            )
        if not _SHA.fullmatch(commit):
            return _result(name, "FAIL", "--commit must be a commit sha (7 to 40 hex digits)")
        live_commit = live.commit.id if live and live.commit else None
        if live and live_commit and _same_commit(commit, live_commit):
            return _result(
                name, "WARN", f"commit {commit[:7]} is already live ({live.id}): nothing new"
            )
        now = f"live is {live_commit[:7]}" if live_commit else "nothing live"
        return _result(name, "PASS", f"commit {commit[:7]} differs from what is live ({now})")
    if image:
        if not service.image_path:
            where = f"builds from {service.repo}" if service.repo else "is not image-backed"
            return _result(
                name, "FAIL", f"{service.label} {where}; --image needs an image-backed service"
            )
        wanted_repo, tag, digest = split_image_ref(image)
        service_repo, _, _ = split_image_ref(service.image_path)
        if wanted_repo != service_repo:
            return _result(
                name,
                "FAIL",
                f"image repository {wanted_repo} is not the service's ({service_repo})",
            )
        live_ref = live.image.ref if live and live.image else None
        if live and live_ref and live_ref.strip() == image.strip():
            return _result(name, "WARN", f"image {image} is already live ({live.id}): nothing new")
        if digest is None and tag in (None, "latest"):
            return _result(
                name,
                "WARN",
                f"image {image} names no fixed version (tag {tag or 'latest'}); "
                "promote a digest or a release tag",
            )
        return _result(name, "PASS", f"image {image} differs from what is live")
    return _result(name, "SKIP", "no --commit or --image given")


# --- env vars --------------------------------------------------------------------------


def check_required(rules: ServiceRules, env: ServiceEnv) -> CheckResult:
    name = "required vars"
    effective = env.effective()
    if not rules.required:
        return _result(
            name,
            "PASS",
            f"{len(effective)} vars set; no required keys declared in releaser.toml",
        )
    missing = [k for k in rules.required if k not in effective]
    empty = [k for k in rules.required if k in effective and not effective[k].strip()]
    problems = []
    if missing:
        problems.append(f"missing: {_keys(missing)}")
    if empty:
        problems.append(f"set but empty: {_keys(empty)}")
    if problems:
        return _result(name, "FAIL", "; ".join(problems))
    from_groups = sum(1 for k in rules.required if k not in env.service_vars)
    tail = f" ({from_groups} from linked env groups)" if from_groups else ""
    return _result(name, "PASS", f"all {len(rules.required)} required keys are set{tail}")


def check_secrets(rules: ServiceRules, effective: Mapping[str, str]) -> CheckResult:
    name = "secrets"
    keys = sorted(k for k in effective if rules.is_secret(k))
    if not keys:
        return _result(name, "PASS", "no variables are secrets (by name or releaser.toml)")
    problems = []
    for key in keys:
        reason = check_secret(effective[key], rules.min_secret_length)
        if reason:
            problems.append(f"{key} {reason}")
    by_value: dict[str, list[str]] = {}
    for key in keys:
        if effective[key]:
            by_value.setdefault(effective[key], []).append(key)
    for twins in by_value.values():
        if len(twins) > 1:
            problems.append(f"{' and '.join(twins)} hold the same value")
    if problems:
        return _result(name, "FAIL", "; ".join(problems))
    return _result(
        name,
        "PASS",
        f"{len(keys)} secrets are distinct, not placeholders, at least "
        f"{rules.min_secret_length} characters",
    )


def check_types(rules: ServiceRules, effective: Mapping[str, str]) -> CheckResult:
    name = "typed values"
    checked = 0
    problems = []
    doubtful = []
    for key in sorted(effective):
        value_type = rules.type_of(key)
        value = effective[key]
        if not value_type:
            # No declared type, but it is meant to be JSON and it is not: the classic
            # CORS_ORIGINS=[https://a.example] that crashes a List[str] setting at boot.
            text = value.strip()
            problem = check_json(text) if text[:1] in ("[", "{") else None
            if problem:
                if (text[0], text[-1]) in (("[", "]"), ("{", "}")):
                    # Bracketed end to end: meant as JSON, and the app will choke on it.
                    problems.append(f"{key} looks like JSON but is not: {problem}")
                else:
                    doubtful.append(f"{key} starts like JSON but does not parse")
            continue
        if value_type == "str":
            continue
        checked += 1
        reason = check_typed(value_type, value)
        if reason:
            problems.append(f"{key} ({value_type}): {reason}")
    if problems:
        return _result(name, "FAIL", "; ".join(problems + doubtful))
    if doubtful:
        hint = " (declare its type in releaser.toml: json to check it, str to silence this)"
        return _result(name, "WARN", "; ".join(doubtful) + hint)
    if not checked:
        return _result(name, "PASS", "no typed keys present (declare types in releaser.toml)")
    plural = "value parses" if checked == 1 else "values parse"
    return _result(name, "PASS", f"{checked} typed {plural} as declared")


def check_env_file(env_file: EnvFile | None, effective: Mapping[str, str]) -> list[CheckResult]:
    if env_file is None:
        return [_result("env file drift", "SKIP", "no --env-file given")]
    # The file is the target and Render the current state: "added" is missing on Render.
    drift = diff_plan(effective, env_file.values())
    problems = []
    status: Status = "PASS"
    if drift.added:
        status = "FAIL"
        problems.append(f"missing on Render: {_keys(drift.added)}")
    if drift.changed:
        status = "WARN" if status == "PASS" else status
        problems.append(f"values differ: {_keys(drift.changed)}")
    if drift.removed:
        status = "WARN" if status == "PASS" else status
        problems.append(f"only on Render: {_keys(drift.removed)}")
    detail = "; ".join(problems) or f"{drift.unchanged} keys match {env_file.path}"
    if problems:
        detail += f" (compare with 'releaser env diff SERVICE --env-file {env_file.path}')"
    results = [_result("env file drift", status, detail)]
    unsafe = env_file.shell_unsafe
    if unsafe:
        lines = "; ".join(f"{e.key} (line {e.line}): {e.shell_reason}" for e in unsafe[:5])
        more = f" (+{len(unsafe) - 5} more)" if len(unsafe) > 5 else ""
        results.append(
            _result("env file shell-safe", "WARN", f"not safe to 'source': {lines}{more}")
        )
    else:
        results.append(
            _result("env file shell-safe", "PASS", f"{env_file.path} is safe to 'source'")
        )
    return results


def drift_rows(env_file: EnvFile, env: ServiceEnv) -> list[dict[str, str | int | bool | None]]:
    """Per-key rows for ``env diff``: status and masked values on both sides."""
    effective = env.effective()
    sources = env.sources()
    local = env_file.values()
    lines = {e.key: e for e in env_file.entries}
    rows: list[dict[str, str | int | bool | None]] = []
    for key in sorted(set(local) | set(effective)):
        if key not in effective:
            state = "missing on Render"
        elif key not in local:
            state = "only on Render"
        elif local[key] != effective[key]:
            state = "differs"
        else:
            state = "same"
        entry = lines.get(key)
        rows.append(
            {
                "key": key,
                "status": state,
                "local": mask(local[key]) if key in local else None,
                "render": mask(effective[key]) if key in effective else None,
                "source": sources.get(key),
                "line": entry.line if entry else None,
                "shell_unsafe": entry.shell_reason if entry else None,
            }
        )
    return rows


# --- git and database ------------------------------------------------------------------


def repo_slug(url: str) -> str:
    """``host/owner/name`` for https, ssh and scp-style git URLs alike."""
    text = url.strip().lower().removesuffix("/").removesuffix(".git")
    match = re.match(r"^(?:[a-z][a-z0-9+.-]*://)?(?:[^@/]+@)?([^/:]+)[:/](.+)$", text)
    if not match:
        return text
    return f"{match[1]}/{re.sub(r'^[0-9]+/', '', match[2])}"


def check_git(
    state: GitState | None,
    commit: str | None,
    *,
    commit_sha: str | None = None,
    commit_on_remote: bool | None = None,
    repo_matches: bool | None = None,
) -> CheckResult:
    name = "git checkout"
    if state is None:
        return _result(name, "SKIP", "not run inside a git checkout")
    if repo_matches is False:
        return _result(name, "SKIP", f"{state.root} is not a checkout of the service's repo")
    warnings = []
    if commit:
        if commit_sha is None:
            return _result(
                name,
                "FAIL",
                f"commit {commit} does not exist in {state.root}; fetch it, or fix --commit",
            )
        if commit_on_remote is False:
            warnings.append(f"commit {commit_sha[:7]} is on no remote branch (push it first)")
    if state.dirty_files:
        warnings.append(f"{_n(state.dirty_files, 'file')} with uncommitted changes")
    if state.head and state.upstream is None and state.branch:
        warnings.append(f"branch {state.branch} has no upstream")
    elif state.ahead:
        warnings.append(f"{_n(state.ahead, 'commit')} not pushed to {state.upstream}")
    if warnings:
        return _result(name, "WARN", "; ".join(warnings))
    where = f"{state.branch or 'detached HEAD'}"
    if state.upstream:
        where += f", up to date with {state.upstream}"
    return _result(name, "PASS", f"clean ({where})")


def inspect_git(cwd: Path, service: Service, commit: str | None) -> CheckResult:
    state = gitstate.read_state(cwd)
    if state is None:
        return check_git(None, commit)
    repo_matches: bool | None = None
    if service.repo:
        remotes = gitstate.remote_urls(state.root)
        if remotes:
            wanted = repo_slug(service.repo)
            repo_matches = any(repo_slug(u) == wanted for u in remotes)
    sha = gitstate.resolve_commit(state.root, commit) if commit else None
    on_remote = gitstate.on_remote(state.root, sha) if sha else None
    return check_git(
        state, commit, commit_sha=sha, commit_on_remote=on_remote, repo_matches=repo_matches
    )


def check_database_backup(
    rules: ServiceRules, config: Config, *, now: datetime | None = None
) -> CheckResult:
    name = "database backup"
    if not rules.database:
        return _result(name, "SKIP", "no database linked to this service in releaser.toml")
    database = config.database(rules.database)
    if database is None:
        return _result(
            name,
            "WARN",
            f"database {rules.database!r} is not declared under [databases] in releaser.toml",
        )
    if not database.store:
        return _result(
            name, "WARN", f"database {rules.database!r} has no snapshot store configured"
        )
    from releaser.db.evidence import latest_verified  # the db package: only with a store

    bad: Status = "FAIL" if (database.production or rules.production) else "WARN"
    try:
        found = latest_verified(
            database.store,
            endpoint_url=database.endpoint_url,
            database=rules.database,
            accept=database.evidence_ages() if database.evidence else None,
        )
    except ReleaserError as exc:
        return _result(name, bad, f"cannot read the snapshot store: {exc.message}")
    return judge_backup(rules.database, database, found, bad, now or datetime.now(UTC))


class VerifiedSnapshot(Protocol):
    """What the backup check needs from releaser.db's evidence (its VerifiedBackup)."""

    @property
    def snapshot_id(self) -> str: ...

    @property
    def taken_at(self) -> datetime: ...


def judge_backup(
    name: str,
    database: DatabaseConfig,
    found: VerifiedSnapshot | None,
    bad: Status,
    now: datetime,
) -> CheckResult:
    """PASS when the newest drill-verified snapshot is younger than max_backup_age."""
    ages = database.evidence_ages()
    if found is None:
        return _result(
            "database backup",
            bad,
            f"no drill-verified snapshot of {name!r}; run 'releaser db drill {name}'",
        )
    # Render export and PITR evidence (releaser.toml `evidence`) carry a kind and a label.
    kind = getattr(found, "kind", "snapshot")
    what = getattr(found, "what", f"snapshot {found.snapshot_id}")
    limit = ages.get(kind, database.max_backup_age_seconds)
    setting = (
        f"evidence {kind} max {format_duration(limit)}"
        if database.evidence
        else f"max_backup_age {database.max_backup_age}"
    )
    age = (now - found.taken_at).total_seconds()
    if age > limit:
        return _result(
            "database backup",
            bad,
            f"newest verified {what} is {format_duration(age)} old "
            f"({setting}); take and drill a new one",
        )
    return _result(
        "database backup", "PASS", f"{what} from {format_duration(age)} ago, verified by a drill"
    )


# --- the whole checklist ---------------------------------------------------------------


def verdict_of(checks: Sequence[CheckResult]) -> Literal["GO", "NO-GO"]:
    return "NO-GO" if any(c.status == "FAIL" for c in checks) else "GO"


def run_go_no_go(
    client: RenderClient,
    service: Service,
    config: Config,
    *,
    commit: str | None = None,
    image: str | None = None,
    env_file: Path | None = None,
    cwd: Path | None = None,
    deploys: list[Deploy] | None = None,
    env: ServiceEnv | None = None,
) -> GoNoGoReport:
    """Every check, in order; API trouble raises (exit 3), bad input raises (exit 2).

    ``deploys`` (newest first, at least DEPLOY_HISTORY of them when there are that many) and
    ``env`` let a caller that already read them (deploy) avoid reading them twice.
    """
    rules = config.rules_for(service.id, service.name)
    local = read_env_file(env_file) if env_file else None  # bad file: exit 2 before any call
    if deploys is None:
        deploys = client.list_deploys(service.id, limit=DEPLOY_HISTORY)
    if env is None:
        env = read_service_env(client, service)
    effective = env.effective()
    checks = [
        check_service(service),
        check_no_deploy_in_progress(deploys),
        check_required(rules, env),
        check_secrets(rules, effective),
        check_types(rules, effective),
        *check_env_file(local, effective),
        check_rollback_target(service, deploys, rules),
        check_release_version(service, deploys, commit, image),
        inspect_git(cwd or Path.cwd(), service, commit),
        check_database_backup(rules, config),
    ]
    return GoNoGoReport(
        service_id=service.id,
        service_name=service.name,
        verdict=verdict_of(checks),
        checks=checks,
    )
