"""Render Postgres sources end to end through the simulator's connection-info."""

from __future__ import annotations

import json
from typing import Any

import pytest
from dbsupport import SECRET_PASSWORD, url_for


@pytest.fixture
def render_db(sim_factory: Any, source_db: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The demo scenario with its Postgres mapped onto the awkward test database."""
    server = sim_factory("demo")
    monkeypatch.setenv("RENDER_API_URL", server.url)
    monkeypatch.setenv("RENDER_API_KEY", server.api_key)
    instance = next(iter(server.state.postgres.values()))
    with server.state.lock:
        server.state.map_postgres(instance.id, url_for(source_db))
    return str(instance.id)


def test_snapshot_and_drill_of_a_dpg_id(run_cli: Any, render_db: str, s3_store: str) -> None:
    """`db snapshot dpg-…` and `db drill dpg-…` resolve through connection-info."""
    snap = run_cli("db", "snapshot", render_db, "--to", s3_store, "-o", "json")
    assert snap.exit_code == 0, snap.stderr
    doc = json.loads(snap.stdout)
    assert doc["source"]["render_id"] == render_db
    assert render_db in doc["source"]["display"]
    assert SECRET_PASSWORD not in snap.stdout + snap.stderr
    drill = run_cli("db", "drill", render_db, "--to", s3_store, "--use-latest", "-o", "json")
    assert drill.exit_code == 0, drill.stderr
    assert json.loads(drill.stdout)["snapshot_id"] == doc["snapshot_id"]


def test_render_name_and_missing_key(
    run_cli: Any, render_db: str, s3_store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Render name works too; without RENDER_API_KEY a Render source is exit 3."""
    by_id = run_cli("db", "snapshot", render_db, "--to", s3_store, "-o", "json")
    name = json.loads(by_id.stdout)["database"]
    by_name = run_cli("db", "snapshot", name, "--to", s3_store, "-o", "json")
    assert by_name.exit_code == 0, by_name.stderr
    monkeypatch.delenv("RENDER_API_KEY")
    no_key = run_cli("db", "snapshot", render_db, "--to", s3_store)
    assert no_key.exit_code == 3
    assert "RENDER_API_KEY is not set" in no_key.stderr


def test_an_unknown_dpg_id_says_where_database_ids_are(run_cli: Any, render_db: str) -> None:
    """`db export dpg-nope`: the advice points at where a database's id is, not at
    'releaser services' (which lists services, not databases). A wrong name keeps its own."""
    for args in (("db", "export", "dpg-nope"), ("db", "export", "dpg-nope", "--list")):
        missing = run_cli(*args)
        assert missing.exit_code == 2, missing.stderr
        assert missing.stderr.startswith("Error: ") and "dpg-nope" in missing.stderr
        assert "releaser services" not in missing.stderr
        assert "dashboard.render.com/d/dpg-" in missing.stderr
        assert len(missing.stderr.strip().splitlines()) == 1
    by_name = run_cli("db", "export", "no-such-database", "--list")
    assert by_name.exit_code == 2, by_name.stderr
    assert "no Render Postgres named 'no-such-database'" in by_name.stderr
    assert "pass the dpg-… id" in by_name.stderr
