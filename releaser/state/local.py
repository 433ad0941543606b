"""The local state backend: SQLite in ``.releaser/state.db``, locks as flock()ed files.

The lock is an exclusive flock() on ``.releaser/locks/<key>.lock``; the kernel drops it
when the holder exits, however it dies. It only excludes processes on this machine, which
the output says ("lock is local only").
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import sqlite3
import stat
from datetime import datetime
from pathlib import Path
from typing import Any

from releaser.errors import ConfigError, EnvironmentProblem
from releaser.state.models import LedgerEntry, LockHolder
from releaser.state.store import pending_migrations

DEFAULT_STATE_DIR = Path(".releaser")

MIGRATIONS: list[list[str]] = [
    # v1: locks, the ledger, and triggers that make the ledger append-only.
    [
        """CREATE TABLE releaser_locks (
            service text PRIMARY KEY, service_name text, who text NOT NULL,
            host text NOT NULL, ci_url text, since text NOT NULL, what text NOT NULL,
            pid int NOT NULL)""",
        """CREATE TABLE releaser_ledger (
            id integer PRIMARY KEY AUTOINCREMENT, at text NOT NULL, service text NOT NULL,
            service_name text, action text NOT NULL, who text NOT NULL, host text NOT NULL,
            ci_url text, from_ref text, to_ref text, verdict text NOT NULL,
            exit_code int NOT NULL, detail text NOT NULL, report text)""",
        "CREATE INDEX releaser_ledger_service_at ON releaser_ledger (service, at)",
        """CREATE TRIGGER releaser_ledger_no_update BEFORE UPDATE ON releaser_ledger
            BEGIN SELECT RAISE(ABORT, 'releaser_ledger is append-only'); END""",
        """CREATE TRIGGER releaser_ledger_no_delete BEFORE DELETE ON releaser_ledger
            BEGIN SELECT RAISE(ABORT, 'releaser_ledger is append-only'); END""",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)


def private_dir(path: Path) -> Path:
    """Create ``path`` as a 0700 folder (or accept it as one); refuse a symlink."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.lstat()
    except OSError as exc:
        raise ConfigError(
            f"cannot create the state folder {path}: {exc.strerror}", "Check the permissions"
        ) from None
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise ConfigError(
            f"{path} is a symlink or not a folder", "Replace it with a real folder (mode 0700)"
        )
    if stat.S_IMODE(info.st_mode) & 0o077:
        path.chmod(0o700)
    return path


def private_file(path: Path) -> int:
    """Open (creating 0600) ``path`` for reading and writing, never through a symlink."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        why = "it is a symlink" if exc.errno == errno.ELOOP else exc.strerror
        raise ConfigError(
            f"cannot open the state file {path}: {why}", "Remove it or fix its permissions"
        ) from None


class _FileLock:
    def __init__(self, store: SqliteStore, fd: int, service: str) -> None:
        self._store, self._fd, self._service = store, fd, service

    def release(self) -> None:
        if self._fd < 0:
            return
        self._store._execute(
            "DELETE FROM releaser_locks WHERE service = ? AND pid = ?", (self._service, os.getpid())
        )
        os.close(self._fd)  # closing drops the flock
        self._fd = -1


class SqliteStore:
    local_only = True

    def __init__(self, directory: Path = DEFAULT_STATE_DIR) -> None:
        self._dir = private_dir(directory)
        path = self._dir / "state.db"
        os.close(private_file(path))
        self.where = str(path)
        try:
            self._db = sqlite3.connect(path, timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            raise EnvironmentProblem(
                f"cannot open the local state file {path}: {exc}", "Check the disk and the file"
            ) from None
        try:
            self._migrate()
        except BaseException as exc:
            self._db.close()
            if not isinstance(exc, sqlite3.Error):
                raise
            raise EnvironmentProblem(
                f"the local state file {path} failed: {exc}",
                "Check the disk and the file; retry may help",
            ) from None

    def _execute(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> sqlite3.Cursor:
        try:
            return self._db.execute(sql, params)
        except sqlite3.Error as exc:
            raise EnvironmentProblem(
                f"the local state file {self.where} failed: {exc}", "Retry may help"
            ) from None

    def _migrate(self) -> None:
        # BEGIN IMMEDIATE: two processes starting at once migrate one after the other.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute("CREATE TABLE IF NOT EXISTS releaser_schema (version int NOT NULL)")
            row = self._db.execute("SELECT max(version) FROM releaser_schema").fetchone()
            current = row[0] if row and row[0] is not None else 0
            for version, statements in pending_migrations(current, MIGRATIONS, self.where):
                for statement in statements:
                    self._db.execute(statement)
                self._db.execute("INSERT INTO releaser_schema (version) VALUES (?)", (version,))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _lock_path(self, service: str) -> Path:
        digest = hashlib.sha256(service.encode("utf-8")).hexdigest()[:32]
        return private_dir(self._dir / "locks") / f"{digest}.lock"

    def _is_locked(self, service: str) -> bool:
        fd = private_file(self._lock_path(service))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def try_lock(self, holder: LockHolder) -> _FileLock | None:
        fd = private_file(self._lock_path(holder.service))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        self._execute(
            "INSERT OR REPLACE INTO releaser_locks VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                holder.service,
                holder.service_name,
                holder.who,
                holder.host,
                holder.ci_url,
                holder.since.isoformat(),
                holder.what,
                holder.pid,
            ),
        )
        return _FileLock(self, fd, holder.service)

    def holders(self, service: str | None = None) -> list[LockHolder]:
        query = "SELECT * FROM releaser_locks"
        params: tuple[Any, ...] = ()
        if service is not None:
            query += " WHERE service = ? OR service_name = ?"
            params = (service, service)
        cursor = self._execute(query + " ORDER BY service", params)
        names = [c[0] for c in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        return [LockHolder.model_validate(r) for r in rows if self._is_locked(r["service"])]

    def force_release(self, service: str) -> LockHolder | None:
        """Forget the holder: its lock file is unlinked, so the next releaser takes a new one."""
        live = self.holders(service)
        if not live:
            return None
        self._lock_path(live[0].service).unlink(missing_ok=True)
        self._execute("DELETE FROM releaser_locks WHERE service = ?", (live[0].service,))
        return live[0]

    def append(self, entry: LedgerEntry) -> int:
        data = entry.model_dump(mode="json", exclude={"id"})
        data["detail"] = json.dumps(data["detail"])
        columns = list(data)
        cursor = self._execute(
            f"INSERT INTO releaser_ledger ({', '.join(columns)}) "
            f"VALUES ({', '.join(':' + c for c in columns)})",
            data,
        )
        return int(cursor.lastrowid or 0)

    def entries(
        self, service: str | None = None, since: datetime | None = None
    ) -> list[LedgerEntry]:
        query = "SELECT * FROM releaser_ledger WHERE 1"
        params: list[Any] = []
        if service is not None:
            query += " AND (service = ? OR service_name = ?)"
            params += [service, service]
        cursor = self._execute(query + " ORDER BY id", tuple(params))
        names = [c[0] for c in cursor.description]
        entries = []
        for row in cursor.fetchall():
            data = dict(zip(names, row, strict=True))
            data["detail"] = json.loads(data["detail"])
            entry = LedgerEntry.model_validate(data)
            if since is None or entry.at >= since:
                entries.append(entry)
        return entries

    def close(self) -> None:
        self._db.close()
