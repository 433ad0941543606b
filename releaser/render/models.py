"""Pydantic models for the parts of the Render API releaser uses.

Reality is looser than the spec (DESIGN.md section 4): every field except ids is optional,
null is accepted anywhere, unknown fields are ignored, and enums are plain strings so a
status Render adds next year never crashes a command.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr
from pydantic.alias_generators import to_camel

IN_PROGRESS_STATUSES = frozenset(
    {"created", "queued", "build_in_progress", "update_in_progress", "pre_deploy_in_progress"}
)
FAILED_STATUSES = frozenset({"build_failed", "update_failed", "pre_deploy_failed"})
SUCCESS_STATUSES = frozenset({"live", "deactivated"})  # deactivated = was live, since replaced
TERMINAL_STATUSES = FAILED_STATUSES | SUCCESS_STATUSES | {"canceled"}


class RenderModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=False
    )


class Owner(RenderModel):
    id: str
    name: str | None = None
    email: str | None = None
    type: str | None = None


class ServiceDetails(RenderModel):
    """The union of the variants' fields we read; missing or unknown variants are fine."""

    url: str | None = None
    health_check_path: str | None = None
    plan: str | None = None
    region: str | None = None
    runtime: str | None = None
    env: str | None = None
    num_instances: int | None = None
    disk: dict[str, Any] | None = None


class BuildFilter(RenderModel):
    paths: list[str] = Field(default_factory=list)
    ignored_paths: list[str] = Field(default_factory=list)


class Job(RenderModel):
    """A one-off job (``POST /services/{id}/jobs``)."""

    id: str
    service_id: str | None = None
    start_command: str | None = None
    status: str | None = None  # pending, running, succeeded, failed, canceled
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class Service(RenderModel):
    id: str
    name: str | None = None
    owner_id: str | None = None
    type: str | None = None
    repo: str | None = None
    branch: str | None = None
    image_path: str | None = None
    auto_deploy: str | None = None
    auto_deploy_trigger: str | None = None  # commit | checksPass | off, beside auto_deploy
    suspended: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    dashboard_url: str | None = None
    environment_id: str | None = None
    service_details: ServiceDetails | None = None
    root_dir: str | None = None
    build_filter: BuildFilter | None = None
    # Names repeat within a workspace: True only once a lookup by name found just this one.
    _name_unique: bool = PrivateAttr(default=False)

    def mark_name_unique(self) -> None:
        self._name_unique = True

    @property
    def cli_arg(self) -> str:
        """How printed commands name it: the name when known to be unique, else the id."""
        return self.name if self.name and self._name_unique else self.id

    @property
    def is_suspended(self) -> bool:
        return self.suspended == "suspended"

    @property
    def label(self) -> str:
        return f"{self.name} ({self.id})" if self.name else self.id

    @property
    def url(self) -> str | None:
        return self.service_details.url if self.service_details else None

    @property
    def health_check_path(self) -> str | None:
        return self.service_details.health_check_path if self.service_details else None

    @property
    def plan(self) -> str | None:
        return self.service_details.plan if self.service_details else None

    @property
    def has_disk(self) -> bool:
        """A disk means no zero-downtime deploys: Render stops the old instance first."""
        return bool(self.service_details and self.service_details.disk)


class Commit(RenderModel):
    id: str | None = None
    message: str | None = None
    created_at: datetime | None = None

    @property
    def short(self) -> str:
        return (self.id or "")[:7]

    @property
    def title(self) -> str:
        return (self.message or "").splitlines()[0] if self.message else ""


class Image(RenderModel):
    ref: str | None = None
    sha: str | None = None
    registry_credential: str | None = None


class Deploy(RenderModel):
    id: str
    commit: Commit | None = None
    image: Image | None = None
    status: str | None = None
    trigger: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def in_progress(self) -> bool:
        return self.status in IN_PROGRESS_STATUSES

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATUSES

    @property
    def succeeded(self) -> bool:
        return self.status in SUCCESS_STATUSES

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def is_rollback(self) -> bool:
        return self.trigger == "rollback"

    @property
    def version(self) -> str:
        """What was deployed, for humans: short sha + title, or the image ref and digest.

        A tag (nginx:latest) resolves to a new digest on each deploy: the digest is shown.
        """
        if self.commit and self.commit.id:
            return f"{self.commit.short} {self.commit.title}".strip()
        if self.image and (self.image.ref or self.image.sha):
            digest = _short_digest(self.image.sha)
            if self.image.ref and digest and "@" not in self.image.ref:
                return f"{self.image.ref}@{digest}"
            return self.image.ref or digest or ""
        return "-"

    @property
    def identity(self) -> str | None:
        """What makes two deploys the same code: the commit, or the image DIGEST (not tag)."""
        if self.commit and self.commit.id:
            return self.commit.id
        if self.image:
            return self.image.sha or self.image.ref
        return None

    @property
    def duration_seconds(self) -> float | None:
        start = self.started_at or self.created_at
        if start is None or self.finished_at is None:
            return None
        return (self.finished_at - start).total_seconds()


def _short_digest(sha: str | None) -> str | None:
    """sha256:3f2a… shortened to 12 hex digits, like docker's short ids."""
    if not sha:
        return None
    algorithm, _, digest = sha.partition(":")
    return f"{algorithm}:{digest[:12]}" if digest else sha[:19]


class EnvVar(RenderModel):
    key: str
    value: str | None = None


class EnvGroupLink(RenderModel):
    id: str
    name: str | None = None
    type: str | None = None


class EnvGroup(RenderModel):
    id: str
    name: str | None = None
    owner_id: str | None = None
    environment_id: str | None = None
    env_vars: list[EnvVar] | None = None
    service_links: list[EnvGroupLink] | None = None

    def linked_to(self, service_id: str) -> bool:
        return any(link.id == service_id for link in self.service_links or [])


class LogLabel(RenderModel):
    name: str
    value: str | None = None


class LogEntry(RenderModel):
    id: str
    message: str = ""
    timestamp: datetime | None = None
    labels: list[LogLabel] | None = None

    def label(self, name: str) -> str | None:
        for item in self.labels or []:
            if item.name == name:
                return item.value
        return None

    @property
    def level(self) -> str | None:
        return self.label("level")

    @property
    def type(self) -> str | None:
        return self.label("type")


class LogPage(RenderModel):
    has_more: bool = False
    next_start_time: datetime | None = None
    next_end_time: datetime | None = None
    logs: list[LogEntry] = Field(default_factory=list)


class Event(RenderModel):
    id: str
    timestamp: datetime | None = None
    service_id: str | None = None
    type: str | None = None
    details: dict[str, Any] | None = None

    @property
    def deploy_id(self) -> str | None:
        value = (self.details or {}).get("deployId")
        return value if isinstance(value, str) else None

    @property
    def failure_reason(self) -> str | None:
        """The structured cause from a deploy_ended event (nonZeroExit, oomKilled, ...)."""
        reason = (self.details or {}).get("reason")
        if not isinstance(reason, dict):
            return None
        failure = reason.get("failure")
        if not isinstance(failure, dict):
            return None
        parts = []
        for key, value in failure.items():
            if value in (None, False):
                continue
            parts.append(key if value is True else f"{key}={value}")
        return ", ".join(parts) or None


class Instance(RenderModel):
    """One running instance of a service (GET /services/{id}/instances)."""

    id: str
    created_at: datetime | None = None


class Postgres(RenderModel):
    id: str
    name: str | None = None
    database_name: str | None = None
    database_user: str | None = None
    version: str | None = None
    status: str | None = None
    plan: str | None = None
    region: str | None = None
    suspended: str | None = None
    created_at: datetime | None = None
    ip_allow_list: list[dict[str, Any]] | None = None
    owner: Owner | None = None
    environment_id: str | None = None


class PostgresExport(RenderModel):
    """One logical export: no status field; ``url`` (signed, short-lived) once it is ready."""

    id: str
    created_at: datetime | None = None
    url: str | None = None


class RecoveryInfo(RenderModel):
    recovery_status: str | None = None  # AVAILABLE, BACKUP_NOT_READY, NOT_AVAILABLE
    starts_at: datetime | None = None  # the earliest restorable time


class PostgresConnectionInfo(RenderModel):
    password: str | None = None
    internal_connection_string: str | None = None
    external_connection_string: str | None = None
    psql_command: str | None = None
