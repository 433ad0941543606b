"""Moving a stored archive and reading it with pg_restore.

``full_read`` streams the object from the store through SHA-256 into
``pg_restore -f -`` (no database, no temp file) and counts each table's COPY rows in the
SQL it prints: a whole-archive read plus per-table counts, where ``pg_restore -l`` would
only read the table of contents. ``download`` makes the local seekable copy that
parallel restore needs.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from releaser.db.dsn import Dsn, tool_env
from releaser.db.pgtools import PgBinary, StderrTail
from releaser.db.progress import Reporter
from releaser.db.storage import Store

# COPY <qualified name> [(<columns>)] FROM stdin; the name is parsed part by part (a
# quoted part may hold spaces, dots and parentheses: public."Price (EUR)"), and a
# zero-column table has no column list at all ("COPY public.z  FROM stdin;").
_PART = rb'(?:"(?:[^"]|"")*"|[^".\s(]+)'
_COPY = re.compile(rb"^COPY (" + _PART + rb"(?:\." + _PART + rb")*)\s.*FROM stdin;$")
_IDENT = re.compile(r'"((?:[^"]|"")*)"|([^."]+)')
# pg_dump's comment before each object: what the archive's table of contents holds.
_TOC = re.compile(
    rb"^-- Name: (.*); Type: (TABLE|MATERIALIZED VIEW|SEQUENCE); Schema: (.*); Owner: .*$"
)


@dataclass
class Transfer:
    sha256: str
    size: int
    seconds: float


@dataclass
class ReadResult:
    transfer: Transfer
    exit_code: int
    stderr: str
    copied_rows: dict[str, int] = field(default_factory=dict)
    # "TABLE" / "MATERIALIZED VIEW" / "SEQUENCE" -> qualified names in the archive
    contents: dict[str, set[str]] = field(default_factory=dict)


def parse_qualified(text: str) -> str:
    """A possibly quoted SQL name as manifests spell it (quotes removed, doubled quotes
    undone), e.g. public."My Table" -> public.My Table."""
    parts = [
        quoted.replace('""', '"') if quoted else bare
        for quoted, bare in _IDENT.findall(text)
        if quoted or bare
    ]
    return ".".join(parts)


def full_read(store: Store, key: str, pg_restore: PgBinary, reporter: Reporter) -> ReadResult:
    """Download ``key`` through SHA-256 into pg_restore, which decodes every block."""
    process = subprocess.Popen(
        [pg_restore.path, "--file=-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=tool_env(),
    )
    assert process.stdin is not None and process.stdout is not None
    tail = StderrTail(process.stderr)
    tail.start()
    digest = hashlib.sha256()
    size = 0
    feed_error: list[BaseException] = []
    started = time.monotonic()

    def feed() -> None:
        nonlocal size
        assert process.stdin is not None
        try:
            for chunk in store.open_read(key):
                digest.update(chunk)
                size += len(chunk)
                reporter.transferred(size)
                with contextlib.suppress(BrokenPipeError):
                    process.stdin.write(chunk)
        except BaseException as exc:  # re-raised below, after pg_restore is stopped
            feed_error.append(exc)
            process.kill()
        finally:
            with contextlib.suppress(BrokenPipeError):
                process.stdin.close()

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        copied, contents = read_sql_stream(process.stdout)
        code = process.wait()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        feeder.join()
        tail.join()
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
        reporter.done()
    if feed_error:
        raise feed_error[0]
    transfer = Transfer(digest.hexdigest(), size, time.monotonic() - started)
    return ReadResult(
        transfer=transfer,
        exit_code=code,
        stderr=tail.text(),
        copied_rows=copied,
        contents=contents,
    )


def count_copy_rows(stream: object) -> dict[str, int]:
    """Rows per table in a plain SQL dump (see ``read_sql_stream``)."""
    return read_sql_stream(stream)[0]


def read_sql_stream(stream: object) -> tuple[dict[str, int], dict[str, set[str]]]:
    """Rows per table in a plain SQL dump: one line per row between ``COPY … FROM stdin;``
    and ``\\.`` (pg_dump escapes newlines inside values, so a row is always one line);
    and the tables, matviews and sequences its table of contents names."""
    counts: dict[str, int] = {}
    contents: dict[str, set[str]] = {}
    current: str | None = None
    rows = 0
    for line in stream:  # type: ignore[attr-defined]
        if current is not None:
            if line == b"\\.\n":
                counts[current] = counts.get(current, 0) + rows
                current = None
            else:
                rows += 1
        elif line.startswith(b"COPY "):
            match = _COPY.match(line.rstrip(b"\n"))
            if match:
                current = parse_qualified(match.group(1).decode("utf-8", "replace"))
                rows = 0
        elif line.startswith(b"-- Name: "):
            toc = _TOC.match(line.rstrip(b"\n"))
            if toc:
                name, kind, schema = (g.decode("utf-8", "replace") for g in toc.groups())
                contents.setdefault(kind, set()).add(f"{schema}.{name}")
    return counts, contents


def download(store: Store, key: str, dest: Path, reporter: Reporter) -> Transfer:
    """The object as a local file (parallel restore needs to seek), hashed on the way."""
    digest = hashlib.sha256()
    size = 0
    started = time.monotonic()
    try:
        with open(dest, "wb") as out:
            for chunk in store.open_read(key):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
                reporter.transferred(size)
    finally:
        reporter.done()
    return Transfer(digest.hexdigest(), size, time.monotonic() - started)


@dataclass
class RestoreRun:
    exit_code: int
    stderr: str
    seconds: float


def pg_restore_into(
    archive: Path, target: Dsn, pg_restore: PgBinary, jobs: int, role: str | None = None
) -> RestoreRun:
    """Restore the archive: no owners or grants from the source, stop at the first error.
    One job runs in a single transaction (all or nothing); several jobs cannot. ``role``:
    the throwaway restore role ``target`` logs in as, also named with ``--role`` so every
    session (parallel workers too) says whose rights the dump's code runs with."""
    command = [
        pg_restore.path,
        "--no-owner",
        "--no-acl",
        "--exit-on-error",
        "--no-password",
        f"--dbname={target.without_password()}",
    ]
    if role:
        command.append(f"--role={role}")
    command += [f"--jobs={jobs}"] if jobs > 1 else ["--single-transaction"]
    command.append(str(archive))
    started = time.monotonic()
    # run() kills the child if we are interrupted (Ctrl-C), so the caller's cleanup can
    # drop the database it is restoring into.
    done = subprocess.run(command, capture_output=True, env=target.child_env(), check=False)
    lines = done.stderr.decode("utf-8", "replace").splitlines()[-20:]
    return RestoreRun(
        exit_code=done.returncode,
        stderr=target.redact(" ".join(line.strip() for line in lines if line.strip())),
        seconds=time.monotonic() - started,
    )
