"""Env writes go key by key, and reads that look incomplete stop a restore (issue 11, item 11).

The simulator serves correct listings; a Render that pages short, repeats a cursor or lists
a value as null is played by a small fake API on httpx's transport seam (the HTTP boundary,
not our code).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import Result
from conftest import WEB, env_of, writes

from releaser.errors import ApiError, EnvironmentProblem
from releaser.release.envchange import prepare_restore, read_backup, read_service_env
from releaser.render.client import RenderClient, RetryPolicy
from releaser.render.models import Service

Run = Callable[..., Result]


def fake_render(
    env: list[dict[str, Any]], *, page_size: int = 20, stuck: bool = False
) -> httpx.MockTransport:
    """A Render whose env listing pages ``page_size`` at a time, whatever limit is asked."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/env-groups"):
            return httpx.Response(200, json=[])
        cursor = request.url.params.get("cursor")
        start = 0
        if cursor and not stuck:
            start = next(i for i, v in enumerate(env) if v["key"] == cursor) + 1
        chunk = env[start : start + page_size]
        return httpx.Response(200, json=[{"envVar": v, "cursor": v["key"]} for v in chunk])

    return httpx.MockTransport(handle)


def client_for(transport: httpx.MockTransport) -> RenderClient:
    return RenderClient(
        "rnd_test", "https://fake.example/v1", transport=transport, retry=RetryPolicy(attempts=1)
    )


VARS = [{"key": f"VAR_{i:03d}", "value": f"v{i}"} for i in range(130)]


def test_listing_shorter_pages_than_asked_is_read_to_the_end() -> None:
    """Pages of 20 when 100 were asked are not the end: all 130 variables are read."""
    with client_for(fake_render(VARS)) as client:
        assert [v.key for v in client.list_env_vars("srv-x")] == [v["key"] for v in VARS]


def test_listing_whose_pages_do_not_chain_is_refused() -> None:
    """A cursor that does not move on (the same page again) is an error, not a short list."""
    with (
        client_for(fake_render(VARS, stuck=True)) as client,
        pytest.raises(ApiError, match="looks incomplete"),
    ):
        client.list_env_vars("srv-x")


def test_restore_refuses_when_a_value_came_back_null(tmp_path: Path) -> None:
    """A variable listed without a value: the restore plan is not made, nothing is written."""
    listed: list[dict[str, Any]] = [{"key": "A", "value": "1"}, {"key": "B", "value": None}]
    backup = tmp_path / "b.json"
    backup.write_text(
        json.dumps(
            {
                "format": "releaser-env-backup/1",
                "service_id": "srv-x",
                "taken_at": "2026-01-01T00:00:00Z",
                "env_vars": [{"key": "A", "value": "0"}],
            }
        )
    )
    with client_for(fake_render(listed)) as client:
        service = Service(id="srv-x", name="x")
        env = read_service_env(client, service)
        with pytest.raises(EnvironmentProblem, match="listed B without a value"):
            prepare_restore(service, env, read_backup(backup))


def test_set_writes_only_the_named_keys_among_many(start: Callable[..., Any], run_cli: Run) -> None:
    """With 130+ variables (two pages), env set sends one PUT for the key it names and
    every other variable is still there."""
    server = start("demo")
    with server.state.lock:
        server.state.service(WEB).env.update({v["key"]: v["value"] for v in VARS})
    before = env_of(server)
    result = run_cli("env", "set", "web", "LOG_LEVEL=debug", "--yes", "--backup-dir", "bk")
    assert result.exit_code == 0, result.stderr
    assert env_of(server) == {**before, "LOG_LEVEL": "debug"}
    assert [(r.method, r.path) for r in writes(server)] == [
        ("PUT", f"/v1/services/{WEB}/env-vars/LOG_LEVEL")
    ]
    assert writes(server)[0].json == {"value": "debug"}


def test_restore_puts_back_key_by_key(start: Callable[..., Any], run_cli: Run) -> None:
    """Restore deletes what was added since, puts back what changed, and touches nothing else."""
    server = start("demo")
    before = env_of(server)
    run_cli("env", "set", "web", "NEW_ONE=1", "WEB_CONCURRENCY=9", "--yes", "--backup-dir", "bk")
    [backup] = Path("bk").iterdir()
    server.clear_requests()
    result = run_cli("env", "restore", "web", str(backup), "--yes", "--backup-dir", "bk2")
    assert result.exit_code == 0, result.stderr
    assert env_of(server) == before
    assert sorted((r.method, r.path.rsplit("/", 1)[1]) for r in writes(server)) == [
        ("DELETE", "NEW_ONE"),
        ("PUT", "WEB_CONCURRENCY"),
    ]


def test_unset_through_env_unset(start: Callable[..., Any], run_cli: Run) -> None:
    """'env unset SERVICE KEY...' deletes exactly those keys, with a backup first."""
    server = start("demo")
    before = env_of(server)
    result = run_cli("env", "unset", "web", "PYTHON_VERSION", "--yes", "--backup-dir", "bk")
    assert result.exit_code == 0, result.stderr
    assert env_of(server) == {k: v for k, v in before.items() if k != "PYTHON_VERSION"}
    assert [(r.method, r.path.rsplit("/", 1)[1]) for r in writes(server)] == [
        ("DELETE", "PYTHON_VERSION")
    ]
    assert len(list(Path("bk").iterdir())) == 1
