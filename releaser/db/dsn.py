"""Where a database is: parse, mask and compare connection strings, resolve SOURCE arguments.

A DSN carries a password, so nothing outside this module ever prints one: use ``masked``
for display and ``redact`` for free text (pg_dump's stderr, driver errors).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from urllib.parse import quote

from releaser.errors import ConfigError, UsageError
from releaser.output import redact

DEFAULT_PORT = 5432


@dataclass(frozen=True)
class Dsn:
    """A parsed libpq connection string. ``conninfo`` is the full string, secret included."""

    conninfo: str
    host: str
    port: int
    dbname: str
    user: str
    password: str | None = field(default=None, repr=False)
    label: str = ""  # how the user named it (Render id, config name); shown instead of the DSN

    @property
    def masked(self) -> str:
        """The DSN as URL with the password replaced: safe for output, errors and manifests."""
        auth = quote(self.user, safe="") if self.user else ""
        if self.password:
            auth += ":******"
        at = f"{auth}@" if auth else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"postgresql://{at}{host}:{self.port}/{quote(self.dbname, safe='')}"

    @property
    def display(self) -> str:
        return f"{self.label} ({self.masked})" if self.label else self.masked

    def redact(self, text: str) -> str:
        """Remove this DSN's secrets from free text."""
        return redact(text, [self.password or "", self.conninfo])

    def with_dbname(self, dbname: str) -> Dsn:
        from psycopg.conninfo import make_conninfo

        return Dsn(
            conninfo=make_conninfo(self.conninfo, dbname=dbname),
            host=self.host,
            port=self.port,
            dbname=dbname,
            user=self.user,
            password=self.password,
        )

    def as_user(self, user: str, password: str) -> Dsn:
        """The same database, logged in as another role (the restore role)."""
        from psycopg.conninfo import make_conninfo

        return Dsn(
            conninfo=make_conninfo(self.conninfo, user=user, password=password),
            host=self.host,
            port=self.port,
            dbname=self.dbname,
            user=user,
            password=password,
        )

    def without_password(self) -> str:
        """Conninfo for a child process; the password goes through PGPASSWORD (not argv/ps)."""
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        params = conninfo_to_dict(self.conninfo)
        params.pop("password", None)
        return make_conninfo(**{k: str(v) for k, v in params.items() if v is not None})

    def child_env(self) -> dict[str, str]:
        """Environment for pg_dump/pg_restore/psql against this DSN: see ``tool_env``."""
        return tool_env(self.password)

    def same_database(self, other: Dsn) -> bool:
        return (
            _norm_host(self.host) == _norm_host(other.host)
            and self.port == other.port
            and self.dbname == other.dbname
        )


# What a PostgreSQL client tool needs from our environment, and nothing more: never
# RENDER_API_KEY, AWS credentials or the application's own secrets.
_TOOL_ENV = {
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP",
    "SYSTEMROOT", "KRB5CCNAME", "KRB5_CONFIG", "KRB5_KTNAME",
}  # fmt: skip


def tool_env(password: str | None = None) -> dict[str, str]:
    """Environment for pg_dump, pg_restore and psql. Every PG* variable passes unchanged:
    releaser's own libpq connection reads them too (PGSSLMODE, PGSSLROOTCERT, PGPASSFILE,
    PGSERVICEFILE, …), so the dump stream gets the same TLS protection as our own
    connection. The DSN's password goes in PGPASSWORD, never in argv."""
    env = {k: v for k, v in os.environ.items() if k in _TOOL_ENV or k.startswith(("LC_", "PG"))}
    if password:
        env["PGPASSWORD"] = password
    return env


def password_on_command_line(text: str) -> bool:
    """Whether a command-line argument is a DSN that holds a password (visible in ps)."""
    if text.startswith("env:") or not looks_like_dsn(text):
        return False
    try:
        return parse_dsn(text).password is not None
    except UsageError:
        return bool(_password_guess(text))


PASSWORD_WARNING = (
    "Warning: {what} on the command line holds a password, which other users can read "
    "with ps. Use env:VAR (the DSN in an environment variable), PGPASSFILE or a libpq "
    "service file (PGSERVICEFILE) instead."
)


_LOCAL = {"localhost", "127.0.0.1", "::1", ""}


def _norm_host(host: str) -> str:
    # A socket path and the loopback names all reach the same local server.
    if host in _LOCAL or host.startswith("/"):
        return "localhost"
    return host.lower()


def looks_like_dsn(text: str) -> bool:
    # Anything URL-like counts, so a mistyped scheme ("postgresq://") is refused as a bad
    # DSN instead of being sent to the Render API as a database name.
    return "://" in text or "@" in text or bool(re.search(r"\w\s*=\s*\S", text))


def parse_dsn(text: str, label: str = "") -> Dsn:
    """Parse a URL or key=value DSN; a malformed one is bad input (exit 2), shown masked."""
    from psycopg.conninfo import conninfo_to_dict

    scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.\-]*)://", text)
    if (scheme and scheme.group(1).lower() not in ("postgres", "postgresql")) or (
        not scheme and "://" in text
    ):
        raise UsageError(
            "the connection string's scheme is not postgresql:// or postgres://",
            "Use postgresql://user:password@host:5432/dbname (the value is not shown: "
            "it may hold a password)",
        )
    try:
        params = conninfo_to_dict(text)
    except Exception as exc:  # psycopg.ProgrammingError; message may quote the DSN
        guessed = _password_guess(text)
        detail = redact(str(exc), [guessed, text])
        raise UsageError(
            f"not a valid PostgreSQL connection string ({detail.strip()})",
            "Use postgresql://user:password@host:5432/dbname",
        ) from None
    host = str(params.get("host") or params.get("hostaddr") or "localhost").split(",")[0]
    try:
        port = int(str(params.get("port") or DEFAULT_PORT).split(",")[0])
    except ValueError:
        # Never quote the DSN: an unusual password defeats any attempt to cut it out.
        where = f" of {label}" if label and not looks_like_dsn(label) else ""
        raise UsageError(
            f"the port in the connection string{where} is not a number", "Fix the DSN's port"
        ) from None
    user = str(params.get("user") or "")
    dbname = str(params.get("dbname") or user or "postgres")
    password = params.get("password")
    return Dsn(
        conninfo=text,
        host=host,
        port=port,
        dbname=dbname,
        user=user,
        password=str(password) if password is not None else None,
        label=label,
    )


def _password_guess(text: str) -> str:
    match = re.match(r"^postgres(?:ql)?://[^:@/]*:([^@/]*)@", text)
    if match:
        return match.group(1)
    match = re.search(r"password\s*=\s*(\S+)", text)
    return match.group(1) if match else ""


def resolve_env(text: str) -> str:
    """``env:VAR`` -> the variable's value; anything else unchanged."""
    if not text.startswith("env:"):
        return text
    name = text[4:]
    value = os.environ.get(name, "").strip()
    if not name or not value:
        raise ConfigError(
            f"environment variable {name or '(empty name)'} is not set",
            f"Export {name or 'VAR'}=postgresql://… or pass the DSN directly",
        )
    return value
