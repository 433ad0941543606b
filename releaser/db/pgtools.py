"""Which pg_dump/pg_restore to run, and connecting with errors mapped to exit codes.

pg_dump must be the same or a newer major version than the server: an older one refuses
(or, in some wrappers, uploads a 20-byte "backup"). We look on PATH and in the usual
versioned install directories, pick the best match, and otherwise fail before anything is
uploaded, naming both versions and the fix.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from releaser.db.dsn import Dsn, tool_env
from releaser.errors import EnvironmentProblem, NotFoundError, UsageError

if TYPE_CHECKING:
    import psycopg

# Overrides the search (a directory holding pg_dump and pg_restore), for unusual installs.
BINDIR_ENV = "RELEASER_PG_BINDIR"

_SEARCH_GLOBS = (
    "/usr/lib/postgresql/*/bin",  # Debian, Ubuntu
    "/usr/pgsql-*/bin",  # RHEL, PGDG rpms
    "/opt/homebrew/opt/postgresql@*/bin",  # macOS Homebrew (arm)
    "/usr/local/opt/postgresql@*/bin",  # macOS Homebrew (intel)
    "/Applications/Postgres.app/Contents/Versions/*/bin",
)


@dataclass(frozen=True)
class PgBinary:
    path: str
    major: int
    version: str  # as printed, e.g. "15.20"


def server_major(server_version_num: int) -> int:
    """150020 -> 15; 90624 -> 9 (pre-10 majors are x.y, but pg_dump compares on this)."""
    return server_version_num // 10000


def parse_version_output(text: str) -> tuple[int, str] | None:
    """``pg_dump (PostgreSQL) 15.20 (Debian …)`` -> (15, "15.20")."""
    match = re.search(r"\)\s*((\d+)(?:\.\d+)*)", text) or re.search(r"((\d+)(?:\.\d+)*)", text)
    if not match:
        return None
    return int(match.group(2)), match.group(1)


def probe(path: str) -> PgBinary | None:
    try:
        out = subprocess.run(
            [path, "--version"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
            env=tool_env(),
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    parsed = parse_version_output(out.stdout)
    if out.returncode != 0 or parsed is None:
        return None
    return PgBinary(path=path, major=parsed[0], version=parsed[1])


def candidates(tool: str) -> list[PgBinary]:
    """Every runnable ``tool`` we can find, without duplicates."""
    override = os.environ.get(BINDIR_ENV, "").strip()
    if override:
        paths: Iterable[str] = [os.path.join(override, tool)]
    else:
        found = [shutil.which(tool) or ""]
        for pattern in _SEARCH_GLOBS:
            found.extend(os.path.join(d, tool) for d in sorted(glob.glob(pattern)))
        paths = found
    seen: set[str] = set()
    result: list[PgBinary] = []
    for path in paths:
        if not path or not os.access(path, os.X_OK):
            continue
        real = str(Path(path).resolve())
        if real in seen:
            continue
        seen.add(real)
        binary = probe(path)
        if binary:
            result.append(binary)
    return result


def choose(tool: str, wanted_major: int, found: list[PgBinary]) -> PgBinary:
    """The binary for a server of ``wanted_major``: the same major if present, else the
    oldest newer one (closest behaviour); never an older one."""
    usable = sorted((b for b in found if b.major >= wanted_major), key=lambda b: b.major)
    if usable:
        return usable[0]
    have = ", ".join(f"{b.version} ({b.path})" for b in found) or "none found"
    raise EnvironmentProblem(
        f"{tool} {wanted_major} or newer is needed for a PostgreSQL {wanted_major} server, "
        f"but the {tool} available is {have}",
        f"Install the PostgreSQL {wanted_major} client tools (for example "
        f"apt-get install postgresql-client-{wanted_major}) or set {BINDIR_ENV} to their bin "
        "directory; nothing was uploaded",
    )


def find_tool(tool: str, wanted_major: int) -> PgBinary:
    return choose(tool, wanted_major, candidates(tool))


class StderrTail(threading.Thread):
    """Drains a child's stderr (so pg_dump/pg_restore never block on it) and keeps its last
    lines for the error message."""

    def __init__(self, pipe: IO[bytes] | None) -> None:
        super().__init__(daemon=True)
        self.pipe = pipe
        self.lines: list[str] = []

    def run(self) -> None:
        if self.pipe is None:
            return
        for raw in self.pipe:
            self.lines.append(raw.decode("utf-8", "replace").rstrip())
            del self.lines[:-20]

    def text(self) -> str:
        return " ".join(line for line in self.lines if line)


def connect(dsn: Dsn, *, autocommit: bool = False, what: str = "database") -> psycopg.Connection:
    """Open a connection; unreachable/refused is exit 3, a missing database exit 2."""
    import psycopg

    try:
        conn = psycopg.connect(dsn.conninfo, autocommit=autocommit, connect_timeout=10)
        if conn.info.parameter_status("client_encoding") == "SQL_ASCII":
            # psycopg returns bytes for every text value in SQL_ASCII (the snapshot id
            # reached pg_dump as "b'…'"); names are read as UTF-8 instead.
            conn.close()
            conn = psycopg.connect(
                dsn.conninfo, autocommit=autocommit, connect_timeout=10, client_encoding="UTF8"
            )
        return conn
    except psycopg.ProgrammingError as exc:
        raise UsageError(
            f"cannot use the {what} DSN {dsn.masked}: {dsn.redact(str(exc)).strip()}",
            "Fix the connection string",
        ) from None
    except psycopg.OperationalError as exc:
        detail = " ".join(dsn.redact(str(exc)).split())
        if re.search(r'database "[^"]*" does not exist', detail):
            raise NotFoundError(
                f"the {what} {dsn.masked} does not exist ({detail})",
                "Check the database name, or create it first",
            ) from None
        raise EnvironmentProblem(
            f"cannot connect to the {what} {dsn.display}: {detail}",
            "Check that the server is up and reachable, and the credentials",
        ) from None


def session_setup_sql() -> list[str]:
    """Settings that make row text deterministic, so fingerprints compare across servers."""
    return [
        "SET TimeZone = 'UTC'",
        "SET DateStyle = 'ISO, YMD'",
        "SET IntervalStyle = 'postgres'",
        "SET extra_float_digits = 1",
        "SET bytea_output = 'hex'",
        "SET search_path = pg_catalog",
        "SET statement_timeout = 0",
        # As pg_dump does: a hardened database's timeouts must not kill the facts session
        # while it waits, in its transaction, for the dump to finish.
        "SET lock_timeout = 0",
        "SET idle_in_transaction_session_timeout = 0",
    ]
