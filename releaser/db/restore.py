"""``db restore``: put a snapshot into a database that is not the source, then prove it.

Planning reads only (manifest, target server catalog), so ``--dry-run`` is the plan and
zero writes. Running: download to a local file (checked against the manifest before the
target is touched), optionally create the target from template0, ``pg_restore --no-owner
--no-acl --exit-on-error``, ANALYZE, then compare the restored database with the manifest.
"""

from __future__ import annotations

import contextlib
import secrets
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from releaser.db import facts as facts_mod
from releaser.db.archive import download, pg_restore_into
from releaser.db.catalog import load_manifest
from releaser.db.checks import Check, all_ok, compare_facts
from releaser.db.dsn import Dsn
from releaser.db.evidence import PhaseTiming
from releaser.db.manifest import Facts, Manifest, TableFact
from releaser.db.pgtools import PgBinary, connect, find_tool
from releaser.db.progress import Reporter, mb_per_s
from releaser.db.snapshot import sigterm_as_interrupt
from releaser.db.storage import Store
from releaser.db.verify import archive_major
from releaser.errors import (
    EnvironmentProblem,
    NegativeVerdict,
    NotFoundError,
    RefusedTarget,
    UsageError,
)

if TYPE_CHECKING:
    import psycopg

MAINTENANCE_DBS = ("postgres", "template1")


ROLE_PREFIX = "releaser_restore_"
# What no restore of a pg_dump archive brings back; said in every plan and report.
NOT_RESTORED = (
    "roles, grants and object owners (all restored objects belong to the target's owner), "
    "per-role settings (ALTER ROLE … IN DATABASE), other databases' settings, tablespaces"
)


@dataclass(frozen=True)
class TargetServer:
    system_identifier: str | None
    server_version_num: int
    database_exists: bool
    user_relations: int  # in the target database, when it exists
    # What the target database already holds, by kind ("3 functions"); empty = empty.
    user_objects: dict[str, int] = field(default_factory=dict)
    can_create_roles: bool = False  # superuser or CREATEROLE: restore as a throwaway role


@dataclass
class RestoreRole:
    """The throwaway role a restore runs as: NOSUPERUSER NOCREATEDB NOCREATEROLE, owner of
    what it restores, so code inside the dump (functions in matviews, defaults, index
    expressions) never runs with the operator's rights."""

    name: str
    password: str = field(repr=False)


@dataclass
class RestorePlan:
    manifest: Manifest
    target: Dsn
    create: bool
    jobs: int
    pg_restore: PgBinary
    server: TargetServer

    @property
    def steps(self) -> list[str]:
        m = self.manifest
        steps = [
            f"download {m.dump.key} ({m.dump.size_bytes} bytes) and check its sha256",
        ]
        if self.create:
            steps.append(
                f"create database {self.target.dbname} from template0 ({m.facts.encoding})"
            )
        mode = f"{self.jobs} parallel jobs" if self.jobs > 1 else "one transaction"
        if self.server.can_create_roles:
            role = f" --role={ROLE_PREFIX}…"
            who = "logged in as that new role (NOSUPERUSER NOCREATEDB NOCREATEROLE, dropped "
            who += "afterwards)"
        else:
            role, who = "", "as the connecting role (it cannot create roles)"
        steps += [
            f"pg_restore --no-owner --no-acl --exit-on-error{role} into {self.target.masked} "
            f"({mode}), {who}",
            "ANALYZE (as the same role)",
            "apply the database's own settings and comment (ALTER DATABASE … SET, COMMENT)",
            f"check {len(m.facts.tables)} relations, {len(m.facts.sequences)} sequences, "
            f"{m.facts.large_objects} large objects and extensions against the manifest",
            f"not brought back by any restore: {NOT_RESTORED}",
        ]
        return steps


@dataclass
class RestoreOutcome:
    plan: RestorePlan
    checks: list[Check]
    phases: dict[str, PhaseTiming] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all_ok(self.checks)

    @property
    def rto_seconds(self) -> float:
        return round(sum(p.seconds for p in self.phases.values()), 3)


def maintenance_connect(target: Dsn) -> psycopg.Connection:
    last: Exception | None = None
    for name in MAINTENANCE_DBS:
        try:
            return connect(target.with_dbname(name), autocommit=True, what="target server")
        except NotFoundError as exc:
            last = exc
    assert last is not None
    raise last


_USER_NS = """
  n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
"""


def _not_member(catalog: str, column: str) -> str:
    return (
        f"NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '{catalog}'::regclass"
        f" AND d.objid = {column} AND d.deptype = 'e')"
    )


# Empty means no user objects at all: a target with only views, functions, sequences,
# types, schemas or large objects is not empty, and restoring into it would mix the two.
USER_OBJECTS_SQL = f"""
SELECT
 (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c') AND {_USER_NS}
    AND {_not_member("pg_class", "c.oid")}),
 (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  WHERE {_USER_NS} AND {_not_member("pg_proc", "p.oid")}),
 (SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
  WHERE t.typtype IN ('b', 'd', 'e', 'r') AND t.typcategory <> 'A' AND {_USER_NS}
    AND {_not_member("pg_type", "t.oid")}),
 (SELECT count(*) FROM pg_namespace n
  WHERE {_USER_NS} AND n.nspname <> 'public' AND {_not_member("pg_namespace", "n.oid")}),
 (SELECT count(*) FROM pg_largeobject_metadata)
"""
_OBJECT_KINDS = ("relations", "functions", "types", "schemas", "large objects")


def inspect_target(target: Dsn) -> TargetServer:
    """What the target server says about itself and the target database (reads only)."""
    with maintenance_connect(target) as conn:
        row = conn.execute(
            "SELECT has_function_privilege('pg_control_system()', 'EXECUTE'),"
            " EXISTS (SELECT 1 FROM pg_database WHERE datname = %s),"
            " r.rolsuper OR r.rolcreaterole"
            " FROM pg_roles r WHERE r.rolname = current_user",
            (target.dbname,),
        ).fetchone()
        assert row is not None
        can_sysid, exists, can_create_roles = row
        sysid = None
        if can_sysid:
            sysrow = conn.execute(
                "SELECT system_identifier::text FROM pg_control_system()"
            ).fetchone()
            sysid = sysrow[0] if sysrow else None
        version = conn.info.server_version
    relations = 0
    objects: dict[str, int] = {}
    if exists:
        with connect(target, autocommit=True, what="target database") as tconn:
            relations = len(facts_mod.list_relations(tconn))
            counts = tconn.execute(USER_OBJECTS_SQL).fetchone()
            assert counts is not None
            objects = {k: int(v) for k, v in zip(_OBJECT_KINDS, counts, strict=True) if v}
    return TargetServer(
        sysid,
        version,
        bool(exists),
        relations,
        objects,
        bool(can_create_roles),
    )


def refuse_unsafe_target(
    manifest: Manifest, target: Dsn, server: TargetServer | None, production: list[Dsn]
) -> None:
    """Never restore over the source or a production database."""
    source = manifest.source
    same_address = target.same_database(
        Dsn(conninfo="", host=source.host, port=source.port, dbname=source.database, user="")
    )
    same_system = (
        server is not None
        and server.system_identifier is not None
        and server.system_identifier == manifest.facts.system_identifier
        and target.dbname == manifest.facts.database
    )
    if same_address or same_system:
        why = "same host, port and name" if same_address else "same server (system identifier)"
        raise RefusedTarget(
            f"refusing to restore into {target.masked}: it is the snapshot's source database "
            f"({why})",
            "Restore into a new database (--create with another name), check it, then cut over",
        )
    for prod in production:
        if target.same_database(prod):
            raise RefusedTarget(
                f"refusing to restore into {target.display}: it is marked production in "
                "releaser.toml",
                "Restore into a new database, check it, then cut over",
            )


def plan_restore(
    store: Store,
    snapshot_id: str,
    target: Dsn,
    *,
    create: bool = False,
    jobs: int = 1,
    production: list[Dsn] | None = None,
) -> RestorePlan:
    """Everything checked that can be checked without writing anything."""
    manifest = load_manifest(store, snapshot_id)
    refuse_unsafe_target(manifest, target, None, production or [])  # before connecting
    server = inspect_target(target)
    refuse_unsafe_target(manifest, target, server, production or [])
    if create and server.database_exists:
        raise UsageError(
            f"the target database {target.dbname} already exists",
            "Pick a new name for --create, or drop --create to restore into it if it is empty",
        )
    if not create and not server.database_exists:
        raise NotFoundError(
            f"the target database {target.masked} does not exist",
            "Add --create to create it from template0",
        )
    if server.user_objects:
        held = ", ".join(f"{count} {kind}" for kind, count in server.user_objects.items())
        raise RefusedTarget(
            f"the target database {target.masked} is not empty ({held})",
            "Restore into a new database (--create) so nothing is overwritten or mixed",
        )
    pg_restore = find_tool("pg_restore", archive_major(manifest))
    return RestorePlan(manifest, target, create, max(1, jobs), pg_restore, server)


def create_database(target: Dsn, manifest: Manifest, owner: str | None = None) -> None:
    """CREATE DATABASE … TEMPLATE template0 (clean: nothing from template1), in the
    source's encoding; the source's locale when this server has it; owned by ``owner``."""
    import psycopg
    from psycopg import sql

    name = sql.Identifier(target.dbname)
    if owner:
        name = sql.SQL("{} OWNER {}").format(name, sql.Identifier(owner))  # type: ignore[assignment]
    encoding = sql.Literal(manifest.facts.encoding)
    attempts = [
        sql.SQL(
            "CREATE DATABASE {} TEMPLATE template0 ENCODING {} LC_COLLATE {} LC_CTYPE {}"
        ).format(
            name,
            encoding,
            sql.Literal(manifest.facts.collate or "C"),
            sql.Literal(manifest.facts.ctype or "C"),
        ),
        sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING {}").format(name, encoding),
        sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING {} LOCALE 'C'").format(
            name, encoding
        ),
    ]
    with maintenance_connect(target) as conn:
        for index, statement in enumerate(attempts):
            try:
                conn.execute(statement)
                return
            except psycopg.errors.InvalidParameterValue:
                if index == len(attempts) - 1:
                    raise
            except psycopg.errors.DuplicateDatabase:
                raise UsageError(
                    f"the target database {target.dbname} already exists",
                    "Pick a new name for --create",
                ) from None


def drop_database(target: Dsn) -> None:
    """DROP DATABASE, disconnecting anyone still in it (a killed pg_restore's sessions)."""
    from psycopg import sql

    with maintenance_connect(target) as conn:
        name = sql.Identifier(target.dbname)
        if conn.info.server_version >= 130000:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        else:  # pragma: no cover - servers before 13
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (target.dbname,),
            )
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(name))


def run_restore(
    plan: RestorePlan,
    store: Store,
    *,
    reporter: Reporter | None = None,
    workdir: str | None = None,
    drop_created_on_failure: bool = True,
) -> RestoreOutcome:
    reporter = reporter or Reporter()
    manifest = plan.manifest
    phases: dict[str, PhaseTiming] = {}
    with tempfile.TemporaryDirectory(prefix="releaser-restore-", dir=workdir) as tmp:
        archive = Path(tmp) / "dump.pgcustom"
        reporter.phase(f"Downloading {store.url}/{manifest.dump.key}")
        transfer = download(store, manifest.dump.key, archive, reporter)
        phases["download"] = _timing(transfer.seconds, transfer.size)
        if transfer.sha256 != manifest.dump.sha256 or transfer.size != manifest.dump.size_bytes:
            raise NegativeVerdict(
                f"snapshot {manifest.snapshot_id} is corrupt: sha256 {transfer.sha256[:12]}… "
                f"({transfer.size} bytes) does not match the manifest's "
                f"{manifest.dump.sha256[:12]}… ({manifest.dump.size_bytes} bytes)",
                "Nothing was restored; use another snapshot",
            )
        # SIGTERM unwinds like Ctrl-C: a created target is dropped, the role released.
        with sigterm_as_interrupt(), server_errors(plan.target):
            role = create_role(plan.target) if plan.server.can_create_roles else None
            try:
                return _restore_as(
                    plan, archive, transfer.size, role, phases, reporter, drop_created_on_failure
                )
            finally:
                if role is not None:
                    release_role(plan.target, role, reporter)


def _restore_as(
    plan: RestorePlan,
    archive: Path,
    size: int,
    role: RestoreRole | None,
    phases: dict[str, PhaseTiming],
    reporter: Reporter,
    drop_created_on_failure: bool,
) -> RestoreOutcome:
    """Restore, ANALYZE and check, every step connected AS ``role`` (not SET ROLE, which
    the dump's code could RESET): its code runs without the operator's privileges."""
    manifest = plan.manifest
    runner = plan.target.as_user(role.name, role.password) if role else plan.target
    created = False
    try:
        if plan.create:
            create_database(plan.target, manifest, owner=role.name if role else None)
            created = True
        elif role:
            grant_restore_rights(plan.target, role)
        if role:
            preinstall_extensions(plan.target, manifest)
            check_login(runner)
        reporter.phase(f"Restoring into {plan.target.masked}")
        reporter.event("restore-started")
        run = pg_restore_into(
            archive, runner, plan.pg_restore, plan.jobs, role.name if role else None
        )
        phases["restore"] = _timing(run.seconds, size)
        if run.exit_code != 0:
            raise _restore_failed(plan, run.exit_code, run.stderr, created)
    except BaseException:
        if created and drop_created_on_failure:
            with contextlib.suppress(Exception):
                drop_database(plan.target)
        raise
    reporter.phase("Analyzing")
    started = time.monotonic()
    with connect(runner, autocommit=True, what="target database") as conn:
        conn.execute("ANALYZE")
    phases["analyze"] = _timing(time.monotonic() - started)
    apply_database_settings(plan.target, manifest)
    reporter.phase("Checking the restored database against the manifest")
    started = time.monotonic()
    actual = read_facts(runner, plan.jobs, manifest.facts.tables)
    checks = compare_facts(manifest.facts, actual)
    phases["verify"] = _timing(time.monotonic() - started)
    return RestoreOutcome(plan=plan, checks=checks, phases=phases)


@contextlib.contextmanager
def server_errors(target: Dsn) -> Iterator[None]:
    """A statement the target server refuses (privileges, locale, a lost connection) is an
    environment problem (exit 3) in one line, never an "unexpected" error."""
    import psycopg

    try:
        yield
    except psycopg.Error as exc:
        detail = " ".join(target.redact(str(exc)).split())
        raise EnvironmentProblem(
            f"the server of {target.masked} refused the restore: {detail}",
            "Check the connecting role's privileges (superuser or CREATEROLE and CREATEDB)",
        ) from None


def check_login(runner: Dsn) -> None:
    """The restore role can log in, or we stop here (exit 3). A pg_restore that cannot
    connect would otherwise read as "the snapshot does not restore" and a drill would
    record a good snapshot as failed."""
    from releaser.errors import ReleaserError

    try:
        connect(runner, autocommit=True, what="target database as the restore role").close()
    except ReleaserError as exc:
        raise EnvironmentProblem(
            f"the restore role {runner.user} cannot log in to {runner.masked}: {exc.message}",
            "Allow password (md5/scram) logins for releaser_restore_* roles in pg_hba.conf; "
            "nothing was restored",
        ) from None


def create_role(target: Dsn) -> RestoreRole:
    """A fresh LOGIN role with a random password, valid for a day at most (INHERIT: as a
    database owner it needs pg_database_owner's rights on schema public), commented with
    its creation time (so ``db drill --cleanup`` can tell a SIGKILLed drill's leftover)."""
    from datetime import UTC, datetime, timedelta

    from psycopg import sql

    role = RestoreRole(ROLE_PREFIX + secrets.token_hex(4), secrets.token_urlsafe(24))
    now = datetime.now(UTC)
    name = sql.Identifier(role.name)
    with maintenance_connect(target) as conn:
        conn.execute(
            sql.SQL(
                "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                "NOBYPASSRLS PASSWORD {} VALID UNTIL {}"
            ).format(name, sql.Literal(role.password), sql.Literal(str(now + timedelta(days=1))))
        )
        conn.execute(
            sql.SQL("COMMENT ON ROLE {} IS {}").format(
                name, sql.Literal(f"releaser restore role, created {now.isoformat()}")
            )
        )
        superuser = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        found = superuser.fetchone()
        if not (found and found[0]):
            # A CREATEROLE operator must be a member to make the role own a database.
            conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(name))
    return role


def grant_restore_rights(target: Dsn, role: RestoreRole) -> None:
    """An existing (empty) target: the role may create in it and in its public schema."""
    from psycopg import sql

    name = sql.Identifier(role.name)
    with maintenance_connect(target) as conn:
        conn.execute(
            sql.SQL("GRANT CONNECT, CREATE, TEMPORARY ON DATABASE {} TO {}").format(
                sql.Identifier(target.dbname), name
            )
        )
    with connect(target, autocommit=True, what="target database") as conn:
        with contextlib.suppress(Exception):  # no public schema: nothing to grant
            conn.execute(sql.SQL("GRANT USAGE, CREATE ON SCHEMA public TO {}").format(name))


def preinstall_extensions(target: Dsn, manifest: Manifest) -> None:
    """Extensions the restore role may not create (untrusted ones) are created first by
    the operator: their code is the server's, not the dump's. The archive's CREATE
    EXTENSION IF NOT EXISTS then skips them. Best effort: a failure here shows up as the
    restore's own error."""
    import psycopg
    from psycopg import sql

    with connect(target, autocommit=True, what="target database") as conn:
        for name in manifest.facts.extensions:
            if name == "plpgsql":
                continue
            row = conn.execute(
                "SELECT bool_or(trusted) FROM pg_available_extension_versions WHERE name = %s",
                (name,),
            ).fetchone()
            if row and row[0] is False:
                with contextlib.suppress(psycopg.Error):
                    conn.execute(
                        sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(name))
                    )


def release_role(target: Dsn, role: RestoreRole, reporter: Reporter) -> None:
    """Hand what the role owns to the operator and drop the role. Never raises: a role
    left behind is reported, and removed by ``db drill --cleanup``."""
    from psycopg import sql

    name = sql.Identifier(role.name)
    try:
        with maintenance_connect(target) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (target.dbname,)
            ).fetchone()
        if exists:
            with connect(target, autocommit=True, what="target database") as conn:
                conn.execute(sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(name))
                conn.execute(sql.SQL("DROP OWNED BY {}").format(name))
        with maintenance_connect(target) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(name))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(name))
    except Exception as exc:
        reporter.phase(
            f"Could not drop the restore role {role.name}: {target.redact(str(exc)).strip()}; "
            "'releaser db drill --cleanup' removes it"
        )


def apply_database_settings(target: Dsn, manifest: Manifest) -> None:
    """ALTER DATABASE … SET and COMMENT ON DATABASE as the source had them (an archive
    carries them only for a restore that recreates the database). Each value is parsed
    the way the server parses it (set_config, then FROM CURRENT), so list values such as
    search_path keep their items. A setting this server refuses is left out, and the
    "database settings" check shows it."""
    import psycopg
    from psycopg import sql

    facts = manifest.facts
    if facts.database_settings is None:
        return
    db = sql.Identifier(target.dbname)
    with maintenance_connect(target) as conn:
        for item in facts.database_settings:
            key, _, value = item.partition("=")
            try:
                with conn.transaction():
                    conn.execute("SELECT set_config(%s, %s, true)", (key, value))
                    conn.execute(
                        sql.SQL("ALTER DATABASE {} SET {} FROM CURRENT").format(
                            db, sql.Identifier(key)
                        )
                    )
            except psycopg.Error:
                continue
        if facts.database_comment is not None:
            with contextlib.suppress(psycopg.Error):  # not the owner: the check shows it
                conn.execute(
                    sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                        db, sql.Literal(facts.database_comment)
                    )
                )


def read_facts(target: Dsn, jobs: int, like: list[TableFact] | None = None) -> Facts:
    def open_worker() -> psycopg.Connection:
        worker = connect(target, autocommit=True, what="target database")
        facts_mod.prepare(worker)
        return worker

    with connect(target, autocommit=True, what="target database") as conn:
        facts_mod.prepare(conn)
        return facts_mod.collect(conn, jobs=jobs, open_worker=open_worker, like=like)


def _restore_failed(plan: RestorePlan, code: int, stderr: str, created: bool) -> NegativeVerdict:
    if created:
        state = f"the database {plan.target.dbname} it created was dropped"
    elif plan.jobs == 1:
        state = "the single transaction was rolled back; the target is unchanged"
    else:
        state = f"{plan.target.dbname} is partially restored: drop and recreate it"
    return NegativeVerdict(
        f"pg_restore failed (exit {code}): {stderr or 'no message'}",
        f"The snapshot could not be restored; {state}",
    )


def _timing(seconds: float, size: int | None = None) -> PhaseTiming:
    return PhaseTiming(
        seconds=round(seconds, 3),
        bytes=size,
        mb_per_s=mb_per_s(size, seconds) if size is not None else None,
    )
