"""services, status, history, logs as a user runs them, against the simulator over HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import Result

WEB = "srv-hjtl316kyssqmyi4ywa3"
Run = Callable[..., Result]


def test_services_table_lists_web_with_live_deploy(sim: Any, run_cli: Run) -> None:
    """`releaser services` shows each service with its id, type and live deploy."""
    result = run_cli("services")
    assert result.exit_code == 0, result.stderr
    assert "web" in result.stdout and WEB in result.stdout
    assert "web_service" in result.stdout
    assert "dep-" in result.stdout


def test_services_json_is_one_document(sim: Any, run_cli: Run) -> None:
    """-o json prints one JSON array on stdout, with the live deploy per service."""
    result = run_cli("services", "-o", "json")
    data = json.loads(result.stdout)
    web = next(s for s in data if s["name"] == "web")
    assert web["id"] == WEB
    assert web["live_deploy"]["status"] == "live"


def test_status_by_name_shows_live_and_health_url(sim: Any, run_cli: Run) -> None:
    """`releaser status web` names the live deploy, autodeploy and the health URL."""
    result = run_cli("status", "web")
    assert result.exit_code == 0, result.stderr
    assert "live deploy" in result.stdout
    assert "/healthz" in result.stdout
    assert "in progress  none" in result.stdout


def test_status_json_by_id(sim: Any, run_cli: Run) -> None:
    """status by id in JSON carries the live deploy and no deploy in progress."""
    data = json.loads(run_cli("status", WEB, "-o", "json").stdout)
    assert data["service"]["id"] == WEB
    assert data["live_deploy"]["status"] == "live"
    assert data["in_progress"] == []


def test_history_marks_failures_and_rollbacks(sim: Any, run_cli: Run) -> None:
    """history lists newest first with status marks; failed builds show ✗."""
    result = run_cli("history", "web", "--limit", "50")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[2].startswith("✓ live"), lines[:3]
    assert any("✗ build_failed" in line for line in lines)


def test_history_limit_and_json(sim: Any, run_cli: Run) -> None:
    """--limit bounds the list; JSON is newest first."""
    data = json.loads(run_cli("history", "web", "--limit", "3", "-o", "json").stdout)
    assert len(data) == 3
    created = [d["created_at"] for d in data]
    assert created == sorted(created, reverse=True)


def test_logs_for_a_deploy_window(sim: Any, run_cli: Run) -> None:
    """logs --deploy shows only lines from that deploy's window, oldest first."""
    history = json.loads(run_cli("history", "web", "-o", "json").stdout)
    live = history[0]
    result = run_cli("logs", "web", "--deploy", live["id"], "-o", "json")
    assert result.exit_code == 0, result.stderr
    entries = json.loads(result.stdout)
    assert entries, "the live deploy has build and runtime logs"
    assert all(e["timestamp"] >= live["created_at"] for e in entries)


def test_logs_tail_and_level(sim: Any, run_cli: Run) -> None:
    """--tail N returns at most N lines; --level error only error lines."""
    result = run_cli("logs", "web", "--since", "30d", "--tail", "5", "-o", "json")
    assert len(json.loads(result.stdout)) <= 5
    errors = json.loads(
        run_cli("logs", "web", "--since", "30d", "--level", "error", "-o", "json").stdout
    )
    for entry in errors:
        levels = [label["value"] for label in entry["labels"] if label["name"] == "level"]
        assert levels == ["error"]


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (("status", "nope"), 2, "Error: no service named 'nope'. Run 'releaser services'"),
        (("status", "srv-nothere1"), 2, "Error: service srv-nothere1 not found"),
        (("logs", "web", "--since", "soon"), 2, "Error: --since 'soon' is not a duration"),
        (("logs", "web", "--since", "1h", "--deploy", "dep-x"), 2, "Error: --since and --deploy"),
    ],
)
def test_bad_input_is_one_line_with_exit_code(
    sim: Any, run_cli: Run, args: tuple[str, ...], code: int, text: str
) -> None:
    """Bad input: one line starting with the message, the documented exit code."""
    result = run_cli(*args)
    assert result.exit_code == code
    assert result.stderr.startswith(text), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_no_api_key_is_exit_3_with_advice(run_cli: Run) -> None:
    """Without RENDER_API_KEY every API command exits 3 and says how to set it."""
    result = run_cli("services")
    assert result.exit_code == 3
    assert "RENDER_API_KEY is not set" in result.stderr
    assert "releaser sim serve" in result.stderr


def test_api_url_pointing_nowhere_is_exit_3(
    run_cli: Run, unused_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RENDER_API_URL with nothing listening: exit 3, one line naming the URL."""
    monkeypatch.setenv("RENDER_API_KEY", "rnd_test")
    monkeypatch.setenv("RENDER_API_URL", f"http://127.0.0.1:{unused_port}/v1")
    result = run_cli("services")
    assert result.exit_code == 3
    assert f"cannot connect to http://127.0.0.1:{unused_port}/v1" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_malformed_api_url_is_exit_2(run_cli: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    """A RENDER_API_URL that is not a URL is a configuration error (exit 2)."""
    monkeypatch.setenv("RENDER_API_KEY", "rnd_test")
    monkeypatch.setenv("RENDER_API_URL", "api.render.com")
    result = run_cli("services")
    assert result.exit_code == 2
    assert "RENDER_API_URL 'api.render.com' is not an http(s) URL" in result.stderr


@pytest.mark.parametrize(
    "url",
    [
        "http://api.render.com/v1",
        "http://10.0.0.5:8080/v1",
        "http://127.0.0.1.evil.example/v1",
        "http://[::ffff:8.8.8.8]/v1",
        "http://192.168.1.20:10000/v1",
        "ftp://127.0.0.1/v1",
        "https://user:pw@api.render.com/v1",
    ],
)
def test_api_url_plain_http_only_to_loopback(
    run_cli: Run, monkeypatch: pytest.MonkeyPatch, url: str, unused_port: int
) -> None:
    """Plain http (the key in cleartext) to anything but this machine is exit 2, no request."""
    monkeypatch.setenv("RENDER_API_KEY", "rnd_test")
    monkeypatch.setenv("RENDER_API_URL", url)
    result = run_cli("services")
    assert result.exit_code == 2, result.stderr
    assert "cannot connect" not in result.stderr
    assert "pw" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "[::1]", "localhost", "0.0.0.0"])
def test_api_url_plain_http_to_loopback_is_allowed(
    run_cli: Run, monkeypatch: pytest.MonkeyPatch, host: str, unused_port: int
) -> None:
    """The simulator's http://127.0.0.1 (any loopback form) is accepted: the request is made."""
    monkeypatch.setenv("RENDER_API_KEY", "rnd_test")
    monkeypatch.setenv("RENDER_API_URL", f"http://{host}:{unused_port}/v1")
    result = run_cli("services")
    assert result.exit_code == 3, result.stderr  # nothing listens there: a connect error
    assert "cannot connect" in result.stderr


@pytest.mark.parametrize(
    "key", ["rnd_abc\nrnd_def", "rnd_abc def", "rnd_abc\x7f", "rnd_\u00e9toile", "rnd\x1b[2J"]
)
def test_api_key_not_one_printable_token_is_refused_unseen(
    sim: Any, run_cli: Run, monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    """A key with a newline, space or non-printable character: exit 2, no request, not shown."""
    monkeypatch.setenv("RENDER_API_KEY", key)
    result = run_cli("services")
    assert result.exit_code == 2, result.stderr
    assert "RENDER_API_KEY is not one printable token" in result.stderr
    assert "rnd_abc" not in result.stderr and "toile" not in result.stderr
    assert sim.requests == []
