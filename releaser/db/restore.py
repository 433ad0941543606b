"""``db restore``: put a snapshot into a database that is not the source, then prove it.

Planning reads only (manifest, target server catalog), so ``--dry-run`` is the plan and
zero writes. Running: download to a local file (checked against the manifest before the
target is touched), optionally create the target from template0, ``pg_restore --no-owner
--no-acl --exit-on-error``, ANALYZE, then compare the restored database with the manifest.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
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
from releaser.db.storage import Store
from releaser.db.verify import archive_major
from releaser.errors import NegativeVerdict, NotFoundError, UsageError

if TYPE_CHECKING:
    import psycopg

MAINTENANCE_DBS = ("postgres", "template1")


class RefusedTarget(UsageError):
    """The restore target is the source or a production database (exit 2)."""


@dataclass(frozen=True)
class TargetServer:
    system_identifier: str | None
    server_version_num: int
    database_exists: bool
    user_relations: int  # in the target database, when it exists


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
        steps += [
            f"pg_restore --no-owner --no-acl --exit-on-error into {self.target.masked} ({mode})",
            "ANALYZE",
            f"check {len(m.facts.tables)} relations, {len(m.facts.sequences)} sequences, "
            f"{m.facts.large_objects} large objects and extensions against the manifest",
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


def inspect_target(target: Dsn) -> TargetServer:
    """What the target server says about itself and the target database (reads only)."""
    with maintenance_connect(target) as conn:
        row = conn.execute(
            "SELECT has_function_privilege('pg_control_system()', 'EXECUTE'),"
            " EXISTS (SELECT 1 FROM pg_database WHERE datname = %s)",
            (target.dbname,),
        ).fetchone()
        assert row is not None
        can_sysid, exists = row
        sysid = None
        if can_sysid:
            sysrow = conn.execute(
                "SELECT system_identifier::text FROM pg_control_system()"
            ).fetchone()
            sysid = sysrow[0] if sysrow else None
        version = conn.info.server_version
    relations = 0
    if exists:
        with connect(target, autocommit=True, what="target database") as tconn:
            relations = len(facts_mod.list_relations(tconn))
    return TargetServer(sysid, version, bool(exists), relations)


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
    if server.user_relations:
        raise RefusedTarget(
            f"the target database {target.masked} is not empty "
            f"({server.user_relations} tables or materialized views)",
            "Restore into a new database (--create) so nothing is overwritten or mixed",
        )
    pg_restore = find_tool("pg_restore", archive_major(manifest))
    return RestorePlan(manifest, target, create, max(1, jobs), pg_restore, server)


def create_database(target: Dsn, manifest: Manifest) -> None:
    """CREATE DATABASE … TEMPLATE template0 (clean: nothing from template1), in the
    source's encoding; the source's locale when this server has it."""
    import psycopg
    from psycopg import sql

    name = sql.Identifier(target.dbname)
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
        created = False
        try:
            if plan.create:
                create_database(plan.target, manifest)
                created = True
            reporter.phase(f"Restoring into {plan.target.masked}")
            reporter.event("restore-started")
            run = pg_restore_into(archive, plan.target, plan.pg_restore, plan.jobs)
            phases["restore"] = _timing(run.seconds, transfer.size)
            if run.exit_code != 0:
                raise _restore_failed(plan, run.exit_code, run.stderr, created)
        except BaseException:
            if created and drop_created_on_failure:
                with contextlib.suppress(Exception):
                    drop_database(plan.target)
            raise
    reporter.phase("Analyzing")
    started = time.monotonic()
    with connect(plan.target, autocommit=True, what="target database") as conn:
        conn.execute("ANALYZE")
    phases["analyze"] = _timing(time.monotonic() - started)
    reporter.phase("Checking the restored database against the manifest")
    started = time.monotonic()
    actual = read_facts(plan.target, plan.jobs, manifest.facts.tables)
    checks = compare_facts(manifest.facts, actual)
    phases["verify"] = _timing(time.monotonic() - started)
    return RestoreOutcome(plan=plan, checks=checks, phases=phases)


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
