"""Render-native recovery drills end to end: the simulator makes real exports (pg_dump -Fd,
tarred and gzipped, behind an expiring signed URL) and real recovery databases from a real
local PostgreSQL; the drills restore and check them, and every fault is caught."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from dbsupport import SECRET_PASSWORD, admin, dsn_for, url_for

from releaser.config import Config, DatabaseConfig, EvidenceKind, ServiceRules
from releaser.release.gonogo import check_database_backup


def _databases(prefix: str) -> list[str]:
    """Databases whose name starts with ``prefix`` (left behind, if any)."""
    with admin() as conn:
        rows = conn.execute("SELECT datname FROM pg_database").fetchall()
    return [r[0] for r in rows if r[0].startswith(prefix)]


def _rexp_scratch() -> list[str]:
    return _databases("releaser_rexp_")


@pytest.fixture
def render_pg(
    sim_factory: Any, source_db: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, str]]:
    """The demo scenario (time x600: a 5-minute recovery takes half a second) with its
    Postgres mapped onto the awkward test database."""
    yield _mapped_sim(sim_factory, source_db, monkeypatch, 600)
    assert _rexp_scratch() == [], "a scratch database was left behind"


def _mapped_sim(
    sim_factory: Any, source_db: str, monkeypatch: pytest.MonkeyPatch, scale: float
) -> tuple[Any, str]:
    server = sim_factory("demo", time_scale=scale)
    monkeypatch.setenv("RENDER_API_URL", server.url)
    monkeypatch.setenv("RENDER_API_KEY", server.api_key)
    instance = next(iter(server.state.postgres.values()))
    with server.state.lock:
        server.state.map_postgres(instance.id, url_for(source_db))
    return server, str(instance.id)


def _fault(server: Any, pg_id: str, fault: str) -> None:
    with server.state.lock:
        server.state.postgres[pg_id].config.pg_faults.append(fault)


def _downloads(server: Any) -> list[Any]:
    return [r for r in server.requests if r.path.startswith("/_sim/exports/")]


def test_export_drill_restores_a_real_export_and_counts_as_evidence(
    run_cli: Any, render_pg: tuple[Any, str], file_store: str
) -> None:
    """A fresh export is downloaded (hash = the bytes the simulator served), restored and
    checked; the evidence shows in db list and passes go-no-go when configured to count."""
    server, pg_id = render_pg
    result = run_cli(
        "db", "drill", pg_id, "--from", "render-export", "--to", file_store, "-j", "2", "-o", "json"
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["passed"] is True and doc["kind"] == "render-export"
    [export] = server.state.postgres[pg_id].exports
    assert doc["subject"] == export.id
    assert doc["sha256"] == hashlib.sha256(export.path.read_bytes()).hexdigest()
    assert set(doc["phases"]) == {"download", "restore", "analyze", "verify"}
    checks = {c["name"]: c for c in doc["checks"]}
    assert checks["table sales.orders"]["actual"] == "present"
    assert checks["sequence sales.invoice_no"]["ok"]
    assert checks["rows sales.orders (approximate)"]["actual"] == "5000"
    assert SECRET_PASSWORD not in result.stdout + result.stderr
    [download] = _downloads(server)
    assert download.status == 200 and "Authorization" not in json.dumps(download.query)

    listed = json.loads(run_cli("db", "list", "--to", file_store, "-o", "json").stdout)
    [row] = listed["render_drills"]
    assert row["kind"] == "render-export" and row["subject"] == export.id
    assert row["last_verified"] is not None

    name = doc["database"]
    counts = DatabaseConfig(store=file_store, evidence={"render-export": "26h"})
    config = Config(databases={name: counts})
    verdict = check_database_backup(ServiceRules(database=name, production=True), config)
    assert verdict.status == "PASS" and export.id in verdict.detail
    snapshots_only = Config(databases={name: DatabaseConfig(store=file_store)})
    default = check_database_backup(ServiceRules(database=name, production=True), snapshots_only)
    assert default.status == "FAIL", "Render evidence must only count when configured"


def test_latest_export_with_a_broken_invariant_fails(
    run_cli: Any, render_pg: tuple[Any, str], file_store: str, tmp_path: Path
) -> None:
    """--latest drills the newest ready export; an invariant that does not hold in the copy
    fails the drill (exit 1) and the failure is stored and shown as such."""
    server, pg_id = render_pg
    made = run_cli("db", "export", pg_id, "-o", "json")
    assert made.exit_code == 0, made.stderr
    export_id = json.loads(made.stdout)["export_id"]
    listed = json.loads(run_cli("db", "export", pg_id, "--list", "-o", "json").stdout)
    assert [(e["id"], e["ready"]) for e in listed["exports"]] == [(export_id, True)]
    (tmp_path / "releaser.toml").write_text(
        f"""
[databases.main]
source = "{pg_id}"
store = "{file_store}"
[databases.main.invariants]
"no negative amounts" = "select count(*) from sales.orders where amount < 0"
"every order is small" = "select count(*) from sales.orders where amount > 100"
"""
    )
    report = tmp_path / "drill.md"
    result = run_cli(
        "db", "drill", "main", "--from", "render-export", "--latest", "--report", str(report)
    )
    assert result.exit_code == 1, result.stderr
    assert "invariant every order is small" in result.stderr
    assert export_id in result.stdout
    text = report.read_text()
    assert "| invariant no negative amounts | 0 | 0 | yes |" in text
    assert "| invariant every order is small | 0 |" in text and "**NO**" in text
    listed = json.loads(run_cli("db", "list", "-o", "json").stdout)
    [row] = listed["render_drills"]
    assert row["last_verified"] is None and row["last_drill_failed"] is not None
    assert len(server.state.postgres[pg_id].exports) == 1, "--latest must not make an export"


def test_truncated_export_is_a_failed_drill(
    run_cli: Any, render_pg: tuple[Any, str], file_store: str
) -> None:
    """A cut-short archive is caught while untarring: exit 1, failed evidence, no scratch."""
    server, pg_id = render_pg
    _fault(server, pg_id, "export_truncated")
    result = run_cli("db", "drill", pg_id, "--from", "render-export", "--to", file_store)
    assert result.exit_code == 1
    assert "export archive is unreadable" in result.stderr
    assert "FAILED" in result.stdout


def test_url_expiring_mid_download_is_retried_once_then_exit_3(
    run_cli: Any, render_pg: tuple[Any, str], file_store: str
) -> None:
    """A transfer cut mid-way is never taken for an archive: one retry with a freshly signed
    URL, then exit 3 (retry may help), no evidence written."""
    server, pg_id = render_pg
    _fault(server, pg_id, "export_url_expires")
    result = run_cli("db", "drill", pg_id, "--from", "render-export", "--to", file_store)
    assert result.exit_code == 3, result.stderr
    assert "failed twice" in result.stderr
    first, second = _downloads(server)
    assert first.query["signature"] != second.query["signature"] or (
        first.query["expires"] != second.query["expires"]
    )
    # Nothing was written: not even the store's folder exists, so listing it is exit 2.
    listed = run_cli("db", "list", "--to", file_store)
    assert listed.exit_code == 2 and "does not exist" in listed.stderr


def test_expired_url_is_refused_by_the_simulator(render_pg: tuple[Any, str]) -> None:
    """The simulator's download URLs expire like signed S3 URLs: after the TTL, 403."""
    import httpx

    server, pg_id = render_pg
    with server.state.lock:
        export = server.state.export(pg_id)
    deadline = time.monotonic() + 30
    while not export.ready and time.monotonic() < deadline:
        time.sleep(0.1)
    with server.state.lock:
        url = server.state.export_url(server.base_url, server.state.postgres[pg_id], export)
    assert httpx.get(url).status_code == 200
    server.advance(16 * 60)
    expired = httpx.get(url)
    assert expired.status_code == 403 and "expired" in expired.text


def test_export_that_never_gets_a_url_is_exit_3(
    run_cli: Any, render_pg: tuple[Any, str], file_store: str
) -> None:
    """An export stuck without a URL: exit 3 after --wait, naming the export to retry."""
    server, pg_id = render_pg
    _fault(server, pg_id, "export_no_url")
    result = run_cli(
        "db", "drill", pg_id, "--from", "render-export", "--to", file_store, "--wait", "3s"
    )
    assert result.exit_code == 3
    [export] = server.state.postgres[pg_id].exports
    assert f"export {export.id} of {pg_id} has no download URL after 3s" in result.stderr
    assert _downloads(server) == []


def test_export_download_to_store_with_manifest(
    run_cli: Any, render_pg: tuple[Any, str], file_store: str
) -> None:
    """db export --download-to streams the archive into the store and writes a manifest
    whose sha256 is that of the stored bytes and of what Render served."""
    server, pg_id = render_pg
    result = run_cli("db", "export", pg_id, "--download-to", file_store, "-o", "json")
    assert result.exit_code == 0, result.stderr
    stored = json.loads(result.stdout)["stored"]
    root = Path(file_store.removeprefix("file://"))
    archive = (root / stored["key"]).read_bytes()
    manifest = json.loads((root / stored["manifest"]).read_text())
    [export] = server.state.postgres[pg_id].exports
    assert manifest["sha256"] == stored["sha256"] == hashlib.sha256(archive).hexdigest()
    assert archive == export.path.read_bytes()
    assert manifest["export_id"] == export.id
    # The whole document, with the result contract's keys (outcome, summary, advice, exit code).
    assert json.loads(run_cli("db", "list", "--to", file_store, "-o", "json").stdout) == {
        "outcome": "listed",
        "summary": f"0 snapshots in {file_store}",
        "advice": "",
        "exit_code": 0,
        "store": file_store,
        "snapshots": [],
        "render_drills": [],
    }


# --- point-in-time recovery -----------------------------------------------------------------


def _pitr(run_cli: Any, pg_id: str, store: str, *extra: str) -> Any:
    return run_cli(
        "db", "drill", pg_id, "--from", "render-pitr", "--ago", "30m", "--to", store, *extra
    )


def _recoveries(server: Any) -> list[Any]:
    return [r for r in server.requests if r.method == "POST" and r.path.endswith("/recovery")]


def _sim_databases() -> list[str]:
    return _databases("sim_dpg_")


@pytest.fixture
def owner(render_pg: tuple[Any, str], monkeypatch: pytest.MonkeyPatch) -> str:
    server, _ = render_pg
    monkeypatch.setenv("RENDER_OWNER_ID", server.owner_id)
    return str(server.owner_id)


def test_pitr_drill_recovers_checks_and_deletes_the_instance(
    run_cli: Any, render_pg: tuple[Any, str], owner: str, file_store: str
) -> None:
    """With --yes: a real recovery database is created, checked, and deleted (gone from the
    simulator and from PostgreSQL); the evidence records RTO and the deletion."""
    server, pg_id = render_pg
    before = set(_sim_databases())
    result = _pitr(run_cli, pg_id, file_store, "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["passed"] and doc["instance_deleted"] is True
    assert set(doc["phases"]) == {"recovery", "verify"}
    [post] = _recoveries(server)
    assert post.json["plan"] == server.state.postgres[pg_id].config.plan
    assert server.state.deleted_postgres == [doc["subject"]]
    assert doc["subject"] not in server.state.postgres
    said = [e.message for e in server.state.logs.entries if e.resource == doc["subject"]]
    assert any("copy of the source's CURRENT state" in m for m in said), said
    assert set(_sim_databases()) == before
    checks = {c["name"]: c for c in doc["checks"]}
    assert checks["rows public.customers (approximate)"]["ok"]
    listed = json.loads(run_cli("db", "list", "--to", file_store, "-o", "json").stdout)
    assert [r["kind"] for r in listed["render_drills"]] == ["render-pitr"]


def test_pitr_refuses_without_owner_or_confirmation(
    run_cli: Any, render_pg: tuple[Any, str], file_store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No RENDER_OWNER_ID, or no --yes off a terminal: exit 2 and nothing created."""
    server, pg_id = render_pg
    no_owner = _pitr(run_cli, pg_id, file_store, "--yes")
    assert no_owner.exit_code == 2
    assert no_owner.stderr.startswith("Error: RENDER_OWNER_ID is not set")
    monkeypatch.setenv("RENDER_OWNER_ID", server.owner_id)
    unconfirmed = _pitr(run_cli, pg_id, file_store)
    assert unconfirmed.exit_code == 2
    assert "no terminal" in unconfirmed.stderr and "Pass --yes" in unconfirmed.stderr
    too_recent = run_cli(
        "db", "drill", pg_id, "--from", "render-pitr", "--ago", "2m", "--yes", "--to", file_store
    )
    assert too_recent.exit_code == 2 and "outside the recoverable window" in too_recent.stderr
    assert _recoveries(server) == []


def test_pitr_recovery_failed_is_exit_1_and_still_deleted(
    run_cli: Any, render_pg: tuple[Any, str], owner: str, file_store: str
) -> None:
    """A recovery that ends recovery_failed fails the drill; the instance is deleted."""
    server, pg_id = render_pg
    _fault(server, pg_id, "recovery_failed")
    result = _pitr(run_cli, pg_id, file_store, "--yes")
    assert result.exit_code == 1
    assert "ended recovery_failed" in result.stderr
    assert len(server.state.deleted_postgres) == 1
    assert len(server.state.postgres) == 1


def test_pitr_delete_that_fails_is_exit_4_naming_the_billed_instance(
    run_cli: Any, render_pg: tuple[Any, str], owner: str, file_store: str
) -> None:
    """The delete fails (5xx): releaser looks, sees the instance, and says loudly that a
    billed instance is left and how to delete it (exit 4); it never DELETEs twice."""
    server, pg_id = render_pg
    server.add_fault(method="DELETE", path="/postgres/*", status=500)
    result = _pitr(run_cli, pg_id, file_store, "--yes")
    assert result.exit_code == 4
    [left] = [p for p in server.state.postgres if p != pg_id]
    assert f"the recovery instance {left}" in result.stderr
    assert "STILL RUNNING AND BILLED" in result.stderr
    assert (
        f'curl -X DELETE -H "Authorization: Bearer $RENDER_API_KEY" {server.url}/postgres/{left}'
        in (result.stderr)
    )
    assert server.api_key not in result.stderr
    deletes = [r for r in server.requests if r.method == "DELETE"]
    assert len(deletes) == 1
    server.faults.clear()
    with server.state.lock:
        server.state.delete_postgres(left)


def _pitr_process(server: Any, pg_id: str, store: str, cwd: Path, *extra: str, **popen: Any) -> Any:
    """`releaser db drill --from render-pitr` as a real process (signals, terminals)."""
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "RENDER_API_URL": server.url,
        "RENDER_API_KEY": server.api_key,
        "RENDER_OWNER_ID": server.owner_id,
    }
    command = ["db", "drill", pg_id, "--from", "render-pitr", "--ago", "30m", "--to", store]
    return subprocess.Popen(
        [sys.executable, "-m", "releaser.cli.main", *command, *extra], env=env, cwd=cwd, **popen
    )


def test_pitr_interrupted_still_deletes_the_instance(
    sim_factory: Any,
    source_db: str,
    monkeypatch: pytest.MonkeyPatch,
    file_store: str,
    tmp_path: Path,
) -> None:
    """Ctrl-C (SIGINT to a real process) while waiting for the recovery: the instance is
    deleted before the process exits."""
    import signal
    import subprocess

    # Real time: the recovery takes 5 minutes, so the drill is surely waiting when interrupted.
    server, pg_id = _mapped_sim(sim_factory, source_db, monkeypatch, 1)
    process = _pitr_process(
        server,
        pg_id,
        file_store,
        tmp_path,
        "--yes",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not _recoveries(server) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _recoveries(server), "the drill never asked for a recovery"
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert len(server.state.deleted_postgres) == 1, stderr
    assert len(server.state.postgres) == 1, stderr
    deadline = time.monotonic() + 30  # the copy thread drops its database once it finishes
    while _sim_databases() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _sim_databases() == [], "the recovery's real database was left behind"


def test_export_request_with_unknown_outcome_is_looked_up_not_repeated(
    run_cli: Any, render_pg: tuple[Any, str]
) -> None:
    """POST export answers 500 although Render started it: releaser never POSTs again; it
    lists, finds the new export and waits for its URL."""
    server, pg_id = render_pg
    server.add_fault(method="POST", path="/postgres/*/export", status=500, applied=True, count=1)
    result = run_cli("db", "export", pg_id, "-o", "json")
    assert result.exit_code == 0, result.stderr
    [export] = server.state.postgres[pg_id].exports
    assert json.loads(result.stdout)["export_id"] == export.id
    posts = [r for r in server.requests if r.method == "POST"]
    assert len(posts) == 1 and posts[0].status == 500


def test_pitr_create_with_unknown_outcome_finds_and_deletes_the_instance(
    run_cli: Any, render_pg: tuple[Any, str], owner: str, file_store: str
) -> None:
    """POST recovery answers 500 although the billed instance was created: releaser finds it
    by its unique name (one POST only), drills it and deletes it."""
    server, pg_id = render_pg
    server.add_fault(method="POST", path="/postgres/*/recovery", status=500, applied=True, count=1)
    result = _pitr(run_cli, pg_id, file_store, "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert len(_recoveries(server)) == 1
    assert server.state.deleted_postgres == [json.loads(result.stdout)["subject"]]
    assert list(server.state.postgres) == [pg_id]


def test_pitr_wait_timeout_is_exit_3_and_still_deletes(
    sim_factory: Any,
    source_db: str,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: Any,
    file_store: str,
) -> None:
    """An exception mid-drill (the instance is not available within --wait): exit 3, and the
    instance is deleted all the same."""
    server, pg_id = _mapped_sim(sim_factory, source_db, monkeypatch, 1)
    monkeypatch.setenv("RENDER_OWNER_ID", server.owner_id)
    result = _pitr(run_cli, pg_id, file_store, "--yes", "--wait", "1s")
    assert result.exit_code == 3
    assert "is still recovery_in_progress after 1s" in result.stderr
    assert len(server.state.deleted_postgres) == 1 and list(server.state.postgres) == [pg_id]


def test_pitr_keep_minutes_prints_the_delete_command_then_deletes(
    run_cli: Any, render_pg: tuple[Any, str], owner: str, file_store: str
) -> None:
    """--keep-minutes keeps the instance for a human, printing how to delete it, and deletes
    it when the time is up."""
    server, pg_id = render_pg
    result = _pitr(run_cli, pg_id, file_store, "--yes", "--keep-minutes", "0.02")
    assert result.exit_code == 0, result.stderr
    [gone] = server.state.deleted_postgres
    assert f"Keeping {gone}" in result.stderr
    assert f"{server.url}/postgres/{gone}" in result.stderr


def test_pitr_declined_on_a_terminal_is_exit_1_nothing_changed(
    render_pg: tuple[Any, str], owner: str, file_store: str, tmp_path: Path
) -> None:
    """On a real terminal the confirmation names the plan and the source; answering no is
    exit 1 and no recovery is requested."""
    import os
    import pty
    import subprocess

    server, pg_id = render_pg
    master, slave = pty.openpty()
    process = _pitr_process(
        server, pg_id, file_store, tmp_path, stdin=slave, stdout=subprocess.DEVNULL, stderr=slave
    )
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 60
    while b"[y/N]" not in seen and time.monotonic() < deadline:
        seen += os.read(master, 4096)
    os.write(master, b"n\n")
    process.wait(timeout=60)
    try:
        while chunk := os.read(master, 4096):
            seen += chunk
    except OSError:
        pass  # the terminal closed with the process
    os.close(master)
    text = seen.decode()
    plan = server.state.postgres[pg_id].config.plan
    assert f"BILLED Render Postgres ({plan}) recovered from" in text and pg_id in text
    assert process.returncode == 1
    assert "Nothing was changed" in text
    assert _recoveries(server) == []


def test_export_older_than_the_source_changes_fails_on_counts_and_schema(
    run_cli: Any,
    sim_factory: Any,
    mutable_db: str,
    monkeypatch: pytest.MonkeyPatch,
    file_store: str,
) -> None:
    """After the export, the source doubles a table and gains a new one: a fresh export
    cannot be that far off, so the counts check and the missing table fail the drill."""
    server, pg_id = _mapped_sim(sim_factory, mutable_db, monkeypatch, 600)
    assert run_cli("db", "export", pg_id).exit_code == 0
    with psycopg.connect(dsn_for(mutable_db), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO sales.orders (customer_id, amount)"
            " SELECT 1, 1 FROM generate_series(1, 5000)"
        )
        conn.execute("CREATE TABLE public.added_later (id int)")
    result = run_cli(
        "db",
        "drill",
        pg_id,
        "--from",
        "render-export",
        "--latest",
        "--to",
        file_store,
        "-o",
        "json",
    )
    assert result.exit_code == 1
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    orders = checks["rows sales.orders (approximate)"]
    assert not orders["ok"] and orders["actual"] == "5000"
    assert orders["expected"].startswith("10000 ± ")
    assert checks["table public.added_later"] == {
        "name": "table public.added_later",
        "expected": "present",
        "actual": "missing",
        "ok": False,
    }
    assert checks["rows public.customers (approximate)"]["ok"]


def test_go_no_go_weighs_each_evidence_kind_against_its_own_age(tmp_path: Path) -> None:
    """A PITR drill counts from when it ran, an export from when it was made; each kind has
    its own limit, and a kind not listed in `evidence` never counts."""
    from datetime import UTC, datetime, timedelta

    from releaser.db.render_evidence import RenderDrillEvidence, write_render_evidence
    from releaser.db.storage import open_store

    store_url = (tmp_path / "store").as_uri()
    now = datetime.now(UTC)

    def drilled(kind: Any, data_age: timedelta, drill_age: timedelta, passed: bool) -> None:
        write_render_evidence(
            open_store(store_url),
            RenderDrillEvidence(
                kind=kind,
                database="main",
                render_id="dpg-x",
                subject=f"{kind}-{passed}",
                data_at=now - data_age,
                drilled_at=now - drill_age,
                passed=passed,
                target="t",
                rto_seconds=1.0,
            ),
        )

    # PITR back 6 days, drilled 2 hours ago; an export made 30 hours ago, drilled just now;
    # a newer failed export drill proves nothing.
    drilled("render-pitr", timedelta(days=6), timedelta(hours=2), True)
    drilled("render-export", timedelta(hours=30), timedelta(minutes=1), True)
    drilled("render-export", timedelta(hours=1), timedelta(seconds=1), False)
    rules = ServiceRules(database="main", production=True)

    def verdict(evidence: dict[EvidenceKind, str]) -> Any:
        config = Config(databases={"main": DatabaseConfig(store=store_url, evidence=evidence)})
        return check_database_backup(rules, config)

    exports_only = verdict({"render-export": "26h"})
    assert exports_only.status == "FAIL" and "Render export render-export-True" in (
        exports_only.detail
    )
    both = verdict({"render-export": "26h", "render-pitr": "8d"})
    assert both.status == "PASS" and "PITR drill" in both.detail
    assert verdict({"render-pitr": "1h"}).status == "FAIL"
    assert verdict({"snapshot": "26h"}).status == "FAIL"


def test_export_with_a_path_escaping_member_is_refused(
    run_cli: Any, render_pg: tuple[Any, str], file_store: str, tmp_path: Path
) -> None:
    """An archive whose member climbs out of the work directory is never written there:
    the drill fails (exit 1) and nothing lands outside."""
    import io
    import tarfile

    server, pg_id = render_pg
    made = run_cli("db", "export", pg_id, "-o", "json")
    assert made.exit_code == 0, made.stderr
    [export] = server.state.postgres[pg_id].exports
    payload = b"owned"
    with tarfile.open(export.path, "w:gz") as tar:
        member = tarfile.TarInfo(f"../../../../../../..{tmp_path}/escaped")
        member.size = len(payload)
        tar.addfile(member, io.BytesIO(payload))
    drill = ["db", "drill", pg_id, "--from", "render-export", "--latest"]
    result = run_cli(*drill, "--to", file_store)
    assert result.exit_code == 1
    assert "export archive is unreadable" in result.stderr
    assert not (tmp_path / "escaped").exists()


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--from", "render-export", "--yes"], "--yes cannot be used with --from render-export"),
        (["--from", "render-pitr", "--use-latest"], "--use-latest cannot be used with --from"),
        (
            ["--yes", "--at", "2026-01-01T00:00:00Z"],
            "--at, --yes cannot be used with --from snapshot",
        ),
        (["--from", "render-pitr", "--at", "2026-01-01", "--ago", "1h"], "exclude each other"),
    ],
)
def test_options_of_another_origin_are_refused(run_cli: Any, args: list[str], named: str) -> None:
    """An option that belongs to another --from is exit 2 with one line, before any work."""
    result = run_cli("db", "drill", "main-db", "--to", "file:///nonexistent/store", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and named in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
