"""What a snapshot's manifest records: the dump's checksum and the facts to verify against.

The manifest is written last; its presence is what makes a snapshot complete. Old manifests
must keep loading, so fields are added with defaults and unknown fields are ignored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MANIFEST_NAME = "manifest.json"
DUMP_NAME = "dump.pgcustom"
DRILLS_DIR = "drills"
MANIFEST_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class TableFact(_Model):
    schema_name: str
    name: str
    kind: Literal["table", "matview"] = "table"
    rows: int | None = None  # None: a matview that is not populated
    fingerprint: str | None = None  # sum of per-row 64-bit hashes; order-independent
    # How the fingerprint was computed; a restored copy is fingerprinted the same way.
    fingerprint_method: Literal["hash_record", "md5_text"] = "md5_text"
    # Matviews: whether the query gives the same rows on the same data (no now(),
    # random(), CURRENT_USER...). Only then is a row count compared after a restore.
    deterministic: bool = True

    @property
    def qualified(self) -> str:
        return f"{self.schema_name}.{self.name}"


class SequenceFact(_Model):
    schema_name: str
    name: str
    last_value: int
    is_called: bool
    increment: int = 1  # negative: a descending sequence
    cycle: bool = False  # may wrap around: no direction can be checked

    @property
    def qualified(self) -> str:
        return f"{self.schema_name}.{self.name}"


class Facts(_Model):
    """A database at one moment: read in the dump's own snapshot, or from a restored copy."""

    database: str
    encoding: str
    collate: str | None = None
    ctype: str | None = None
    size_bytes: int
    server_version: str
    server_version_num: int
    system_identifier: str | None = None
    extensions: dict[str, str] = Field(default_factory=dict)
    tables: list[TableFact] = Field(default_factory=list)
    sequences: list[SequenceFact] = Field(default_factory=list)
    large_objects: int = 0
    invalid_indexes: list[str] = Field(default_factory=list)
    # ALTER DATABASE … SET (for every role) as "name=value", and COMMENT ON DATABASE: not in
    # the archive's restore unless the database is recreated, so restore applies them.
    # None: a manifest from before they were recorded.
    database_settings: list[str] | None = None
    database_comment: str | None = None

    @property
    def total_rows(self) -> int:
        return sum(t.rows or 0 for t in self.tables if t.kind == "table")


class SourceInfo(_Model):
    display: str  # masked DSN, or "name dpg-… (masked DSN)"; never a password
    host: str
    port: int
    database: str
    render_id: str | None = None


class DumpInfo(_Model):
    key: str
    sha256: str
    size_bytes: int
    format: Literal["custom"] = "custom"
    pg_dump_version: str
    chunk_size: int | None = None


class Manifest(_Model):
    manifest_version: int = MANIFEST_VERSION
    snapshot_id: str
    database: str
    source: SourceInfo
    taken_at: datetime  # the exported snapshot's moment (what RPO is measured from)
    finished_at: datetime
    dump_seconds: float
    dump: DumpInfo
    facts: Facts
    tool: str = "releaser"
