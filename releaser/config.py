"""``releaser.toml``: per-service release rules and per-database backup settings.

Found via ``RELEASER_CONFIG`` or ``./releaser.toml``; absent means defaults. Errors name
the file and the line, and exit 2 (ConfigError).
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from releaser.durations import parse_duration
from releaser.errors import ConfigError

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


class DatabaseConfig(_Strict):
    """Where a database's snapshots come from and go to."""

    source: str | None = None
    store: str | None = None
    production: bool = False
    max_backup_age: str = "26h"
    endpoint_url: str | None = None

    @field_validator("max_backup_age")
    @classmethod
    def _age_parses(cls, value: str) -> str:
        parse_duration(value, "max_backup_age")
        return value

    @property
    def max_backup_age_seconds(self) -> float:
        return parse_duration(self.max_backup_age, "max_backup_age")


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


def load_config(path: str | Path | None = None) -> Config:
    """Load the config: explicit path, else ``$RELEASER_CONFIG``, else ``./releaser.toml``."""
    explicit = path or os.environ.get("RELEASER_CONFIG")
    candidate = Path(explicit) if explicit else Path("releaser.toml")
    if not candidate.exists():
        if explicit:
            raise ConfigError(
                f"config file {candidate} does not exist",
                "Fix RELEASER_CONFIG or create the file (see README, 'Configuration')",
            )
        return Config()
    try:
        text = candidate.read_text(encoding="utf-8")
        data = tomllib.loads(text)
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
        raise ConfigError(
            f"{where}: {key}: {first['msg']}",
            "Fix that entry (see README, 'Configuration')",
        ) from None
    config.path = candidate
    return config
