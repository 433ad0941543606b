"""Taking a snapshot: a consistent pg_dump streamed through SHA-256 into the store.

Order matters and is the point of this module:
1. pick a pg_dump at least as new as the server (fail before anything is uploaded);
2. open a REPEATABLE READ READ ONLY transaction and export its snapshot;
3. read the cheap facts (sequences first: they are not transactional);
4. start ``pg_dump -Fc --snapshot=<id>`` and stream its stdout to the store, hashing as
   it goes, while row counts and fingerprints are read in the same snapshot;
5. only when the dump, its exit code and the facts are all good, write the manifest, with
   a conditional put. A failed dump raises inside the reader, which aborts the upload.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType
from typing import TYPE_CHECKING

from releaser.db import facts as facts_mod
from releaser.db.dsn import Dsn
from releaser.db.manifest import (
    DUMP_NAME,
    MANIFEST_NAME,
    DumpInfo,
    Facts,
    Manifest,
    SourceInfo,
    TableFact,
)
from releaser.db.pgtools import (
    PgBinary,
    StderrTail,
    choose,
    connect,
    find_tool,
    server_major,
)
from releaser.db.progress import Reporter
from releaser.db.storage import Store
from releaser.errors import DumpFailed, EnvironmentProblem, NotFoundError, ReleaserError

if TYPE_CHECKING:
    import psycopg

DUMP_MAGIC = b"PGDMP"


@dataclass(frozen=True)
class SnapshotResult:
    manifest: Manifest
    store_url: str


def new_snapshot_id(name: str, when: datetime) -> str:
    # 48 random bits: two snapshots of one database in the same second never share an id
    # (with 16 bits they did, one dump overwriting the other); _free_id also checks.
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "db"
    return f"{safe}-{when:%Y%m%dT%H%M%SZ}-{secrets.token_hex(6)}"


def _free_id(store: Store, name: str, when: datetime) -> str:
    """A snapshot id with nothing stored under it yet."""
    for _ in range(5):
        snapshot_id = new_snapshot_id(name, when)
        try:
            taken = store.list(snapshot_id + "/")
        except NotFoundError:  # a store not created yet holds no snapshot at all
            return snapshot_id
        if not taken:
            return snapshot_id
    raise EnvironmentProblem(
        "could not find a free snapshot id", "Check the store listing; then try again"
    )


class DumpReader(io.RawIOBase):
    """pg_dump's stdout as a file object that hashes and counts, and that RAISES at EOF
    when pg_dump failed: returning a clean EOF would let boto3 commit a truncated object."""

    def __init__(
        self, process: subprocess.Popen[bytes], stderr: StderrTail, reporter: Reporter, dsn: Dsn
    ) -> None:
        assert process.stdout is not None
        self.process = process
        self.stdout = process.stdout
        self.stderr = stderr
        self.reporter = reporter
        self.dsn = dsn
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.finished = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        # Return full chunks until EOF: S3 parts other than the last must be >= 5 MiB.
        wanted = size if size >= 0 else 1 << 62
        parts: list[bytes] = []
        got = 0
        while got < wanted:
            chunk = self.stdout.read(min(wanted - got, 1 << 20))
            if not chunk:
                self._at_eof()
                break
            if self.size == 0 and not chunk.startswith(DUMP_MAGIC[: len(chunk)]):
                self._fail("pg_dump's output is not a custom-format archive")
            self.sha256.update(chunk)
            self.size += len(chunk)
            parts.append(chunk)
            got += len(chunk)
        self.reporter.transferred(self.size)
        return b"".join(parts)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _at_eof(self) -> None:
        if self.finished:
            return
        code = self.process.wait()
        self.stderr.join()
        if code != 0:
            how = f"was killed by signal {-code}" if code < 0 else f"exited with {code}"
            self._fail(f"pg_dump {how}")
        if self.size == 0:
            self._fail("pg_dump wrote nothing")
        self.finished = True

    def _fail(self, what: str) -> None:
        self.kill()
        detail = self.dsn.redact(self.stderr.text()).strip()
        raise DumpFailed(
            f"{what}{': ' + detail if detail else ''}",
            "Nothing was kept: the upload was aborted and no manifest was written",
        )

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def close(self) -> None:
        """Stop pg_dump if still running and release its pipes."""
        self.kill()
        self.stderr.join()
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()
        super().close()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """A cancelled CI job sends SIGTERM: treat it like Ctrl-C so cleanup still runs."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (library use): leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _open_snapshot_tx(dsn: Dsn) -> psycopg.Connection:
    from psycopg import IsolationLevel

    conn = connect(dsn, what="source database")
    conn.isolation_level = IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    facts_mod.prepare(conn)
    return conn


def _worker_opener(dsn: Dsn, snapshot: str) -> psycopg.Connection:
    from psycopg import sql

    conn = _open_snapshot_tx(dsn)  # prepare() only SETs: the snapshot is not taken yet
    conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
    return conn


def take_snapshot(
    dsn: Dsn,
    store: Store,
    *,
    name: str | None = None,
    render_id: str | None = None,
    jobs: int = 1,
    reporter: Reporter | None = None,
    pg_dump: PgBinary | None = None,
) -> SnapshotResult:
    """Dump ``dsn`` into ``store`` and write its manifest; raise on any failure, leaving no
    manifest (and, as far as the store allows, no object)."""
    reporter = reporter or Reporter()
    # SIGTERM (a cancelled CI job) unwinds like Ctrl-C: the upload is aborted and the
    # partial dump removed, instead of a .partial and an empty folder left behind.
    with sigterm_as_interrupt():
        conn = _open_snapshot_tx(dsn)
        try:
            server_num = conn.info.server_version
            wanted = server_major(server_num)
            # Checked before anything is exported or uploaded; an injected binary obeys
            # the same rule as a found one.
            pg_dump = (
                choose("pg_dump", wanted, [pg_dump]) if pg_dump else find_tool("pg_dump", wanted)
            )
            return _dump(conn, dsn, store, name, render_id, jobs, reporter, pg_dump)
        finally:
            conn.close()


def _dump(
    conn: psycopg.Connection,
    dsn: Dsn,
    store: Store,
    name: str | None,
    render_id: str | None,
    jobs: int,
    reporter: Reporter,
    pg_dump: PgBinary,
) -> SnapshotResult:
    row = conn.execute("SELECT pg_export_snapshot(), clock_timestamp()").fetchone()
    assert row is not None
    exported, taken_at = row[0], row[1].astimezone(UTC)
    reporter.event("snapshot-exported")
    base = facts_mod.database_facts(conn)
    relations = facts_mod.list_relations(conn)
    lock_relations(conn, relations)
    reporter.event("relations-locked")
    snapshot_id = _free_id(store, name or base.database, taken_at)
    dump_key = f"{snapshot_id}/{DUMP_NAME}"

    command = [
        pg_dump.path,
        "--format=custom",
        f"--snapshot={exported}",
        "--no-password",
        f"--dbname={dsn.without_password()}",
    ]
    reporter.phase(f"Dumping {dsn.display} to {store.url}/{snapshot_id} ({pg_dump.path})")
    started = time.monotonic()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dsn.child_env()
    )
    tail = StderrTail(process.stderr)
    tail.start()
    reader = DumpReader(process, tail, reporter, dsn)
    reporter.event("dump-started")

    scanned: list[TableFact] = []
    scan_error: list[BaseException] = []
    cancelled = threading.Event()  # we cancelled the scan: its error is not the cause

    def scan() -> None:
        try:
            scanned.extend(
                facts_mod.scan_all(
                    conn,
                    relations,
                    jobs=jobs,
                    open_worker=lambda: _worker_opener(dsn, exported),
                )
            )
        except BaseException as exc:
            if not cancelled.is_set():
                scan_error.append(exc)
                reader.kill()  # makes the reader raise, which aborts the upload

    scanner = threading.Thread(target=scan, name="releaser-facts", daemon=True)
    scanner.start()
    try:
        chunk = store.upload_stream(dump_key, reader, base.size_bytes)
    except BaseException:
        if not scan_error:
            cancelled.set()
        reader.kill()
        with contextlib.suppress(Exception):
            conn.cancel()
        scanner.join()
        if scan_error and isinstance(scan_error[0], Exception):
            raise _facts_error(scan_error[0], dsn) from None
        raise
    finally:
        reader.close()
        reporter.done()
    scanner.join()
    if scan_error:
        _delete_quietly(store, dump_key)
        raise _facts_error(scan_error[0], dsn) from None
    dump_seconds = time.monotonic() - started
    conn.rollback()  # end the read-only transaction: the snapshot is no longer needed

    manifest = Manifest(
        snapshot_id=snapshot_id,
        database=name or base.database,
        source=SourceInfo(
            display=dsn.display,
            host=dsn.host,
            port=dsn.port,
            database=base.database,
            render_id=render_id,
        ),
        taken_at=taken_at,
        finished_at=datetime.now(UTC),
        dump_seconds=round(dump_seconds, 3),
        dump=DumpInfo(
            key=dump_key,
            sha256=reader.sha256.hexdigest(),
            size_bytes=reader.size,
            pg_dump_version=pg_dump.version,
            chunk_size=chunk,
        ),
        facts=Facts.model_validate({**base.model_dump(), "tables": scanned}),
    )
    try:
        store.create(f"{snapshot_id}/{MANIFEST_NAME}", manifest.model_dump_json(indent=2).encode())
    except BaseException:
        _delete_quietly(store, dump_key)
        raise
    reporter.event("manifest-written")
    return SnapshotResult(manifest=manifest, store_url=store.url)


def lock_relations(conn: psycopg.Connection, relations: list[TableFact]) -> None:
    """ACCESS SHARE on every relation the manifest describes, held by the snapshot
    transaction for the whole run. pg_dump's own locks end when it exits while the facts
    scan may still be running: a TRUNCATE or ALTER TABLE in that gap would make the
    manifest describe another database than the dump. (LOCK TABLE refuses matviews; a
    SELECT takes the same lock until the transaction ends.)"""
    from psycopg import sql

    def name(r: TableFact) -> sql.Composable:
        return sql.SQL("{}.{}").format(sql.Identifier(r.schema_name), sql.Identifier(r.name))

    tables = [name(r) for r in relations if r.kind == "table"]
    with conn.cursor() as cur:
        if tables:
            cur.execute(
                sql.SQL("LOCK TABLE {} IN ACCESS SHARE MODE").format(sql.SQL(", ").join(tables))
            )
        # An unpopulated matview cannot be read at all (and holds no data to protect).
        for matview in (r for r in relations if r.kind == "matview" and r.rows is not None):
            cur.execute(sql.SQL("SELECT FROM {} LIMIT 0").format(name(matview)))


def _facts_error(exc: BaseException, dsn: Dsn) -> ReleaserError:
    if isinstance(exc, ReleaserError):
        return exc
    return EnvironmentProblem(
        f"reading row counts from {dsn.display} failed: {dsn.redact(str(exc)).strip()}",
        "Nothing was kept: the upload was aborted and no manifest was written",
    )


def _delete_quietly(store: Store, key: str) -> None:
    # Best effort: a dump without a manifest is already "incomplete" and never used.
    with contextlib.suppress(Exception):
        store.delete(key)
