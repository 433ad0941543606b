"""The shared state backend on PostgreSQL.

The lock is a session advisory lock on its own connection: when the holder dies (even by
SIGKILL) its connection closes and PostgreSQL drops the lock, so it is never stuck. The row
in ``releaser_locks`` only says who holds it; a row whose session no longer holds the
advisory lock is stale and ignored.
"""

from __future__ import annotations

import zlib
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from releaser.errors import ConfigError, EnvironmentProblem
from releaser.state.models import LedgerEntry, LockHolder
from releaser.state.store import pending_migrations

# pg_advisory_lock(int4, int4): the first key says "releaser", the second is the service.
LOCK_NAMESPACE = 0x52454C31  # "REL1"
MIGRATE_NAMESPACE = 0x52454C30  # "REL0": serialises schema migrations

MIGRATIONS: list[list[str]] = [
    # v1: locks, the ledger, and a trigger that makes the ledger append-only.
    [
        """CREATE TABLE releaser_locks (
            service text PRIMARY KEY, service_name text, lock_key bigint NOT NULL,
            backend_pid int NOT NULL, who text NOT NULL, host text NOT NULL, ci_url text,
            since timestamptz NOT NULL, what text NOT NULL, pid int NOT NULL)""",
        """CREATE TABLE releaser_ledger (
            id bigserial PRIMARY KEY, at timestamptz NOT NULL, service text NOT NULL,
            service_name text, action text NOT NULL, who text NOT NULL, host text NOT NULL,
            ci_url text, from_ref text, to_ref text, verdict text NOT NULL,
            exit_code int NOT NULL, detail jsonb NOT NULL, report text)""",
        "CREATE INDEX releaser_ledger_service_at ON releaser_ledger (service, at)",
        """CREATE FUNCTION releaser_ledger_append_only() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'releaser_ledger is append-only'; END $$""",
        """CREATE TRIGGER releaser_ledger_no_update BEFORE UPDATE OR DELETE ON releaser_ledger
            FOR EACH ROW EXECUTE FUNCTION releaser_ledger_append_only()""",
        """CREATE TRIGGER releaser_ledger_no_truncate BEFORE TRUNCATE ON releaser_ledger
            FOR EACH STATEMENT EXECUTE FUNCTION releaser_ledger_append_only()""",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)


def lock_key(service: str) -> int:
    """The advisory lock's second key: CRC-32 of the service id, as PostgreSQL's int4."""
    unsigned = zlib.crc32(service.encode("utf-8"))
    return unsigned - (1 << 32) if unsigned >= 1 << 31 else unsigned


def _where(dsn: str) -> str:
    """host:port/dbname for messages (never the password)."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "the state database (RELEASER_STATE_DSN is not a valid DSN)"
    host, port, name = info.get("host", "localhost"), info.get("port", "5432"), info.get("dbname")
    return f"PostgreSQL {host}:{port}/{name or ''}"


def _problem(where: str, exc: Exception) -> EnvironmentProblem:
    # psycopg's text names the host and the failing step; a password is never in it.
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return EnvironmentProblem(
        f"the state backend ({where}) failed: {reason}",
        "Check RELEASER_STATE_DSN / [state] dsn and that the database is up; retry may help",
    )


class _PgLock:
    def __init__(self, conn: psycopg.Connection[Any], service: str, key: int) -> None:
        self._conn, self._service, self._key = conn, service, key

    def release(self) -> None:
        if self._conn.closed:
            return
        try:
            self._conn.execute(
                "DELETE FROM releaser_locks WHERE service = %s AND backend_pid = pg_backend_pid()",
                (self._service,),
            )
            self._conn.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_NAMESPACE, self._key))
        except psycopg.Error:
            pass  # the session is gone (forced release, network): so is the lock
        finally:
            self._conn.close()


class PostgresStore:
    local_only = False

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self.where = _where(dsn)
        self._conn = self._connect()
        try:
            self._migrate()
        except BaseException:
            self._conn.close()
            raise

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(
                self._dsn, autocommit=True, connect_timeout=10, application_name="releaser"
            )
        except psycopg.ProgrammingError as exc:
            raise ConfigError(
                f"RELEASER_STATE_DSN / [state] dsn is not a valid DSN ({exc})",
                "Use postgresql://user@host:5432/dbname",
            ) from None
        except psycopg.Error as exc:
            raise _problem(self.where, exc) from None

    def _migrate(self) -> None:
        try:
            with self._conn.transaction():
                self._conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (MIGRATE_NAMESPACE,))
                self._conn.execute(
                    "CREATE TABLE IF NOT EXISTS releaser_schema (version int NOT NULL)"
                )
                row = self._conn.execute("SELECT max(version) FROM releaser_schema").fetchone()
                current = row[0] if row and row[0] is not None else 0
                where = f"the state database ({self.where})"
                for version, statements in pending_migrations(current, MIGRATIONS, where):
                    for statement in statements:
                        self._conn.execute(statement)
                    self._conn.execute(
                        "INSERT INTO releaser_schema (version) VALUES (%s)", (version,)
                    )
        except psycopg.Error as exc:
            raise _problem(self.where, exc) from None

    def try_lock(self, holder: LockHolder) -> _PgLock | None:
        key = lock_key(holder.service)
        conn = self._connect()  # its own session: the lock lives and dies with it
        try:
            row = conn.execute(
                "SELECT pg_try_advisory_lock(%s, %s)", (LOCK_NAMESPACE, key)
            ).fetchone()
            if not (row and row[0]):
                conn.close()
                return None
            conn.execute(
                """INSERT INTO releaser_locks
                   (service, service_name, lock_key, backend_pid, who, host, ci_url, since,
                    what, pid)
                   VALUES (%s, %s, %s, pg_backend_pid(), %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (service) DO UPDATE SET
                   service_name = EXCLUDED.service_name, lock_key = EXCLUDED.lock_key,
                   backend_pid = EXCLUDED.backend_pid, who = EXCLUDED.who,
                   host = EXCLUDED.host, ci_url = EXCLUDED.ci_url, since = EXCLUDED.since,
                   what = EXCLUDED.what, pid = EXCLUDED.pid""",
                (
                    holder.service,
                    holder.service_name,
                    key,
                    holder.who,
                    holder.host,
                    holder.ci_url,
                    holder.since,
                    holder.what,
                    holder.pid,
                ),
            )
        except psycopg.Error as exc:
            conn.close()
            raise _problem(self.where, exc) from None
        return _PgLock(conn, holder.service, key)

    def _live_rows(self, service: str | None) -> list[dict[str, Any]]:
        # Live: the row's session still holds the advisory lock in this database.
        query = """SELECT l.* FROM releaser_locks l WHERE EXISTS (
                SELECT 1 FROM pg_locks p
                WHERE p.locktype = 'advisory' AND p.granted AND p.pid = l.backend_pid
                  AND p.classid::bigint = %s AND p.objid::bigint = (l.lock_key & 4294967295)
                  AND p.objsubid = 2
                  AND p.database = (SELECT oid FROM pg_database
                                    WHERE datname = current_database()))"""
        params: list[Any] = [LOCK_NAMESPACE]
        if service is not None:
            query += " AND (l.service = %s OR l.service_name = %s)"
            params += [service, service]
        query += " ORDER BY l.service"
        try:
            with self._conn.cursor(row_factory=dict_row) as cur:
                return list(cur.execute(query, params).fetchall())
        except psycopg.Error as exc:
            raise _problem(self.where, exc) from None

    def holders(self, service: str | None = None) -> list[LockHolder]:
        return [LockHolder.model_validate(row) for row in self._live_rows(service)]

    def force_release(self, service: str) -> LockHolder | None:
        """End the holder's session (PostgreSQL then drops its lock) and clear its row."""
        rows = self._live_rows(service)
        if not rows:
            return None
        row = rows[0]
        try:
            done = self._conn.execute(
                "SELECT pg_terminate_backend(%s, 5000)", (row["backend_pid"],)
            ).fetchone()
            if not (done and done[0]):
                raise EnvironmentProblem(
                    f"PostgreSQL did not end the lock holder's session (pid {row['backend_pid']})",
                    "Retry, or ask a database admin to run pg_terminate_backend on it",
                )
            self._conn.execute(
                "DELETE FROM releaser_locks WHERE service = %s AND backend_pid = %s",
                (row["service"], row["backend_pid"]),
            )
        except psycopg.errors.InsufficientPrivilege:
            raise EnvironmentProblem(
                "this database role may not end the lock holder's session",
                "Use the role the holder used, or one with pg_signal_backend; nothing changed",
            ) from None
        except psycopg.Error as exc:
            raise _problem(self.where, exc) from None
        return LockHolder.model_validate(row)

    def append(self, entry: LedgerEntry) -> int:
        data = entry.model_dump(exclude={"id"})
        data["detail"] = Jsonb(data["detail"])
        columns = list(data)
        query = (
            f"INSERT INTO releaser_ledger ({', '.join(columns)}) "
            f"VALUES ({', '.join('%(' + c + ')s' for c in columns)}) RETURNING id"
        )
        try:
            row = self._conn.execute(query, data).fetchone()
        except psycopg.Error as exc:
            raise _problem(self.where, exc) from None
        assert row is not None
        return int(row[0])

    def entries(
        self, service: str | None = None, since: datetime | None = None
    ) -> list[LedgerEntry]:
        query = "SELECT * FROM releaser_ledger WHERE true"
        params: list[Any] = []
        if service is not None:
            query += " AND (service = %s OR service_name = %s)"
            params += [service, service]
        if since is not None:
            query += " AND at >= %s"
            params.append(since)
        query += " ORDER BY at, id"
        try:
            with self._conn.cursor(row_factory=dict_row) as cur:
                rows = cur.execute(query, params).fetchall()
        except psycopg.Error as exc:
            raise _problem(self.where, exc) from None
        return [LedgerEntry.model_validate(row) for row in rows]

    def close(self) -> None:
        self._conn.close()
