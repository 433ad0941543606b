"""``releaser.toml``: per-service release rules and per-database backup settings.

Found via ``--config``, ``RELEASER_CONFIG``, or the nearest ``releaser.toml`` from the
current folder up to the repository root (like git and ruff); absent means defaults. Errors
name the file and the line, and exit 2 (ConfigError).
"""

from __future__ import annotations

import os
import re
import sys
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from releaser.durations import parse_bounded
from releaser.errors import ConfigError, UsageError

ValueType = Literal[
    "str",
    "int",
    "bool",
    "url",
    "postgres_url",
    "json",
    "json_list",
    "csv_list",
    "email",
    "duration",
]
VALUE_TYPES: tuple[str, ...] = ValueType.__args__  # type: ignore[attr-defined]

DEFAULT_SECRET_MARKERS = ("SECRET", "KEY", "TOKEN", "PASSWORD", "PASS")
DEFAULT_MIN_SECRET_LENGTH = 32


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ServiceRules(_Strict):
    """Release rules for one service (keyed by service name or id in the file)."""

    required: list[str] = Field(default_factory=list)
    secrets: list[str] = Field(default_factory=list)
    types: dict[str, ValueType] = Field(default_factory=dict)
    min_secret_length: int = Field(default=DEFAULT_MIN_SECRET_LENGTH, ge=1)
    require_rollback_target: bool = True
    database: str | None = None
    health_path: str | None = None
    startup_error_patterns: list[str] = Field(default_factory=list)
    production: bool = False

    @field_validator("startup_error_patterns")
    @classmethod
    def _patterns_compile(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"pattern {pattern!r} is not a valid regular expression: {exc}"
                ) from None
        return value

    def is_secret(self, key: str) -> bool:
        if key in self.secrets:
            return True
        upper = key.upper()
        return any(marker in upper for marker in DEFAULT_SECRET_MARKERS)

    def type_of(self, key: str) -> str | None:
        if key in self.types:
            return self.types[key]
        if key == "DATABASE_URL":
            return "postgres_url"
        return None


EvidenceKind = Literal["snapshot", "render-export", "render-pitr"]


class DatabaseConfig(_Strict):
    """Where a database's snapshots come from and go to."""

    source: str | None = None
    store: str | None = None
    production: bool = False
    max_backup_age: str = "26h"
    endpoint_url: str | None = None
    # Which drill evidence counts for go-no-go, and how old each kind may be. Empty: only
    # our own snapshots, within max_backup_age.
    evidence: dict[EvidenceKind, str] = Field(default_factory=dict)
    # Checks of Render exports and PITR copies: name -> SQL that returns 0 when sound.
    invariants: dict[str, str] = Field(default_factory=dict)
    row_drift_per_day: float = Field(default=0.5, ge=0)  # rows a copy may differ, per day of age

    @field_validator("max_backup_age")
    @classmethod
    def _age_parses(cls, value: str) -> str:
        try:
            _backup_age(value)
        except UsageError as exc:  # a ValueError so the loader adds file:line
            raise ValueError(exc.one_line()) from None
        return value

    @field_validator("evidence")
    @classmethod
    def _ages_parse(cls, value: dict[str, str]) -> dict[str, str]:
        for kind, age in value.items():
            try:
                _backup_age(age, f"evidence.{kind}")
            except UsageError as exc:  # a ValueError so the loader adds file:line
                raise ValueError(exc.one_line()) from None
        return value

    @property
    def max_backup_age_seconds(self) -> float:
        return _backup_age(self.max_backup_age)

    def evidence_ages(self) -> dict[str, float]:
        """Evidence kind -> the oldest it may be, in seconds."""
        if not self.evidence:
            return {"snapshot": self.max_backup_age_seconds}
        return {kind: _backup_age(age, f"evidence.{kind}") for kind, age in self.evidence.items()}


def _backup_age(value: str, name: str = "max_backup_age") -> float:
    return parse_bounded(value, name, 60.0, 365 * 86400.0)


class MigrateStep(_Strict):
    """A one-off job run before any deploy of a release (e.g. the schema migration)."""

    service: str = Field(min_length=1)  # whose image and env the job runs with
    command: str = Field(min_length=1)


class ReleasePlan(_Strict):
    """Services released together, in this order, sharing one commit."""

    services: list[str] = Field(min_length=1)
    migrate: MigrateStep | None = None

    @field_validator("services")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a service is listed twice")
        return value


class StateConfig(_Strict):
    """Where release locks and the ledger live (``RELEASER_STATE_DSN`` wins over ``dsn``)."""

    dsn: str | None = None  # PostgreSQL, shared by every machine; unset: .releaser/ (local)


class Config(_Strict):
    services: dict[str, ServiceRules] = Field(default_factory=dict)
    databases: dict[str, DatabaseConfig] = Field(default_factory=dict)
    state: StateConfig = Field(default_factory=StateConfig)
    releases: dict[str, ReleasePlan] = Field(default_factory=dict)
    path: Path | None = Field(default=None, exclude=True)

    def rules_for(self, *names: str | None) -> ServiceRules:
        """Rules for the first of ``names`` (service id, then name) found, else defaults."""
        for name in names:
            if name and name in self.services:
                return self.services[name]
        return ServiceRules()

    def database(self, name: str) -> DatabaseConfig | None:
        return self.databases.get(name)


def _line_of(text: str, loc: tuple[str | int, ...]) -> int | None:
    """Best-effort line number for a pydantic error location in a TOML document."""
    lines = text.splitlines()
    wanted = [str(p) for p in loc if isinstance(p, str)]
    line_no: int | None = None
    start = 0
    for part in wanted:
        pattern = re.compile(rf"""(^|[\s.\["']){re.escape(part)}(["']?\s*[=\].]|["']?\s*$)""")
        for index in range(start, len(lines)):
            if pattern.search(lines[index]):
                line_no, start = index + 1, index
                break
    return line_no


_chosen: list[str] = []  # --config FILE for this run (set by the CLI's global option)
_announced: set[Path] = set()


def use_config_file(path: str | None) -> None:
    """Make ``path`` (from ``releaser --config FILE``) the config for this run; None clears."""
    _chosen[:] = [path] if path else []


def find_config(start: Path) -> Path | None:
    """The nearest ``releaser.toml`` from ``start`` up to the repository root.

    Outside a git repository only ``start`` itself is looked at: a stray file in a parent
    folder (``/tmp/releaser.toml``) must not steer a release.
    """
    folders = [start, *start.parents]
    root = next((f for f in folders if (f / ".git").exists()), None)
    for folder in folders if root else [start]:
        if (folder / "releaser.toml").is_file():
            return Path(os.path.relpath(folder / "releaser.toml", start))
        if folder == root:
            break
    return None


def _announce(path: Path) -> None:
    # Say which file steers this run when it is not the obvious ./releaser.toml.
    resolved = path.resolve()
    if resolved in _announced or path == Path("releaser.toml"):
        return
    _announced.add(resolved)
    print(f"releaser: using config {path}", file=sys.stderr)


def load_config(path: str | Path | None = None) -> Config:
    """Load the config: explicit path, ``--config``, ``$RELEASER_CONFIG``, else the nearest
    ``releaser.toml`` up to the repository root."""
    explicit = path or (_chosen[0] if _chosen else None) or os.environ.get("RELEASER_CONFIG")
    source = "--config" if _chosen and not path else "RELEASER_CONFIG"
    if explicit:
        candidate = Path(explicit)
        if not candidate.exists():
            raise ConfigError(
                f"config file {candidate} does not exist",
                f"Fix {source} or create the file (see README, 'Configuration')",
            )
        if not candidate.is_file():
            raise ConfigError(
                f"config file {candidate} is not a file",
                f"Point {source} at a releaser.toml file",
            )
    else:
        found = find_config(Path.cwd())
        if found is None:
            return Config()
        candidate = found
    try:
        text = candidate.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except OSError as exc:
        raise ConfigError(
            f"cannot read config file {candidate}: {exc.strerror}", "Check the path"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{candidate} is not UTF-8 text", "Save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{candidate}: {exc}", "Fix the TOML syntax at that line") from None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        line = _line_of(text, tuple(first["loc"]))
        where = f"{candidate}:{line}" if line else str(candidate)
        key = ".".join(str(p) for p in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(
            f"{where}: {key}: {message}",
            "Fix that entry (see README, 'Configuration')",
        ) from None
    for name, rules in config.services.items():
        if rules.database and rules.database not in config.databases:
            # Once only a warning that silently turned the backup check off.
            line = _line_of(text, ("services", name, "database"))
            where = f"{candidate}:{line}" if line else str(candidate)
            known = ", ".join(sorted(config.databases)) or "none"
            raise ConfigError(
                f"{where}: services.{name}.database: {rules.database!r} is not a database "
                f"declared under [databases] (declared: {known})",
                "Fix the name or add a [databases] entry",
            )
    config.path = candidate
    _announce(candidate)
    return config
