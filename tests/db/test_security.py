"""Security of the database commands (issue 11): drills cannot escalate, production is
honoured by Render id, one confirmation policy, passwords in argv are warned about, client
tools get only the environment they need, and killed drills' leftovers are cleaned up."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from dbsupport import (
    admin,
    create_database,
    create_shapes_database,
    database_exists,
    drop,
    dsn_for,
    fake_pg_bin,
    unique_name,
    url_for,
)
from psycopg import sql

from releaser.db.dsn import parse_dsn
from releaser.db.snapshot import take_snapshot
from releaser.db.storage import open_store

ATTACK_SQL = """
CREATE FUNCTION public.escalate() RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    EXECUTE 'ALTER ROLE {role} CREATEDB CREATEROLE';
  EXCEPTION WHEN OTHERS THEN NULL;
  END;
  BEGIN
    EXECUTE 'ALTER ROLE {role} SUPERUSER';
  EXCEPTION WHEN OTHERS THEN NULL;
  END;
  BEGIN
    EXECUTE 'RESET ROLE';
    EXECUTE 'ALTER ROLE {role} SUPERUSER';
  EXCEPTION WHEN OTHERS THEN NULL;
  END;
  RETURN 1;
END $$;
CREATE TABLE public.base AS SELECT g FROM generate_series(1, 10) g;
CREATE MATERIALIZED VIEW public.trap AS SELECT g, public.escalate() AS x FROM public.base;
"""


def _privileges(role: str) -> tuple[bool, bool, bool]:
    with admin() as conn:
        row = conn.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = %s",
            (role,),
        ).fetchone()
        assert row is not None
        return bool(row[0]), bool(row[1]), bool(row[2])


@pytest.fixture
def attacker_db(pg_admin: str) -> Any:
    """A database where a NON-superuser role planted a function in a matview that tries
    to give its owner CREATEDB, CREATEROLE and SUPERUSER."""
    role = unique_name("releaser_attacker")
    name = unique_name("releaser_attack")
    with admin() as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    create_database(name)
    with admin() as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                sql.Identifier(name), sql.Identifier(role)
            )
        )
    with psycopg.connect(dsn_for(name), autocommit=True) as conn:
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
        conn.execute(ATTACK_SQL.replace("{role}", role))
    assert _privileges(role) == (False, False, False)
    yield name, role
    drop(name)
    with admin() as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def _public_tables(dbname: str) -> int:
    with psycopg.connect(dsn_for(dbname)) as conn:
        row = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        found = row.fetchone()
        assert found is not None
        return int(found[0])


def _restore_roles() -> list[str]:
    # Compared as "none left that was not there before" (<=), never "exactly as before":
    # a restore also drops the leftover role of a killed drill, which another test (or
    # another run on the same server) may have made.
    with admin() as conn:
        rows = conn.execute(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE 'releaser\\_restore\\_%'"
        ).fetchall()
        return [r[0] for r in rows]


def test_drill_runs_the_dumps_code_without_privileges(
    run_cli: Any, attacker_db: tuple[str, str], file_store: str
) -> None:
    """After a drill (which REFRESHes the matview and ANALYZEs) the planting role still
    has no CREATEDB, CREATEROLE or SUPERUSER; the throwaway restore role is gone."""
    name, role = attacker_db
    before = set(_restore_roles())
    result = run_cli("db", "drill", dsn_for(name), "--to", file_store, "-o", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert _privileges(role) == (False, False, False)
    assert set(_restore_roles()) <= before


def test_restore_runs_as_a_throwaway_role_and_hands_over(
    run_cli: Any, attacker_db: tuple[str, str], file_store: str, db_names: Any
) -> None:
    """db restore too: no escalation, and afterwards the target's objects belong to the
    operator and the restore role is dropped."""
    name, role = attacker_db
    before = set(_restore_roles())
    snapshot = take_snapshot(parse_dsn(dsn_for(name)), open_store(file_store)).manifest
    target = db_names("releaser_rst")
    result = run_cli(
        "db", "restore", snapshot.snapshot_id, "--to", file_store, "--target",
        dsn_for(target), "--create", "--yes",
    )  # fmt: skip
    assert result.exit_code == 0, result.stdout + result.stderr
    assert _privileges(role) == (False, False, False)
    assert set(_restore_roles()) <= before
    with psycopg.connect(dsn_for(target)) as conn:
        owners = conn.execute(
            "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class WHERE relname IN "
            "('base', 'trap')"
        ).fetchall()
        assert owners == [("postgres",)]


def test_production_source_drills_only_with_explicit_target_server(
    run_cli: Any, source_db: str, file_store: str, tmp_path: Path
) -> None:
    """A source marked production is not restored onto its own server unless
    --target-server says so (then it is)."""
    (tmp_path / "releaser.toml").write_text(
        f'[databases.main]\nsource = "{dsn_for(source_db)}"\nstore = "{file_store}"\n'
        "production = true\n"
    )
    refused = run_cli("db", "drill", "main")
    assert refused.exit_code == 2
    assert "--target-server" in refused.stderr
    assert list(Path(file_store.removeprefix("file://")).glob("*")) == []
    by_dsn = run_cli("db", "drill", dsn_for(source_db), "--to", file_store)
    assert by_dsn.exit_code == 2, by_dsn.stderr
    explicit = run_cli("db", "drill", "main", "--target-server", dsn_for("postgres"))
    assert explicit.exit_code == 0, explicit.stderr


@pytest.fixture
def render_prod(sim_factory: Any, monkeypatch: pytest.MonkeyPatch, pg_admin: str) -> Any:
    """The demo scenario's Postgres mapped onto a real database, named by Render id in
    releaser.toml and marked production."""
    server = sim_factory("demo")
    monkeypatch.setenv("RENDER_API_URL", server.url)
    monkeypatch.setenv("RENDER_API_KEY", server.api_key)
    prod = unique_name("releaser_prod")
    create_database(prod, "CREATE TABLE t (x int)")
    instance = next(iter(server.state.postgres.values()))
    with server.state.lock:
        server.state.map_postgres(instance.id, dsn_for(prod))
    yield prod, str(instance.id)
    drop(prod)


def test_production_named_by_render_id_is_refused(
    run_cli: Any,
    render_prod: tuple[str, str],
    source_db: str,
    file_store: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """production = true on a database named by dpg- id: a restore into its DSN is
    refused; without a way to resolve it (no API key) it is refused too."""
    prod, render_id = render_prod
    (tmp_path / "releaser.toml").write_text(
        f'[databases.main-db]\nsource = "{render_id}"\nproduction = true\n'
    )
    snap = take_snapshot(parse_dsn(dsn_for(source_db)), open_store(file_store)).manifest
    args = ("db", "restore", snap.snapshot_id, "--to", file_store, "--target", dsn_for(prod))
    refused = run_cli(*args, "--yes")
    assert refused.exit_code == 2, refused.stderr
    assert "marked production" in refused.stderr
    monkeypatch.delenv("RENDER_API_KEY")
    unknown = run_cli(*args, "--yes")
    assert unknown.exit_code == 2, unknown.stderr
    assert "could not be located" in unknown.stderr
    assert _public_tables(prod) == 1


def test_writes_need_a_terminal_or_yes(
    run_cli: Any, source_db: str, file_store: str, db_names: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No terminal and no --yes: restore and prune exit 2 and change nothing; on a
    terminal, answering no is exit 1 "nothing was changed"."""
    store = open_store(file_store)
    first = take_snapshot(parse_dsn(dsn_for(source_db)), store).manifest.snapshot_id
    take_snapshot(parse_dsn(dsn_for(source_db)), store)
    target = db_names("releaser_cf")
    restore = ("db", "restore", first, "--to", file_store, "--target", dsn_for(target), "--create")
    prune = ("db", "prune", "--to", file_store, "--keep", "1")
    for args in (restore, prune):
        result = run_cli(*args)
        assert result.exit_code == 2, result.stderr
        assert "no terminal" in result.stderr
    assert not database_exists(target) and len(store.list()) == 4

    monkeypatch.setattr("releaser.cli.console.stdin_is_tty", lambda: True)
    for args in (restore, prune):
        result = run_cli(*args, input="n\n")
        assert result.exit_code == 1, result.stderr
        assert "Nothing was changed" in result.stderr
    assert not database_exists(target) and len(store.list()) == 4


def test_password_in_argv_is_warned_about(
    run_cli: Any, source_db: str, file_store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A DSN with a password on the command line warns and points to env:VAR, PGPASSFILE
    and service files; env:VAR and password-less DSNs do not warn."""
    warned = run_cli("db", "snapshot", url_for(source_db), "--to", file_store)
    assert warned.exit_code == 0, warned.stderr
    assert "holds a password" in warned.stderr and "PGPASSFILE" in warned.stderr
    assert "env:VAR" in warned.stderr and "s3cr3t" not in warned.stderr
    monkeypatch.setenv("SRC_DSN", url_for(source_db))
    quiet = run_cli("db", "snapshot", "env:SRC_DSN", "--to", file_store)
    assert quiet.exit_code == 0 and "holds a password" not in quiet.stderr
    plain = run_cli("db", "snapshot", dsn_for(source_db), "--to", file_store)
    assert plain.exit_code == 0 and "holds a password" not in plain.stderr


def test_sim_serve_postgres_password_warning(run_cli: Any) -> None:
    """sim serve --postgres NAME=DSN-with-password warns (before anything else fails) and
    never echoes the password; a DSN without one does not warn."""
    warned = run_cli(
        "sim", "serve", "--port", "0", "--postgres", "nosuch=postgresql://u:hunter2@h/db"
    )
    assert warned.exit_code == 2  # no such instance in the scenario: nothing was started
    assert "holds a password" in warned.stderr and "PGPASSFILE" in warned.stderr
    assert "hunter2" not in warned.stderr
    plain = run_cli("sim", "serve", "--port", "0", "--postgres", "nosuch=postgresql://u@h/db")
    assert plain.exit_code == 2 and "holds a password" not in plain.stderr


def test_client_tools_get_only_what_they_need(
    source_db: str, file_store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pg_dump and pg_restore see the PG* TLS settings releaser's own connection uses, and
    never RENDER_API_KEY, AWS credentials or other application secrets."""
    envdir = tmp_path / "env"
    envdir.mkdir()
    script = f'env > {envdir}/$(basename "$0").$$\nexec "$REAL" "$@"'
    bindir = fake_pg_bin(tmp_path / "bin", script)
    (bindir / "pg_restore").unlink()
    restore_script = bindir / "pg_restore"
    restore_script.write_text(
        "#!/bin/sh\n" + script.replace('"$REAL"', shutil.which("pg_restore") or "pg_restore") + "\n"
    )
    restore_script.chmod(0o755)
    monkeypatch.setenv("RELEASER_PG_BINDIR", str(bindir))
    monkeypatch.setenv("PGSSLMODE", "prefer")
    monkeypatch.setenv("PGCONNECT_TIMEOUT", "17")
    monkeypatch.setenv("RENDER_API_KEY", "rnd_not_for_pg_dump")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-not-for-pg-dump")
    monkeypatch.setenv("STRIPE_SECRET", "sk_live_not_for_pg_dump")
    from releaser.db.drill import run_drill

    result = run_drill(open_store(file_store), source=parse_dsn(url_for(source_db)))
    assert result.evidence.passed
    seen = {p.name.split(".")[0]: p.read_text() for p in envdir.iterdir()}
    assert {"pg_dump", "pg_restore"} <= set(seen)
    for tool, text in seen.items():
        assert "PGSSLMODE=prefer" in text and "PGCONNECT_TIMEOUT=17" in text, tool
        for secret in ("rnd_not_for_pg_dump", "aws-not-for-pg-dump", "sk_live_not_for_pg_dump"):
            assert secret not in text, (tool, secret)


def test_leftovers_of_killed_drills_are_dropped(
    run_cli: Any, source_db: str, file_store: str, pg_admin: str
) -> None:
    """Scratch databases and restore roles older than a few hours are dropped by the next
    drill (and by --cleanup), which says so; a young one (a drill still running) stays."""
    old = datetime.now(UTC) - timedelta(hours=5)
    old_db = f"releaser_drill_{old:%Y%m%dT%H%M%S}_0badc0de"
    young_db = f"releaser_drill_{datetime.now(UTC):%Y%m%dT%H%M%S}_0000beef"
    old_role = unique_name("releaser_restore")
    with admin() as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(old_role)))
        conn.execute(
            sql.SQL("COMMENT ON ROLE {} IS {}").format(
                sql.Identifier(old_role),
                sql.Literal(f"releaser restore role, created {old.isoformat()}"),
            )
        )
    for name in (old_db, young_db):
        create_database(name)
    try:
        result = run_cli("db", "drill", dsn_for(source_db), "--to", file_store, "-o", "json")
        assert result.exit_code == 0, result.stderr
        cleaned = json.loads(result.stdout)["cleaned_up"]
        assert any(old_db in line for line in cleaned) and any(old_role in line for line in cleaned)
        assert "leftover" in result.stderr
        assert not database_exists(old_db) and database_exists(young_db)
        create_database(old_db)
        again = run_cli("db", "drill", dsn_for(source_db), "--cleanup")
        assert again.exit_code == 0, again.stderr
        assert old_db in again.stdout and not database_exists(old_db)
        assert database_exists(young_db)
    finally:
        for name in (old_db, young_db):
            drop(name)
        with admin() as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(old_role)))


NON_EMPTY = {
    "view": "CREATE VIEW v AS SELECT 1 AS one",
    "function": "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "sequence": "CREATE SEQUENCE s",
    "type": "CREATE TYPE mood AS ENUM ('ok')",
    "large object": "SELECT lo_from_bytea(0, 'x')",
    "schema": "CREATE SCHEMA stuff",
}


@pytest.mark.parametrize("kind", sorted(NON_EMPTY))
def test_target_with_any_user_object_is_not_empty(
    run_cli: Any, kind: str, source_db: str, file_store: str, db_names: Any
) -> None:
    """A target holding only a view, function, sequence, type, schema or large object is
    not empty: the restore is refused (exit 2) and the target is unchanged."""
    snap = take_snapshot(parse_dsn(dsn_for(source_db)), open_store(file_store)).manifest
    target = db_names("releaser_ne")
    create_database(target, NON_EMPTY[kind])
    result = run_cli(
        "db", "restore", snap.snapshot_id, "--to", file_store, "--target", dsn_for(target), "--yes"
    )
    assert result.exit_code == 2, result.stderr
    assert "is not empty" in result.stderr
    assert _public_tables(target) == 0


def test_restore_brings_back_database_settings_and_says_what_it_cannot(
    run_cli: Any, file_store: str, db_names: Any, pg_admin: str
) -> None:
    """ALTER DATABASE … SET and the database comment come back with db restore, and the
    plan says what no restore brings back (roles, grants, other databases' settings)."""
    source = unique_name("releaser_settings")
    create_shapes_database(source, "UTF8")
    try:
        snap = take_snapshot(parse_dsn(dsn_for(source)), open_store(file_store)).manifest
    finally:
        drop(source)
    target = db_names("releaser_set")
    args = ("db", "restore", snap.snapshot_id, "--to", file_store, "--target", dsn_for(target))
    plan = run_cli(*args, "--create", "--dry-run")
    assert "not brought back" in plan.stdout and "roles, grants" in plan.stdout
    result = run_cli(*args, "--create", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    with admin() as conn:
        row = conn.execute(
            "SELECT s.setconfig, shobj_description(d.oid, 'pg_database') FROM pg_database d"
            " LEFT JOIN pg_db_role_setting s ON s.setdatabase = d.oid AND s.setrole = 0"
            " WHERE d.datname = %s",
            (target,),
        ).fetchone()
    assert row is not None
    assert sorted(row[0]) == ["idle_in_transaction_session_timeout=1s", "work_mem=5MB"]
    assert row[1] == "the shop's data"


def test_snapshot_never_runs_user_functions_of_a_matview(
    source_db: str, file_store: str, db_names: Any
) -> None:
    """A matview over a user function that calls itself IMMUTABLE is not re-evaluated at
    snapshot time (that would run the dump's code on the source): its row count is not
    promised, and a function that would fail when run there never runs."""
    name = db_names("releaser_fn")
    create_database(
        name,
        """
        CREATE FUNCTION public.sneaky(i int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
        BEGIN
          IF current_setting('transaction_read_only') = 'on' THEN
            RAISE EXCEPTION 'user code ran inside the snapshot';
          END IF;
          RETURN i;
        END $$;
        CREATE TABLE public.src AS SELECT g FROM generate_series(1, 5) g;
        CREATE MATERIALIZED VIEW public.mv AS SELECT g FROM public.src WHERE public.sneaky(g) > 0;
        CREATE VIEW public.v AS SELECT g FROM public.src WHERE public.sneaky(g) > 0;
        CREATE MATERIALIZED VIEW public.mv_over_view AS SELECT g FROM public.v;
        """,
    )
    manifest = take_snapshot(parse_dsn(dsn_for(name)), open_store(file_store)).manifest
    facts = {t.qualified: t for t in manifest.facts.tables}
    assert facts["public.mv"].deterministic is False
    assert facts["public.mv_over_view"].deterministic is False


def test_operator_without_role_rights_restores_as_itself_or_gets_one_error(
    run_cli: Any, source_db: str, file_store: str, db_names: Any
) -> None:
    """An operator with CREATEDB but no CREATEROLE restores as itself (the plan says so);
    one without CREATEDB gets one exit-3 line, not an "unexpected" error."""
    snap = take_snapshot(parse_dsn(dsn_for(source_db)), open_store(file_store)).manifest
    creator, nobody = unique_name("releaser_op"), unique_name("releaser_op")
    with admin() as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEDB").format(sql.Identifier(creator)))
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(nobody)))
    targets: list[str] = []
    try:
        for user, code in ((creator, 0), (nobody, 3)):
            target = db_names("releaser_op")
            targets.append(target)
            dsn = psycopg.conninfo.make_conninfo(dsn_for(target), user=user)
            args = ("db", "restore", snap.snapshot_id, "--to", file_store, "--target", dsn)
            if code == 0:
                plan = run_cli(*args, "--create", "--dry-run")
                assert "as the connecting role" in plan.stdout
            result = run_cli(*args, "--create", "--yes")
            assert result.exit_code == code, result.stdout + result.stderr
            if code:
                errors = [x for x in result.stderr.splitlines() if x.startswith("Error:")]
                assert len(errors) == 1 and "refused the restore" in errors[0]
                assert "unexpected" not in result.stderr
    finally:
        for target in targets:
            drop(target)
        with admin() as conn:
            for role in (creator, nobody):
                ident = sql.Identifier(role)
                conn.execute(sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(ident))
                conn.execute(sql.SQL("DROP OWNED BY {}").format(ident))
                conn.execute(sql.SQL("DROP ROLE {}").format(ident))


def test_restore_role_that_cannot_log_in_is_exit_3_not_a_failed_snapshot(
    run_cli: Any, source_db: str, file_store: str, db_names: Any
) -> None:
    """When the server does not let the restore role in (here: the target's connection
    limit, which only superusers bypass), restore stops with exit 3 before pg_restore:
    nothing restored, and never "the snapshot does not restore" (exit 1)."""
    snap = take_snapshot(parse_dsn(dsn_for(source_db)), open_store(file_store)).manifest
    target = db_names("releaser_lim")
    create_database(target)
    before = set(_restore_roles())
    with admin() as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} CONNECTION LIMIT 0").format(sql.Identifier(target)))
    result = run_cli(
        "db", "restore", snap.snapshot_id, "--to", file_store, "--target", dsn_for(target), "--yes"
    )
    assert result.exit_code == 3, result.stdout + result.stderr
    assert "cannot log in" in result.stderr
    with psycopg.connect(dsn_for(target)) as conn:
        found = conn.execute(
            "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace"
        )
        assert found.fetchone() == (0,)
    assert set(_restore_roles()) <= before  # the throwaway role is gone too


def test_export_drill_runs_the_exports_code_without_privileges(
    run_cli: Any,
    attacker_db: tuple[str, str],
    file_store: str,
    sim_factory: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A drill of a Render export (restore, REFRESH, ANALYZE, checks) also runs the dump's
    code as a throwaway unprivileged role: the planting role gains nothing."""
    name, role = attacker_db
    server = sim_factory("demo", time_scale=600)
    monkeypatch.setenv("RENDER_API_URL", server.url)
    monkeypatch.setenv("RENDER_API_KEY", server.api_key)
    instance = next(iter(server.state.postgres.values()))
    with server.state.lock:
        server.state.map_postgres(instance.id, url_for(name))
    before = set(_restore_roles())
    result = run_cli(
        "db", "drill", str(instance.id), "--from", "render-export", "--to", file_store,
        "-o", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["passed"] is True
    assert _privileges(role) == (False, False, False)
    assert set(_restore_roles()) <= before
