"""What a store holds: snapshots (complete or not), their manifests and drill evidence.

Layout under the store prefix::

    <snapshot-id>/dump.pgcustom
    <snapshot-id>/manifest.json                 written last; absent = incomplete
    <snapshot-id>/drills/<time>-passed.json     one per drill (evidence); failed drills
                                                and failed verifies write <time>-failed.json
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import ValidationError

from releaser.db.manifest import DRILLS_DIR, DUMP_NAME, MANIFEST_NAME, Manifest
from releaser.db.storage import Store
from releaser.errors import IncompleteSnapshot, NotFoundError, UsageError

SNAPSHOT_ID = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass
class SnapshotEntry:
    snapshot_id: str
    manifest: Manifest | None
    dump_size: int | None
    modified: datetime  # newest object time: for incomplete snapshots, their only clock
    keys: list[str]
    last_verified: datetime | None = None
    last_drill_failed: datetime | None = None
    # Reads the newest evidence file when first asked (go-no-go stops at the first
    # verified snapshot; it need not read every snapshot's evidence).
    _proof: Callable[[], bool] | None = field(default=None, repr=False, compare=False)
    _verified: bool | None = field(default=None, repr=False, compare=False)

    @property
    def verified(self) -> bool:
        """The newest evidence decides: a snapshot whose newest drill or verify failed,
        or whose newest evidence file is empty or unreadable, is not verified."""
        if self._verified is None:
            self._verified = bool(self._proof and self._proof())
        return self._verified

    @property
    def complete(self) -> bool:
        """A manifest that belongs here AND the dump it describes: a manifest whose dump is
        gone (or still a .partial) is an incomplete snapshot, never a usable one."""
        return (
            self.manifest is not None
            and self.dump_size is not None
            and self.dump_size == self.manifest.dump.size_bytes
        )

    @property
    def taken_at(self) -> datetime:
        return self.manifest.taken_at if self.manifest else self.modified

    @property
    def database(self) -> str | None:
        return self.manifest.database if self.manifest else None


_EVIDENCE = re.compile(r"^(\d{8}T\d{6}(?:\.\d+)?Z)-(passed|failed)\.json$")


def parse_evidence_name(name: str) -> tuple[datetime, bool] | None:
    match = _EVIDENCE.match(name)
    if not match:
        return None
    stamp = match.group(1)
    fmt = "%Y%m%dT%H%M%S.%fZ" if "." in stamp else "%Y%m%dT%H%M%SZ"
    from datetime import UTC

    return datetime.strptime(stamp, fmt).replace(tzinfo=UTC), match.group(2) == "passed"


def check_id(snapshot_id: str) -> str:
    if not SNAPSHOT_ID.match(snapshot_id):
        raise UsageError(
            f"{snapshot_id!r} is not a snapshot id",
            "Use an id from 'releaser db list', for example app-20240501T020000Z-1a2b",
        )
    return snapshot_id


def list_snapshots(store: Store, database: str | None = None) -> list[SnapshotEntry]:
    """Every snapshot in the store, newest first; ``database`` filters complete ones."""
    groups: dict[str, list[tuple[str, int, datetime]]] = {}
    for obj in store.list():
        head, slash, rest = obj.key.partition("/")
        if slash and SNAPSHOT_ID.match(head):  # rest "" : an empty folder, "<id>/"
            groups.setdefault(head, []).append((rest, obj.size, obj.modified))
    entries = []
    for snapshot_id, objects in groups.items():
        names = {name for name, _, _ in objects}
        manifest = _read_manifest(store, snapshot_id) if MANIFEST_NAME in names else None
        entry = SnapshotEntry(
            snapshot_id=snapshot_id,
            manifest=manifest,
            dump_size=next((size for name, size, _ in objects if name == DUMP_NAME), None),
            modified=max(modified for _, _, modified in objects),
            keys=sorted(f"{snapshot_id}/{name}" for name in names),
        )
        evidence: list[tuple[datetime, bool, str, int]] = []
        for name, size, _ in objects:
            if name.startswith(DRILLS_DIR + "/"):
                parsed = parse_evidence_name(name[len(DRILLS_DIR) + 1 :])
                if parsed:
                    evidence.append((parsed[0], parsed[1], name, size))
        for when, passed, _, _ in evidence:
            if passed:
                entry.last_verified = max(filter(None, [entry.last_verified, when]))
            else:
                entry.last_drill_failed = max(filter(None, [entry.last_drill_failed, when]))
        if database and entry.manifest is not None and entry.database != database:
            continue
        if evidence and entry.complete:
            newest = max(evidence, key=lambda e: (e[0], not e[1]))  # a tie counts as failed
            if newest[1]:
                entry._proof = functools.partial(
                    _evidence_says_passed,
                    store,
                    snapshot_id,
                    f"{snapshot_id}/{newest[2]}",
                    newest[3],
                )
        entries.append(entry)
    entries.sort(key=lambda e: e.taken_at, reverse=True)
    return entries


def _evidence_says_passed(store: Store, snapshot_id: str, key: str, size: int) -> bool:
    """The evidence file's CONTENT, not its name, says passed for this very snapshot. An
    empty, truncated or unparsable file proves nothing."""
    if size <= 0:
        return False
    try:
        data = json.loads(store.read_bytes(key))
    except (ValueError, NotFoundError):
        return False
    return (
        isinstance(data, dict)
        and data.get("passed") is True
        and data.get("snapshot_id") == snapshot_id
        and data.get("kind", "drill") == "drill"
    )


def _belongs(manifest: Manifest, snapshot_id: str) -> bool:
    """A manifest copied from another snapshot must not make this one look complete."""
    return manifest.snapshot_id == snapshot_id and manifest.dump.key == dump_key(snapshot_id)


def dump_key(snapshot_id: str) -> str:
    return f"{snapshot_id}/{DUMP_NAME}"


def _read_manifest(store: Store, snapshot_id: str) -> Manifest | None:
    try:
        manifest = Manifest.model_validate_json(store.read_bytes(f"{snapshot_id}/{MANIFEST_NAME}"))
    except (ValidationError, ValueError):
        return None  # unreadable: treated as incomplete, never as latest
    return manifest if _belongs(manifest, snapshot_id) else None


def load_manifest(store: Store, snapshot_id: str) -> Manifest:
    """The manifest of ``snapshot_id``. Unknown id: exit 2. Present without (readable)
    manifest: the snapshot is incomplete, a failed verification (exit 1)."""
    check_id(snapshot_id)
    try:
        raw = store.read_bytes(f"{snapshot_id}/{MANIFEST_NAME}")
    except NotFoundError:
        if store.list(snapshot_id + "/"):
            raise IncompleteSnapshot(
                snapshot_id,
                f"snapshot {snapshot_id} is incomplete: it has no manifest (the dump failed, "
                "is still running, or the manifest was lost)",
                "Use a complete snapshot from 'releaser db list'",
            ) from None
        raise NotFoundError(
            f"no snapshot {snapshot_id} in {store.url}",
            "Run 'releaser db list --to STORE' to see the ids",
        ) from None
    try:
        manifest = Manifest.model_validate_json(raw)
    except (ValidationError, ValueError):
        raise IncompleteSnapshot(
            snapshot_id,
            f"the manifest of snapshot {snapshot_id} is unreadable",
            "Treat this snapshot as lost; use another one",
        ) from None
    if not _belongs(manifest, snapshot_id):
        raise IncompleteSnapshot(
            snapshot_id,
            f"the manifest of snapshot {snapshot_id} describes another snapshot "
            f"({manifest.snapshot_id}, dump {manifest.dump.key})",
            "Treat this snapshot as lost; use another one",
        )
    if not any(o.key == manifest.dump.key for o in store.list(snapshot_id + "/")):
        raise IncompleteSnapshot(
            snapshot_id,
            f"snapshot {snapshot_id} is incomplete: its dump {manifest.dump.key} is missing",
            "Use a complete snapshot from 'releaser db list'",
            manifest=manifest,
        )
    return manifest


def latest_complete(store: Store, database: str | None = None) -> SnapshotEntry:
    for entry in list_snapshots(store, database):
        if entry.complete:
            return entry
    which = f" of {database}" if database else ""
    raise NotFoundError(
        f"no complete snapshot{which} in {store.url}",
        "Take one with 'releaser db snapshot', or drop --use-latest",
    )
