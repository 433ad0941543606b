"""RenderClient against the simulator over real HTTP: paging, retries, errors, leniency."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from releaser.errors import (
    ApiError,
    EnvironmentProblem,
    NotFoundError,
    UsageError,
    WriteOutcomeUnknown,
)
from releaser.render.client import RenderClient, RetryPolicy
from releaser.render.models import Deploy, Event

WEB = "srv-hjtl316kyssqmyi4ywa3"

FAST = RetryPolicy(attempts=4, backoff_base=0.01, max_wait=2.0)


def client_for(server: Any, **kwargs: Any) -> RenderClient:
    return RenderClient(server.api_key, server.url, retry=kwargs.pop("retry", FAST), **kwargs)


def many_deploys_scenario(tmp_path: Path, count: int) -> str:
    lines = [
        '[scenario]\nextends = "demo"\n',
        "[[services]]",
        'id = "srv-many0001"',
        'name = "many"',
        'repo = "https://github.com/acme/many"',
    ]
    for index in range(count):
        lines += [
            "[[services.deploys]]",
            f'id = "dep-many{index:05d}"',
            f'status = "{"live" if index == count - 1 else "deactivated"}"',
            f'commit = "{index:040x}"',
            f'created_at = "-{(count - index) * 10}m"',
        ]
    path = tmp_path / "many.toml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def gets(server: Any, path: str) -> list[Any]:
    return [r for r in server.requests if r.method == "GET" and r.path.endswith(path)]


def test_cursor_pagination_reads_every_page(
    sim_factory: Callable[..., Any], tmp_path: Path
) -> None:
    """250 deploys come back complete, newest first, in three requests of limit 100."""
    server = sim_factory(many_deploys_scenario(tmp_path, 250), rate_limits=False)
    client = client_for(server)
    deploys = client.list_deploys("srv-many0001")
    assert len(deploys) == 250
    assert len({d.id for d in deploys}) == 250
    assert deploys[0].id == "dep-many00249"
    pages = gets(server, "/services/srv-many0001/deploys")
    assert len(pages) == 3
    assert all(r.query.get("limit") in ("100", ["100"]) for r in pages)


def test_limit_stops_paging_early(sim_factory: Callable[..., Any], tmp_path: Path) -> None:
    """Asking for 5 deploys fetches one page of 5, not everything."""
    server = sim_factory(many_deploys_scenario(tmp_path, 250), rate_limits=False)
    deploys = client_for(server).list_deploys("srv-many0001", limit=5)
    assert [d.id for d in deploys][:1] == ["dep-many00249"] and len(deploys) == 5
    assert len(gets(server, "/services/srv-many0001/deploys")) == 1


def test_get_retries_429_honouring_retry_after(sim_factory: Callable[..., Any]) -> None:
    """Two 429s then success: the read succeeds after three requests."""
    server = sim_factory("demo")
    server.add_fault(method="GET", path="/services", status=429, count=2, retry_after=0)
    services = client_for(server).list_services()
    assert any(s.name == "web" for s in services)
    assert len(gets(server, "/services")) == 3


def test_get_retries_5xx_and_dropped_connections(sim_factory: Callable[..., Any]) -> None:
    """A 503 and a dropped connection are retried; the third attempt answers."""
    server = sim_factory("demo")
    server.add_fault(method="GET", path="/services/*", status=503, count=1)
    server.add_fault(method="GET", path="/services/*", drop=True, count=1)
    service = client_for(server).get_service(WEB)
    assert service.name == "web"
    assert len(gets(server, f"/services/{WEB}")) == 3


def test_retry_after_beyond_cap_gives_up_with_exit_3(sim_factory: Callable[..., Any]) -> None:
    """When Render asks for a wait longer than the cap, stop at once and say how long."""
    server = sim_factory("demo")
    server.add_fault(method="GET", path="/services", status=429, retry_after=120)
    with pytest.raises(ApiError) as caught:
        client_for(server).list_services()
    assert caught.value.exit_code == 3
    assert "Retry after 120s" in caught.value.one_line()
    assert len(gets(server, "/services")) == 1


def test_persistent_5xx_gives_up_after_attempts(sim_factory: Callable[..., Any]) -> None:
    """A read that keeps failing ends with exit 3 after the configured attempts."""
    server = sim_factory("demo")
    server.add_fault(method="GET", path="/services", status=502)
    with pytest.raises(ApiError) as caught:
        client_for(server).list_services()
    assert caught.value.exit_code == 3
    assert "gave up after 4 attempts" in caught.value.one_line()
    assert len(gets(server, "/services")) == 4


def test_deploy_post_is_never_retried_on_5xx(sim_factory: Callable[..., Any]) -> None:
    """A 5xx on the deploy POST raises WriteOutcomeUnknown after exactly one POST."""
    server = sim_factory("demo")
    server.add_fault(method="POST", path="/services/*/deploys", status=503, applied=True)
    with pytest.raises(WriteOutcomeUnknown):
        client_for(server).create_deploy(WEB)
    posts = [r for r in server.requests if r.method == "POST"]
    assert len(posts) == 1


def test_deploy_post_dropped_connection_is_not_retried(sim_factory: Callable[..., Any]) -> None:
    """A dropped connection after the deploy POST was sent is ambiguous: one POST, no retry."""
    server = sim_factory("demo")
    server.add_fault(method="POST", path="/services/*/deploys", drop=True, count=1)
    with pytest.raises(WriteOutcomeUnknown):
        client_for(server).create_deploy(WEB)
    assert len([r for r in server.requests if r.method == "POST"]) == 1


def test_deploy_post_202_returns_none(sim_factory: Callable[..., Any]) -> None:
    """A 202 with no body means queued: the client says so with None, not a crash."""
    server = sim_factory("demo")
    server.add_fault(method="POST", path="/services/*/deploys", queued_202=True, count=1)
    assert client_for(server).create_deploy(WEB) is None


def test_wrong_key_is_exit_3_and_never_echoes_the_key(sim_factory: Callable[..., Any]) -> None:
    """401 becomes an exit-3 error that says to check RENDER_API_KEY, without the key."""
    server = sim_factory("demo")
    client = RenderClient("rnd_wrongwrongwrong", server.url, retry=FAST)
    with pytest.raises(ApiError) as caught:
        client.list_services()
    assert caught.value.exit_code == 3
    assert "RENDER_API_KEY" in caught.value.one_line()
    assert "rnd_wrongwrongwrong" not in caught.value.one_line()


def test_unknown_service_id_names_the_missing_thing(sim_factory: Callable[..., Any]) -> None:
    """404 becomes NotFoundError (exit 2) naming the service."""
    server = sim_factory("demo")
    with pytest.raises(NotFoundError) as caught:
        client_for(server).get_service("srv-doesnotexist")
    assert "srv-doesnotexist" in caught.value.one_line()
    assert caught.value.exit_code == 2


def test_ambiguous_name_is_refused(sim_factory: Callable[..., Any], tmp_path: Path) -> None:
    """Two services with one name: resolving by name is an error listing both ids."""
    path = tmp_path / "twins.toml"
    path.write_text(
        '[scenario]\nextends = "demo"\n'
        '[[services]]\nid = "srv-twin0001"\nname = "web"\nrepo = "https://github.com/a/b"\n'
        '[[services]]\nid = "srv-twin0002"\nname = "web"\nrepo = "https://github.com/a/c"\n'
    )
    server = sim_factory(str(path))
    with pytest.raises(UsageError) as caught:
        client_for(server).resolve_service("web")
    assert "srv-twin0001" in caught.value.one_line()
    assert "srv-twin0002" in caught.value.one_line()


def test_unreachable_api_is_exit_3(unused_port: int) -> None:
    """Nothing listening: exit 3 naming the URL, after bounded retries."""
    client = RenderClient("k", f"http://127.0.0.1:{unused_port}/v1", retry=FAST)
    with pytest.raises(ApiError) as caught:
        client.list_services()
    assert caught.value.exit_code == 3
    assert f"127.0.0.1:{unused_port}" in caught.value.one_line()


def test_missing_api_key_says_how_to_set_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """from_env without RENDER_API_KEY: exit 3 and the way to get a key."""
    with pytest.raises(EnvironmentProblem) as caught:
        RenderClient.from_env()
    assert caught.value.exit_code == 3
    assert "export RENDER_API_KEY" in caught.value.one_line()


def test_unknown_enum_values_and_nulls_are_accepted() -> None:
    """A status Render adds next year, null commit/finishedAt and new fields parse fine."""
    deploy = Deploy.model_validate(
        {
            "id": "dep-x1",
            "status": "awaiting_quantum_approval",
            "commit": None,
            "finishedAt": None,
            "brandNewField": {"a": 1},
            "trigger": "a_new_trigger",
        }
    )
    assert deploy.status == "awaiting_quantum_approval"
    assert not deploy.succeeded and not deploy.failed and not deploy.in_progress
    assert deploy.version == "-"
    assert deploy.duration_seconds is None


def test_deploy_ended_failure_reason_is_readable() -> None:
    """The structured cause in a deploy_ended event reads as 'nonZeroExit=1'."""
    event = Event.model_validate(
        {
            "id": "evt-1",
            "type": "deploy_ended",
            "details": {
                "deployId": "dep-1",
                "deployStatus": "failed",
                "reason": {"failure": {"nonZeroExit": 1, "oomKilled": None}},
            },
        }
    )
    assert event.failure_reason == "nonZeroExit=1"
    assert event.deploy_id == "dep-1"


def test_logs_follow_has_more_across_pages(sim_factory: Callable[..., Any]) -> None:
    """Reading a long window forward follows nextStartTime until hasMore is false."""
    server = sim_factory("demo")
    client = client_for(server)
    service = client.get_service(WEB)
    start = service.created_at
    assert start is not None
    entries = list(
        client.iter_logs(server.owner_id, WEB, start_time=start, end_time=client.server_now())
    )
    pages = gets(server, "/logs")
    ids = [e.id for e in entries]
    assert len(ids) == len(set(ids)), "paging must not repeat entries"
    if len(entries) > 100:
        assert len(pages) >= 2
    times = [e.timestamp for e in entries if e.timestamp]
    assert times == sorted(times)
