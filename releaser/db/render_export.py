"""Render's own logical exports: trigger one, download it, and drill it.

``POST /postgres/{id}/export`` answers 202 with no body and no id; the list has no status.
The new export is the one not listed before the request, created at or after it, and it is
ready when it has a ``url``. That URL is signed and short-lived, so it is used at once: the
download streams through SHA-256 and straight into a streaming untar on disk (never held in
memory), then ``pg_restore -Fd -j N`` restores the ``pg_dump -Fd`` directory it holds.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from releaser.db.archive import pg_restore_into
from releaser.db.checks import Check, check
from releaser.db.dsn import Dsn
from releaser.db.evidence import PhaseTiming
from releaser.db.pgtools import connect, find_tool, server_major
from releaser.db.progress import Reporter, mb_per_s
from releaser.db.recovered import check_invariants, compare_with_source
from releaser.db.render_evidence import RenderDrillEvidence, write_render_evidence
from releaser.db.restore import maintenance_connect
from releaser.db.storage import Store
from releaser.errors import (
    DownloadInterrupted,
    EnvironmentProblem,
    NegativeVerdict,
    NotFoundError,
    WriteOutcomeUnknown,
)

if TYPE_CHECKING:
    from releaser.render.client import RenderClient
    from releaser.render.models import PostgresExport

CHUNK = 1 << 20
SCRATCH_PREFIX = "releaser_rexp_"
EXPORTS_PREFIX = "@render/exports"


class HashingReader:
    """A file-like view of a byte-chunk iterator that hashes and counts what is read, so a
    consumer (tarfile's stream mode, an S3 upload) pulls the download at its own pace."""

    def __init__(self, chunks: Iterator[bytes], reporter: Reporter, total: int | None) -> None:
        self._chunks = chunks
        self._buffer = b""
        self._reporter = reporter
        self._total = total
        self.digest = hashlib.sha256()
        self.size = 0

    def _next(self) -> bytes:
        try:
            chunk = next(self._chunks, b"")
        except Exception as exc:  # httpx's errors: the transfer, not the data, failed
            raise DownloadInterrupted(
                f"{type(exc).__name__} after {self.size} bytes: {exc}".strip()
            ) from None
        self.digest.update(chunk)
        self.size += len(chunk)
        self._reporter.transferred(self.size, self._total)
        return chunk

    def read(self, size: int = -1, /) -> bytes:
        if size is None or size < 0:
            parts = [self._buffer]
            while chunk := self._next():
                parts.append(chunk)
            self._buffer = b""
            return b"".join(parts)
        while len(self._buffer) < size:
            chunk = self._next()
            if not chunk:
                break
            self._buffer += chunk
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out

    def drain(self) -> None:
        """Read to the end, so the hash and size cover the whole file."""
        while self._next():
            pass


@dataclass
class Fetched:
    sha256: str
    size: int
    seconds: float
    dump_dir: Path


@contextlib.contextmanager
def open_download(url: str, reporter: Reporter) -> Iterator[HashingReader]:
    """GET the signed URL (no Render API key: it is not a Render API call), as a reader."""
    import httpx

    try:
        with (
            httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0), follow_redirects=True) as http,
            http.stream("GET", url) as response,
        ):
            if response.status_code in (401, 403, 404, 410):
                response.read()
                raise DownloadInterrupted(
                    f"the download URL answered {response.status_code} "
                    f"({response.text.strip()[:120] or 'no message'}); signed URLs expire"
                )
            if response.status_code >= 400:
                raise DownloadInterrupted(f"the download URL answered {response.status_code}")
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            yield HashingReader(response.iter_bytes(CHUNK), reporter, total)
    except httpx.HTTPError as exc:
        raise DownloadInterrupted(f"{type(exc).__name__}: {exc}") from None
    finally:
        reporter.done()


def fetch_and_unpack(url: str, dest: Path, reporter: Reporter) -> Fetched:
    """Stream the ``.dir.tar.gz`` into ``dest`` (untarred as it arrives) and find the
    ``pg_dump -Fd`` directory in it. A broken archive is a NegativeVerdict (the finding)."""
    started = time.monotonic()
    with open_download(url, reporter) as reader:
        try:
            with tarfile.open(fileobj=reader, mode="r|gz") as tar:  # type: ignore[call-overload]
                tar.extractall(dest, filter="data")  # no absolute paths, links out, devices
            reader.drain()
        except (tarfile.TarError, EOFError, zlib.error, OSError, ValueError) as exc:
            raise NegativeVerdict(
                f"the export archive is unreadable after {reader.size} bytes "
                f"({type(exc).__name__}: {exc})",
                "Do not rely on this export; take a new one ('releaser db export SOURCE')",
            ) from None
    tocs = sorted(dest.rglob("toc.dat"))
    if not tocs:
        raise NegativeVerdict(
            "the export archive holds no pg_dump directory (no toc.dat)",
            "Do not rely on this export; take a new one",
        )
    seconds = time.monotonic() - started
    return Fetched(reader.digest.hexdigest(), reader.size, seconds, tocs[0].parent)


def _aware(value: datetime | None) -> datetime:
    if value is None:
        return datetime.min.replace(tzinfo=UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def poll_sleep(attempt: int) -> None:
    # Starts fast (the simulator, small databases), settles at 10 s (real Render).
    time.sleep(min(10.0, 0.25 * 2**attempt))


def trigger_export(
    client: RenderClient, postgres_id: str, *, wait_seconds: float, reporter: Reporter
) -> PostgresExport:
    """Ask Render for a new export and wait until it has a download URL."""
    before = {e.id for e in client.list_exports(postgres_id)}
    requested = client.server_now() - timedelta(seconds=2)  # Date has second resolution
    reporter.phase(f"Requesting a Render export of {postgres_id}")
    try:
        client.create_export(postgres_id)
    except WriteOutcomeUnknown:
        # Never POST again: look for the export it may have started.
        reporter.phase("The export request's outcome is unknown; looking for a new export")
    started = time.monotonic()
    attempt = 0
    found: PostgresExport | None = None
    while True:
        new = [
            e
            for e in client.list_exports(postgres_id)
            if e.id not in before and _aware(e.created_at) >= requested
        ]
        found = max(new, key=lambda e: _aware(e.created_at), default=None)
        if found is not None and found.url:
            return found
        if time.monotonic() - started >= wait_seconds:
            break
        poll_sleep(attempt)
        attempt += 1
    waited = f"{wait_seconds:.0f}s"
    if found is None:
        raise EnvironmentProblem(
            f"no new export of {postgres_id} appeared within {waited}",
            "Check the database on the Render dashboard, then retry (or raise --wait)",
        )
    raise EnvironmentProblem(
        f"export {found.id} of {postgres_id} has no download URL after {waited}",
        "Render may still be exporting: retry later with --export-id " + found.id,
    )


def choose_export(client: RenderClient, postgres_id: str, export_id: str | None) -> PostgresExport:
    """``export_id``, else the newest export that has a download URL."""
    exports = client.list_exports(postgres_id)
    if export_id:
        chosen = next((e for e in exports if e.id == export_id), None)
        if chosen is None:
            raise NotFoundError(
                f"no export {export_id} of {postgres_id}",
                "List them with 'releaser db export --list SOURCE'; Render keeps them 7 days",
            )
        if not chosen.url:
            raise EnvironmentProblem(
                f"export {export_id} has no download URL yet", "Retry when Render has finished it"
            )
        return chosen
    ready = [e for e in exports if e.url]
    if not ready:
        raise NotFoundError(
            f"{postgres_id} has no export with a download URL",
            "Drop --latest to trigger a fresh export",
        )
    return max(ready, key=lambda e: _aware(e.created_at))


def _fresh_url(client: RenderClient, postgres_id: str, export_id: str) -> str:
    """The export's URL, listed again: signed URLs expire, a new listing signs anew."""
    for export in client.list_exports(postgres_id):
        if export.id == export_id and export.url:
            return export.url
    raise EnvironmentProblem(
        f"export {export_id} of {postgres_id} is no longer listed with a URL",
        "Render keeps exports 7 days; drill a newer one",
    )


def with_download_retry(
    client: RenderClient,
    postgres_id: str,
    export: PostgresExport,
    action: Callable[[str], object],
    reporter: Reporter,
) -> None:
    """Run ``action(url)``; if the transfer breaks, once more with a freshly listed URL."""
    url = export.url or _fresh_url(client, postgres_id, export.id)
    for attempt in (1, 2):
        try:
            action(url)
            return
        except DownloadInterrupted as exc:
            if attempt == 2:
                raise EnvironmentProblem(
                    f"downloading export {export.id} failed twice, the second time: {exc}",
                    "Signed URLs expire quickly: retry on a faster or closer network",
                ) from None
            reporter.phase(f"Download interrupted ({exc}); retrying with a fresh URL")
            url = _fresh_url(client, postgres_id, export.id)


# --- db export --download-to ---------------------------------------------------------------


@dataclass
class StoredExport:
    key: str
    manifest_key: str
    sha256: str
    size: int
    seconds: float


def copy_export_to_store(
    client: RenderClient,
    postgres_id: str,
    database: str,
    export: PostgresExport,
    store: Store,
    reporter: Reporter,
) -> StoredExport:
    """Stream the archive through SHA-256 into the store, then a manifest (written last)."""
    folder = f"{EXPORTS_PREFIX}/{database}/{export.id}"
    key = f"{folder}/export.dir.tar.gz"
    result: list[StoredExport] = []

    def copy(url: str) -> None:
        started = time.monotonic()
        with open_download(url, reporter) as reader:
            store.upload_stream(key, reader, reader._total or 0)
        result.append(
            StoredExport(
                key,
                f"{folder}/manifest.json",
                reader.digest.hexdigest(),
                reader.size,
                time.monotonic() - started,
            )
        )

    reporter.phase(f"Copying export {export.id} to {store.url}/{key}")
    with_download_retry(client, postgres_id, export, copy, reporter)
    stored = result[-1]
    manifest = {
        "kind": "render-export",
        "export_id": export.id,
        "render_id": postgres_id,
        "database": database,
        "created_at": _aware(export.created_at).isoformat(),
        "copied_at": datetime.now(UTC).isoformat(),
        "key": key,
        "sha256": stored.sha256,
        "size_bytes": stored.size,
        "format": "dir.tar.gz (pg_dump -Fd, tarred and gzipped)",
    }
    store.create(stored.manifest_key, json.dumps(manifest, indent=2).encode())
    return stored


# --- db drill --from render-export ---------------------------------------------------------


@dataclass
class RenderDrillResult:
    evidence: RenderDrillEvidence
    evidence_key: str
    store_url: str
    kept_instance: str | None = None  # PITR --keep-minutes: what to delete by hand


def create_scratch(scratch: Dsn, source: Dsn, owner: str | None = None) -> None:
    """CREATE DATABASE … TEMPLATE template0 in the source's encoding, owned by ``owner``
    (the drill's throwaway role) when given."""
    from psycopg import sql

    with connect(source, autocommit=True, what="source database") as conn:
        row = conn.execute(
            "SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = "
            "current_database()"
        ).fetchone()
    encoding = sql.Literal(row[0] if row else "UTF8")
    name = sql.Identifier(scratch.dbname)
    with maintenance_connect(scratch) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING {} LOCALE 'C'").format(
                name, encoding
            )
            + (sql.SQL(" OWNER {}").format(sql.Identifier(owner)) if owner else sql.SQL(""))
        )


def _timing(seconds: float, size: int | None = None) -> PhaseTiming:
    rate = mb_per_s(size, seconds) if size is not None else None
    return PhaseTiming(seconds=round(seconds, 3), bytes=size, mb_per_s=rate)


def run_export_drill(
    client: RenderClient,
    store: Store,
    *,
    postgres_id: str,
    database: str,
    source: Dsn,
    export_id: str | None,
    latest: bool,
    target_server: Dsn | None,
    jobs: int,
    invariants: dict[str, str],
    drift_per_day: float,
    wait_seconds: float,
    reporter: Reporter,
    workdir: str | None = None,
) -> RenderDrillResult:
    """Download an export, restore it into scratch, check it, drop scratch, keep evidence."""
    from releaser.db.drill import _drop_scratch as drop_scratch
    from releaser.db.restore import (
        check_login,
        create_role,
        inspect_target,
        release_role,
    )
    from releaser.db.snapshot import sigterm_as_interrupt

    if export_id or latest:
        export = choose_export(client, postgres_id, export_id)
    else:
        export = trigger_export(client, postgres_id, wait_seconds=wait_seconds, reporter=reporter)
    created_at = _aware(export.created_at)
    server = target_server or source
    scratch = server.with_dbname(SCRATCH_PREFIX + secrets.token_hex(4))
    phases: dict[str, PhaseTiming] = {}
    checks: list[Check] = []
    error: str | None = None
    fetched: list[Fetched] = []
    with (
        sigterm_as_interrupt(),
        tempfile.TemporaryDirectory(prefix="releaser-export-", dir=workdir) as tmp,
    ):

        def fetch(url: str) -> None:
            dest = Path(tempfile.mkdtemp(prefix="try-", dir=tmp))  # 0700, fresh per attempt
            fetched.append(fetch_and_unpack(url, dest, reporter))

        try:
            reporter.phase(
                f"Downloading and unpacking export {export.id} "
                f"(created {created_at:%Y-%m-%d %H:%M:%S} UTC)"
            )
            with_download_retry(client, postgres_id, export, fetch, reporter)
            got = fetched[-1]
            phases["download"] = _timing(got.seconds, got.size)
            # Reaching here means gzip's CRC and every tar member checked out to the end.
            archive = check("archive read in full (gzip + tar)", "complete", "complete")
            with connect(source, autocommit=True, what="source database") as conn:
                major = server_major(conn.info.server_version)
            pg_restore = find_tool("pg_restore", major)
            # The export's code (functions in matviews, defaults, triggers) runs as a
            # throwaway unprivileged role that owns the scratch database, never as us.
            can_create_roles = inspect_target(scratch).can_create_roles
            role = create_role(scratch) if can_create_roles else None
            runner = scratch.as_user(role.name, role.password) if role else scratch
            try:
                create_scratch(scratch, source, owner=role.name if role else None)
                if role:
                    check_login(runner)
                reporter.phase(f"Restoring into scratch database {scratch.dbname}")
                run = pg_restore_into(
                    got.dump_dir, runner, pg_restore, jobs, role.name if role else None
                )
                phases["restore"] = _timing(run.seconds, got.size)
                if run.exit_code != 0:
                    raise NegativeVerdict(
                        f"pg_restore failed (exit {run.exit_code}): {run.stderr or 'no message'}",
                        "",
                    )
                reporter.phase("Analyzing")
                started = time.monotonic()
                with connect(runner, autocommit=True, what="scratch database") as conn:
                    conn.execute("ANALYZE")
                phases["analyze"] = _timing(time.monotonic() - started)
                reporter.phase("Checking the restored export against the source")
                started = time.monotonic()
                age = (client.server_now() - created_at).total_seconds()  # Render's clock
                checks = [archive]
                checks += compare_with_source(
                    source, runner, age_seconds=age, drift_per_day=drift_per_day
                )
                checks += check_invariants(runner, invariants)
                phases["verify"] = _timing(time.monotonic() - started)
            finally:
                reporter.phase(f"Dropping scratch database {scratch.dbname}")
                drop_scratch(scratch)
                if role is not None:
                    release_role(scratch, role, reporter)
        except NegativeVerdict as exc:  # unreadable archive, failed restore: the finding
            error = exc.message
    drilled_at = datetime.now(UTC)
    got_one = fetched[-1] if fetched else None
    evidence = RenderDrillEvidence(
        kind="render-export",
        database=database,
        render_id=postgres_id,
        subject=export.id,
        data_at=created_at,
        drilled_at=drilled_at,
        passed=error is None and bool(checks) and all(c.ok for c in checks),
        target=f"{server.masked} as {scratch.dbname} (dropped)",
        phases=phases,
        rto_seconds=round(sum(p.seconds for p in phases.values()), 3),
        rpo_seconds=round((client.server_now() - created_at).total_seconds(), 1),
        checks=checks,
        error=error,
        sha256=got_one.sha256 if got_one else None,
        size_bytes=got_one.size if got_one else None,
    )
    key = write_render_evidence(store, evidence)
    return RenderDrillResult(evidence=evidence, evidence_key=key, store_url=store.url)
