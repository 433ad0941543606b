"""Turning command-line words into databases and stores, with ``releaser.toml`` defaults.

SOURCE may be a database named in ``releaser.toml`` (its ``source`` and ``store`` are then
the defaults), a DSN, ``env:VAR``, or a Render Postgres id (``dpg-…``) or name, whose
external connection string comes from the connection-info endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from releaser.config import Config, DatabaseConfig
from releaser.db.dsn import Dsn, looks_like_dsn, parse_dsn, resolve_env
from releaser.db.storage import Store, open_store
from releaser.errors import EnvironmentProblem, NotFoundError, ReleaserError, UsageError

if TYPE_CHECKING:
    from releaser.render.client import RenderClient
    from releaser.render.models import Postgres

POSTGRES_NOT_FOUND = (
    "Check the dpg-… id: it is in the database's address on the Render dashboard "
    "(https://dashboard.render.com/d/dpg-…), or name the database by its Render name"
)


@dataclass(frozen=True)
class Source:
    dsn: Dsn
    name: str  # names the snapshots: config name, Render name, else the database name
    render_id: str | None = None
    config: DatabaseConfig | None = None


def resolve_source(text: str, config: Config) -> Source:
    db_config = config.database(text)
    if db_config is not None:
        if not db_config.source:
            raise UsageError(
                f"database {text!r} in {config.path or 'releaser.toml'} has no source",
                f'Add source = "dpg-…" (or a DSN / "env:VAR") under [databases.{text}]',
            )
        inner = _resolve_text(db_config.source)
        return Source(inner.dsn, text, inner.render_id, db_config)
    return _resolve_text(text)


def _resolve_text(text: str) -> Source:
    label = text if text.startswith("env:") else ""
    value = resolve_env(text)
    if looks_like_dsn(value):
        dsn = parse_dsn(value, label=label)
        return Source(dsn, dsn.dbname)
    return _resolve_render(value)


def _resolve_render(name_or_id: str) -> Source:
    # Imported here: DSN sources must work without the Render client or an API key.
    from releaser.render.client import POSTGRES_ID, RenderClient

    with RenderClient.from_env() as client:
        try:
            postgres = client.resolve_postgres(name_or_id)
        except NotFoundError as exc:
            if not POSTGRES_ID.match(name_or_id):
                raise  # a name: the client's advice ("pass the dpg-… id") fits
            # The client's 404 advice names 'releaser services', which lists services, not
            # databases: say where a database's id is found instead.
            raise NotFoundError(exc.message, POSTGRES_NOT_FOUND) from None
        dsn = render_dsn(client, postgres)
    return Source(dsn, postgres.name or postgres.database_name or postgres.id, postgres.id)


def render_dsn(client: RenderClient, postgres: Postgres) -> Dsn:
    """A Render Postgres's external DSN (password included), from connection-info."""
    info = client.postgres_connection_info(postgres.id)
    if not info.external_connection_string:
        raise EnvironmentProblem(
            f"Render returned no external connection string for {postgres.id}",
            "Check the database's status and its access control (IP allow list) on Render",
        )
    label = f"{postgres.name} {postgres.id}" if postgres.name else postgres.id
    dsn = parse_dsn(info.external_connection_string, label=label)
    if info.password and not dsn.password:
        from psycopg.conninfo import make_conninfo

        with_password = make_conninfo(info.external_connection_string, password=info.password)
        dsn = parse_dsn(with_password, label=label)
    return dsn


def resolve_store(
    to: str | None,
    config: Config,
    *,
    database: str | None = None,
    endpoint_url: str | None = None,
) -> Store:
    """``--to``, else the named database's store, else the only store in the config."""
    db_config = config.database(database) if database else None
    url = to or (db_config.store if db_config else None)
    endpoint = endpoint_url or (db_config.endpoint_url if db_config else None)
    if url is None:
        stores = {c.store: c for c in config.databases.values() if c.store}
        if len(stores) == 1:
            url, only = next(iter(stores.items()))
            endpoint = endpoint or only.endpoint_url
    if url is None:
        raise UsageError(
            "no store given",
            "Pass --to s3://bucket/prefix (or file:///path), or set store under "
            "[databases.NAME] in releaser.toml",
        )
    return open_store(url, endpoint)


def resolve_target(text: str, config: Config) -> Dsn:
    """A restore target: DSN, ``env:VAR`` or a config database name (never resolved via
    Render: restoring is done into a DSN you name). Production targets are refused by
    ``restore.refuse_unsafe_target``, against ``production_dsns``."""
    db_config = config.database(text)
    if db_config is not None:
        if not db_config.source:
            raise UsageError(f"database {text!r} has no source to restore into", "Pass a DSN")
        value = resolve_env(db_config.source)
        if not looks_like_dsn(value):
            raise UsageError(
                f"database {text!r} is a Render database; restore targets must be DSNs",
                "Create a new database and pass its DSN to --target",
            )
        return parse_dsn(value, label=text)
    value = resolve_env(text)
    if not looks_like_dsn(value):
        raise UsageError(
            f"--target {text!r} is not a DSN",
            "Use postgresql://user:password@host:5432/new_db (or env:VAR)",
        )
    return parse_dsn(value, label=text if text.startswith("env:") else "")


def production_dsns(config: Config) -> list[Dsn]:
    """Every database marked ``production = true``, located: DSN and env: sources
    directly, Render ids and names through Render's connection info. A production
    database that cannot be located is a refusal (exit 2), never a silent skip: the
    README's own example names production by its Render id."""
    found = []
    for name, db_config in config.databases.items():
        if not db_config.production or not db_config.source:
            continue
        try:
            value = resolve_env(db_config.source)
        except ReleaserError:  # an unset env var cannot be where we restore to
            continue
        if looks_like_dsn(value):
            found.append(parse_dsn(value, label=name))
            continue
        try:
            located = _resolve_render(value)
        except ReleaserError as exc:
            raise UsageError(
                f"database {name!r} is marked production and named by Render id or name, "
                f"and it could not be located ({exc.message}), so releaser cannot tell "
                "whether this command would write to it",
                "Set RENDER_API_KEY (and check Render is reachable), or give its source as "
                "a DSN or env:VAR in releaser.toml",
            ) from None
        dsn = located.dsn
        found.append(
            Dsn(
                conninfo="",
                host=dsn.host,
                port=dsn.port,
                dbname=dsn.dbname,
                user=dsn.user,
                label=f"{name} ({located.render_id})",
            )
        )
    return found


def is_production(dsn: Dsn, production: list[Dsn]) -> bool:
    """Whether ``dsn`` is one of the production databases (same host, port and name)."""
    return any(dsn.same_database(prod) for prod in production)
