"""Scenario files: what the simulated Render workspace holds and how future deploys behave.

A scenario is a TOML file (format documented in the README, "The simulator"). It is validated
here, once, into pydantic models; errors name the file and line so a typo costs one glance.
"""

from __future__ import annotations

import re
import tomllib
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from releaser import durations
from releaser.errors import ConfigError, UsageError
from releaser.render.models import TERMINAL_STATUSES

ServiceType = Literal[
    "web_service", "background_worker", "private_service", "static_site", "cron_job"
]
Runtime = Literal["docker", "elixir", "go", "node", "python", "ruby", "rust", "image"]
DeployStatus = Literal[
    "created",
    "queued",
    "build_in_progress",
    "update_in_progress",
    "live",
    "deactivated",
    "build_failed",
    "update_failed",
    "canceled",
    "pre_deploy_in_progress",
    "pre_deploy_failed",
]
Trigger = Literal[
    "api",
    "blueprint_sync",
    "deploy_hook",
    "deployed_by_render",
    "manual",
    "other",
    "new_commit",
    "rollback",
    "service_resumed",
    "service_updated",
]
BehaviourKind = Literal[
    "succeed",
    "build_failed",
    "crash_loop",
    "unhealthy_after_live",
    "pre_deploy_failed",
    "crash_after_live",
]
# The structured failure reasons Render puts in deploy_ended events.
FailureReason = Literal["nonZeroExit", "oomKilled", "earlyExit", "timedOutSeconds", "unhealthy"]
Region = Literal["frankfurt", "oregon", "ohio", "singapore", "virginia"]
ServicePlan = Literal[
    "starter", "starter_plus", "standard", "standard_plus", "pro", "pro_plus", "pro_max",
    "pro_ultra", "free", "custom",
]  # fmt: skip
PostgresPlan = Literal[
    "free", "starter", "standard", "pro", "pro_plus", "custom",
    "basic_256mb", "basic_1gb", "basic_4gb",
    "pro_4gb", "pro_8gb", "pro_16gb", "pro_32gb", "pro_64gb", "pro_128gb", "pro_192gb",
    "pro_256gb", "pro_384gb", "pro_512gb",
    "accelerated_16gb", "accelerated_32gb", "accelerated_64gb", "accelerated_128gb",
    "accelerated_256gb", "accelerated_384gb", "accelerated_512gb", "accelerated_768gb",
    "accelerated_1024gb",
]  # fmt: skip
PostgresStatus = Literal[
    "creating", "available", "unavailable", "config_restart", "suspended",
    "maintenance_scheduled", "maintenance_in_progress", "recovery_failed",
    "recovery_in_progress", "unknown", "updating_instance",
]  # fmt: skip


def parse_duration(value: str | float | int) -> float:
    """Seconds from 90, "90s", "5m", "1h30m", "2d"; negative with a leading "-"."""
    if isinstance(value, int | float):
        return float(value)
    text = value.strip()
    if text == "now":
        return 0.0
    sign = -1.0 if text.startswith("-") else 1.0
    try:
        return sign * durations.parse_duration(text[1:] if text[:1] in "+-" else text)
    except UsageError:
        raise ValueError(
            f'not a duration: {value!r} (use e.g. 90, "90s", "5m", "-3d", "-2h30m")'
        ) from None


class _Model(BaseModel):
    # Unknown keys are errors: a misspelt key silently ignored is a scenario that lies.
    model_config = ConfigDict(extra="forbid")


Offset = str | int | float | datetime  # "-3d" relative to simulator start, or a TOML datetime


def resolve_offset(value: Offset, start: datetime) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=start.tzinfo)
    return start + timedelta(seconds=parse_duration(value))


def _check_offset(value: Offset) -> Offset:
    if not isinstance(value, datetime):
        parse_duration(value)
    return value


def _seconds(value: Any) -> Any:
    return parse_duration(value) if isinstance(value, str) else value


Seconds = Annotated[float, BeforeValidator(_seconds)]
When = Annotated[Offset, AfterValidator(_check_offset)]


LinePhase = Literal["build", "pre_deploy", "update", "live"]
LogLevel = Literal["debug", "info", "notice", "warning", "error", "critical", "fatal"]


class ScriptedLine(_Model):
    """A log line a deploy writes, whatever its behaviour: warnings, retries, recycles.

    It is written `after` seconds into `phase` (by the deploy's own instance for update and
    live), then every `every` seconds, `count` times in all (0 with `every`: until replaced).
    """

    text: str = Field(min_length=1)
    level: LogLevel = "info"
    phase: LinePhase = "update"
    after: Seconds = Field(default=0.0, ge=0)
    every: Seconds | None = Field(default=None, gt=0)
    count: int = Field(default=1, ge=0)


class Behaviour(_Model):
    """How one future deploy behaves. Times are simulated seconds."""

    behaviour: BehaviourKind = "succeed"
    build_seconds: Seconds = Field(default=90.0, ge=0)
    update_seconds: Seconds = Field(default=30.0, ge=0)
    # The lines that show the failure: build errors, the crash, or the post-live errors.
    log_lines: list[str] = Field(default_factory=list)
    fail_after: Seconds = Field(default=900.0, gt=0)  # crash_loop: Render gives up after 15 min
    repeat_every: Seconds = Field(default=5.0, gt=0)  # crash_loop restarts / unhealthy error lines
    unhealthy_after: Seconds = Field(default=60.0, ge=0)  # unhealthy_after_live: seconds after live
    reason: FailureReason | None = None  # deploy_ended reason; default fits the behaviour
    exit_code: int = 1
    # Services with a pre_deploy_command run it between build and update (migrations).
    pre_deploy_seconds: Seconds = Field(default=20.0, ge=0)
    # Lines the deploy writes besides those of its behaviour (any level, any phase).
    lines: list[ScriptedLine] = Field(default_factory=list)
    # crash_after_live: seconds after live when the process starts crashing (and restarting);
    # the health URL keeps answering, as it does when restarts are quick.
    crash_after: Seconds = Field(default=30.0, ge=0)


class NextDeploy(Behaviour):
    """A behaviour queued for a service: consumed by its next new deploy (FIFO)."""

    service: str  # name or id


IN_PROGRESS = (
    "created", "queued", "build_in_progress", "pre_deploy_in_progress", "update_in_progress"
)  # fmt: skip


class HistoryDeploy(_Model):
    """A deploy that happened before the simulator started, or (status in progress) still runs.

    A deploy in progress must be the service's newest; it is in `status` when the simulator
    starts and continues from there as `then` says (default: it succeeds).
    """

    id: str = Field(pattern=r"^dep-[0-9a-zA-Z]+$")
    status: DeployStatus
    trigger: Trigger = "new_commit"
    commit: str | None = None
    message: str | None = None
    image: str | None = None  # image-backed services: the image ref (a tag)
    # What the tag resolved to for this deploy; default: a new digest per build, as a
    # re-pushed tag such as nginx:latest gives on real Render.
    image_digest: str | None = Field(default=None, pattern=r"^sha256:[0-9a-f]{64}$")
    created_at: When
    duration: Seconds = 180.0
    rollback_of: str | None = None  # dep-… id this deploy rolled back to
    # Fields real Render sends as null on some finished deploys (image-backed services).
    null: list[Literal["finishedAt"]] = Field(default_factory=list)
    then: Behaviour | None = None  # a deploy in progress: how it goes on

    @model_validator(mode="after")
    def _then_only_in_progress(self) -> HistoryDeploy:
        if self.status not in TERMINAL_STATUSES and self.status not in IN_PROGRESS:
            raise ValueError(f"unknown deploy status {self.status!r}")
        if self.then is not None and self.status in TERMINAL_STATUSES:
            raise ValueError("'then' is only for a deploy in progress (it says how it goes on)")
        return self

    @property
    def in_progress(self) -> bool:
        return self.status in IN_PROGRESS


class Disk(_Model):
    """A persistent disk: Render stops the old instance before starting the new one."""

    name: str = "data"
    mount_path: str = "/var/data"
    size_gb: int = Field(default=1, ge=1)


class Service(_Model):
    id: str = Field(pattern=r"^(srv|crn)-[0-9a-zA-Z]+$")  # cron jobs have crn- ids
    name: str = Field(min_length=1)
    type: ServiceType = "web_service"
    runtime: Runtime | None = None  # default: "image" when image is set, else "python"
    repo: str | None = None
    branch: str = "main"
    image: str | None = None  # image-backed services: e.g. "ghcr.io/acme/web:1.4.2"
    auto_deploy: Literal["yes", "no"] = "yes"
    # Beside autoDeploy on real Render; default follows auto_deploy ("commit" or "off").
    auto_deploy_trigger: Literal["commit", "checksPass", "off"] | None = None
    suspended: bool = False
    plan: ServicePlan = "starter"
    region: Region = "oregon"
    num_instances: int = Field(default=1, ge=0)
    # Render's default is "": it then only checks that the port is open.
    health_check_path: str = ""
    # Paths the simulated app answers (and the health path); others get 404.
    routes: list[str] = Field(default_factory=lambda: ["/"])
    disk: Disk | None = None
    pre_deploy_command: str | None = None  # e.g. "python manage.py migrate"
    # Web services: Render's maintenance mode; its page (uri, "" = Render's default) is
    # served with 503 instead of the app while enabled.
    maintenance_mode: bool = False
    maintenance_uri: str = ""
    # Log lines a second written by whichever deploy is live (access logs of a busy service):
    # the old instance while a deploy runs, the new one after it goes live.
    traffic_lines_per_second: float = Field(default=0.0, ge=0, le=200)
    traffic_type: Literal["app", "request"] = "app"  # gunicorn/puma access logs go to stdout
    health: Literal["healthy", "unhealthy"] = "healthy"  # the current live deploy's health
    build_command: str | None = None
    start_command: str | None = None
    schedule: str = "0 * * * *"  # cron_job only
    root_dir: str = ""  # monorepos: the folder the service builds from
    build_paths: list[str] = Field(default_factory=list)  # buildFilter.paths (globs)
    build_ignored_paths: list[str] = Field(default_factory=list)  # buildFilter.ignoredPaths
    publish_path: str = "public"  # static_site only
    build_retention: int = Field(default=10, ge=1)  # rollback targets Render still keeps
    # The branch head a deploy without commitId builds; default: the newest history commit.
    head_commit: str | None = None
    head_message: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    env_groups: list[str] = Field(default_factory=list)  # names of linked env groups
    deploys: list[HistoryDeploy] = Field(default_factory=list)
    created_at: When = "-90d"

    @field_validator("auto_deploy", mode="before")
    @classmethod
    def _yes_no(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return "yes" if value else "no"
        return value

    @model_validator(mode="after")
    def _runtime(self) -> Service:
        if self.auto_deploy_trigger is None:
            self.auto_deploy_trigger = "commit" if self.auto_deploy == "yes" else "off"
        elif "auto_deploy" in self.model_fields_set and (self.auto_deploy == "no") != (
            self.auto_deploy_trigger == "off"
        ):
            raise ValueError('auto_deploy = "no" goes with auto_deploy_trigger = "off"')
        else:
            self.auto_deploy = "no" if self.auto_deploy_trigger == "off" else "yes"
        if self.runtime is None:
            self.runtime = "image" if self.image else "python"
        if self.runtime == "image" and not self.image:
            raise ValueError("runtime 'image' needs an image (e.g. image = \"ghcr.io/acme/web:1\")")
        return self


class EnvGroup(_Model):
    id: str = Field(pattern=r"^evg-[0-9a-zA-Z]+$")
    name: str = Field(min_length=1)
    vars: dict[str, str] = Field(default_factory=dict)
    created_at: When = "-60d"


PostgresFault = Literal[
    "export_no_url",  # an export that never gets a download URL
    "export_url_expires",  # the download URL expires (the connection drops) mid-download
    "export_truncated",  # the archive served is cut short
    "recovery_failed",  # a recovery instance ends in recovery_failed
]


class Postgres(_Model):
    id: str = Field(pattern=r"^dpg-[0-9a-zA-Z-]+$")
    name: str = Field(min_length=1)
    version: Literal["11", "12", "13", "14", "15", "16", "17", "18"] = "16"
    plan: PostgresPlan = "basic_1gb"
    region: Region = "oregon"
    # A real local database this instance stands for: connection-info returns it, so the
    # db commands work end to end. Without it, connection-info returns a fake render.com DSN.
    dsn: str | None = None
    database_name: str | None = None  # default: from dsn, else derived from name
    user: str | None = None
    password: str | None = None
    high_availability: bool = False
    status: PostgresStatus = "available"
    recovery: Literal["AVAILABLE", "BACKUP_NOT_READY", "NOT_AVAILABLE"] = "AVAILABLE"
    created_at: When = "-120d"
    # Faults of this instance's exports and recoveries (see releaser.sim.pgwork).
    pg_faults: list[PostgresFault] = Field(default_factory=list)
    # Real answers: no `project`, sometimes no `diskAutoscalingEnabled`, `ipAllowList: null`.
    omit: list[Literal["project", "diskAutoscalingEnabled"]] = Field(default_factory=list)
    null: list[Literal["ipAllowList"]] = Field(default_factory=list)

    @field_validator("version", mode="before")
    @classmethod
    def _version_str(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @field_validator("dsn")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgres://", "postgresql://")):
            raise ValueError("dsn must be a postgresql:// URL")
        return value


class Fault(_Model):
    """A rule that makes matching requests fail, stall or vanish, `count` times (or forever)."""

    method: str = "*"
    # Glob on the path without "/v1": "*" is one path segment, "**" any number of them.
    path: str = "**"
    status: int | None = Field(default=None, ge=400, le=599)
    count: int | None = Field(default=None, ge=1)  # None: forever
    retry_after: int | None = Field(default=None, ge=0)  # seconds, sent as Retry-After
    drop: bool = False  # close the connection without an answer
    delay_seconds: float = Field(default=0.0, ge=0)  # real seconds before answering
    queued_202: bool = False  # perform the request, answer 202 with no body
    applied: bool = False  # with status/drop: the request takes effect before the failure
    # A slow API: no answer reaches the client (dropped after delay_seconds), and the request
    # takes effect this many SIMULATED seconds later, long after the client gave up.
    apply_after: Seconds | None = Field(default=None, ge=0)
    # When the rule applies: while the newest deploy is in this phase, and/or within this
    # window of simulated seconds since the simulator started.
    phase: Literal["build", "pre_deploy", "update", "live"] | None = None
    active_from: Seconds | None = Field(default=None, ge=0)
    active_until: Seconds | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _does_something(self) -> Fault:
        if (
            self.status is None
            and not self.drop
            and not self.queued_202
            and not self.delay_seconds
            and self.apply_after is None
        ):
            raise ValueError("a fault needs status, drop, delay_seconds, queued_202 or apply_after")
        return self


class ScenarioMeta(_Model):
    name: str = ""
    description: str = ""
    extends: str | None = None  # a built-in name or a path relative to this file


class Owner(_Model):
    id: str = Field(pattern=r"^(tea|usr)-[0-9a-zA-Z]+$")
    name: str
    email: str = "ops@example.com"
    type: Literal["team", "user"] = "team"


class Scenario(_Model):
    scenario: ScenarioMeta = Field(default_factory=ScenarioMeta)
    owner: Owner
    services: list[Service] = Field(default_factory=list)
    env_groups: list[EnvGroup] = Field(default_factory=list)
    postgres: list[Postgres] = Field(default_factory=list)
    next_deploys: list[NextDeploy] = Field(default_factory=list)
    faults: list[Fault] = Field(default_factory=list)
    # Ways real Render bends its own documentation, on request.
    quirks: list[Literal["deploys_status_filter_ignored"]] = Field(default_factory=list)

    @property
    def name(self) -> str:
        return self.scenario.name


# --- loading ---------------------------------------------------------------------------------

SCENARIO_ADVICE = 'Fix the scenario file; its format is in the README, "The simulator"'


def builtin_scenarios() -> dict[str, str]:
    """Built-in scenario names and their one-line descriptions."""
    found: dict[str, str] = {}
    for entry in sorted(_builtin_dir().iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            data = tomllib.loads(entry.read_text(encoding="utf-8"))
            found[entry.name[: -len(".toml")]] = str(
                data.get("scenario", {}).get("description", "")
            )
    return found


def load_scenario(name_or_path: str) -> Scenario:
    """A built-in scenario by name ("demo") or a scenario file by path."""
    sources = _read_with_bases(name_or_path, seen=())
    merged: dict[str, Any] = {}
    origin: dict[str, _Source] = {}
    for source in sources:  # base first: each file's top-level keys replace its base's
        for key, value in source.data.items():
            merged[key] = value
            origin[key] = source
    merged.setdefault("scenario", {})
    merged["scenario"] = {**merged["scenario"], "extends": None}
    if not merged["scenario"].get("name"):
        merged["scenario"]["name"] = sources[-1].label
    try:
        scenario = Scenario.model_validate(merged)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise _located(tuple(error["loc"]), error["msg"], origin, sources[-1]) from None
    problem = _cross_check(scenario)
    if problem:
        loc, message = problem
        raise _located(loc, message, origin, sources[-1])
    return scenario


class _Source:
    def __init__(self, label: str, path: str, text: str, data: dict[str, Any]) -> None:
        self.label = label  # scenario name for built-ins, the file stem otherwise
        self.path = path
        self.text = text
        self.data = data


def _builtin_dir() -> Any:
    return resources.files("releaser.sim").joinpath("scenarios")


def _read_with_bases(
    name_or_path: str, seen: tuple[str, ...], relative_to: Path | None = None
) -> list[_Source]:
    source = _read_one(name_or_path, relative_to)
    if source.path in seen:
        raise ConfigError(
            f"scenario {source.path} extends itself (via {' -> '.join(seen)})", SCENARIO_ADVICE
        )
    meta = source.data.get("scenario", {})
    base = meta.get("extends") if isinstance(meta, dict) else None
    if not base:
        return [source]
    here = Path(source.path).parent if Path(source.path).is_file() else None
    return [*_read_with_bases(str(base), (*seen, source.path), here), source]


def _is_file(path: Any) -> bool:
    try:
        return bool(path.is_file())
    except OSError:  # a name too long for the file system is no file either
        return False


def _read_one(name_or_path: str, relative_to: Path | None) -> _Source:
    candidate = Path(name_or_path)
    if (
        relative_to is not None
        and not candidate.is_absolute()
        and _is_file(relative_to / candidate)
    ):
        candidate = relative_to / candidate
    if _is_file(candidate):
        path, label = str(candidate), candidate.stem
        try:
            text = candidate.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):  # unreadable or binary: input, not a bug
            raise ConfigError(
                f"scenario file {path} is not readable UTF-8 text", SCENARIO_ADVICE
            ) from None
    elif "/" in name_or_path or name_or_path.endswith(".toml"):
        raise ConfigError(f"scenario file {name_or_path} not found", "Check the path")
    else:
        entry = _builtin_dir().joinpath(f"{name_or_path}.toml")
        if not _is_file(entry):
            names = ", ".join(builtin_scenarios())
            raise ConfigError(
                f"unknown scenario '{name_or_path}'",
                f"Use a built-in one ({names}) or the path to a .toml scenario file",
            )
        path, label = f"{name_or_path}.toml (built-in)", name_or_path
        text = entry.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib already says "(at line N, column M)".
        raise ConfigError(f"bad scenario {path}: {exc}", SCENARIO_ADVICE) from None
    return _Source(label, path, text, data)


def _cross_check(scenario: Scenario) -> tuple[tuple[Any, ...], str] | None:
    """References and uniqueness that a single field cannot check."""
    ids: set[str] = {scenario.owner.id}
    every_id = [
        *(("services", i, s.id) for i, s in enumerate(scenario.services)),
        *(("env_groups", i, g.id) for i, g in enumerate(scenario.env_groups)),
        *(("postgres", i, p.id) for i, p in enumerate(scenario.postgres)),
    ]
    for kind, index, item_id in every_id:
        if item_id in ids:
            return (kind, index, "id"), f"duplicate id {item_id}"
        ids.add(item_id)
    group_names = {group.name for group in scenario.env_groups}
    deploy_ids: set[str] = set()
    for index, service in enumerate(scenario.services):
        for group in service.env_groups:
            if group not in group_names:
                return ("services", index, "env_groups"), f"no env group named {group!r}"
        lives = [d for d in service.deploys if d.status == "live"]
        if len(lives) > 1:
            return ("services", index, "deploys"), "more than one live deploy"
        running = [i for i, d in enumerate(service.deploys) if d.in_progress]
        if len(running) > 1:
            return ("services", index, "deploys"), "more than one deploy in progress"
        for d_index in running:
            if service.deploys[d_index].status == "pre_deploy_in_progress" and not (
                service.pre_deploy_command
            ):
                return (
                    "services",
                    index,
                    "deploys",
                    d_index,
                    "status",
                ), "pre_deploy_in_progress needs the service's pre_deploy_command"
        if running and service.deploys:
            now = datetime.now().astimezone()  # offsets and absolute times, on one axis
            newest = max(service.deploys, key=lambda d: resolve_offset(d.created_at, now))
            if newest is not service.deploys[running[0]]:
                return (
                    "services",
                    index,
                    "deploys",
                    running[0],
                    "created_at",
                ), "a deploy in progress must be the service's newest"
        for d_index, deploy in enumerate(service.deploys):
            if deploy.id in deploy_ids:
                return (
                    "services",
                    index,
                    "deploys",
                    d_index,
                    "id",
                ), f"duplicate deploy id {deploy.id}"
            deploy_ids.add(deploy.id)
    known = {s.name for s in scenario.services} | {s.id for s in scenario.services}
    for index, queued in enumerate(scenario.next_deploys):
        if queued.service not in known:
            return ("next_deploys", index, "service"), f"no service named {queued.service!r}"
    return None


def _located(
    loc: tuple[Any, ...], message: str, origin: dict[str, _Source], fallback: _Source
) -> ConfigError:
    source = origin.get(str(loc[0]), fallback) if loc else fallback
    line = _TomlLines(source.text).line_of(loc)
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(
        "."
    )
    at = f", line {line}" if line else ""
    return ConfigError(
        f"bad scenario {source.path}{at}: {where or 'file'}: {message}", SCENARIO_ADVICE
    )


class _TomlLines:
    """Maps a validation location such as ("services", 0, "type") to a line of the TOML text.

    tomllib keeps no positions, so this follows table headers and `key =` lines. Best effort:
    it falls back to the closest enclosing table it can find.
    """

    _HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
    _KEY = re.compile(
        r'^\s*((?:[A-Za-z0-9_-]+|"[^"]*")(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"))*)\s*='
    )

    def __init__(self, text: str) -> None:
        self.lines: dict[tuple[Any, ...], int] = {}
        arrays: dict[tuple[Any, ...], int] = {}  # array-of-tables path -> current index
        table: tuple[Any, ...] = ()
        for number, line in enumerate(text.splitlines(), start=1):
            header = self._HEADER.match(line)
            if header:
                parts = [p.strip().strip('"') for p in header.group(2).split(".")]
                path: tuple[Any, ...] = ()
                for part in parts[:-1]:
                    path = (*path, part)
                    if path in arrays:
                        path = (*path, arrays[path])
                path = (*path, parts[-1])
                if header.group(1) == "[[":
                    arrays[path] = arrays.get(path, -1) + 1
                    path = (*path, arrays[path])
                table = path
                self.lines.setdefault(table, number)
                continue
            key = self._KEY.match(line)
            if key:
                parts = [p.strip().strip('"') for p in key.group(1).split(".")]
                self.lines.setdefault((*table, *parts), number)

    def line_of(self, loc: tuple[Any, ...]) -> int | None:
        for end in range(len(loc), 0, -1):
            if loc[:end] in self.lines:
                return self.lines[loc[:end]]
        return None
