"""Faults, rate limits, request recording and the /_sim debug endpoints."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import demo
import httpx
import pytest
from simsupport import WEB, StartSim, client_for

from releaser.sim import RateLimits, SimServer


def test_a_429_fault_has_render_s_body_and_retry_after(start_sim: StartSim) -> None:
    """429 faults answer {"error": ...} with Retry-After, `count` times, then stop."""
    server = start_sim("demo")
    server.add_fault(method="GET", path="/services", status=429, retry_after=7, count=2)
    api = client_for(server)
    for _ in range(2):
        response = api.get("/services")
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "7"
        assert "error" in response.json()
    assert api.get("/services").status_code == 200


def test_flaky_api_scenario_fails_some_reads_then_recovers(start_sim: StartSim) -> None:
    """flaky-api: GET /services/*/deploys gives 503 twice, then answers."""
    api = client_for(start_sim("flaky-api"))
    codes = [api.get(f"/services/{WEB}/deploys").status_code for _ in range(3)]
    assert codes == [503, 503, 200]
    assert api.get(f"/services/{WEB}/deploys/{demo.LIVE}").status_code == 502
    assert api.get(f"/services/{WEB}/env-vars").status_code == 200  # not matched


def test_a_dropped_connection_raises_in_the_client(server: SimServer, api: httpx.Client) -> None:
    """drop closes the connection without an answer; the request is recorded with status 0."""
    server.add_fault(method="POST", path="/services/*/deploys", drop=True, count=1)
    with pytest.raises(httpx.RemoteProtocolError):
        api.post(f"/services/{WEB}/deploys", json={})
    assert server.requests[-1].status == 0 and server.requests[-1].fault
    assert _deploy_count(api) == 8  # not applied


def test_an_applied_fault_fails_after_the_deploy_went_through(
    server: SimServer, api: httpx.Client
) -> None:
    """applied=True: the deploy is created, the client still sees a 502 (list before retrying!)."""
    server.add_fault(method="POST", path="/services/*/deploys", status=502, applied=True, count=1)
    assert api.post(f"/services/{WEB}/deploys", json={"commitId": "e" * 40}).status_code == 502
    newest = api.get(f"/services/{WEB}/deploys", params={"limit": 1}).json()[0]["deploy"]
    assert newest["commit"]["id"] == "e" * 40
    assert _deploy_count(api) == 9


def test_queued_202_creates_the_deploy_but_returns_no_body(
    server: SimServer, api: httpx.Client
) -> None:
    """queued_202: POST /deploys answers 202 with an empty body; the deploy exists."""
    server.add_fault(method="POST", path="/services/*/deploys", queued_202=True, count=1)
    response = api.post(f"/services/{WEB}/deploys", json={"commitId": "d" * 40})
    assert response.status_code == 202 and response.content == b""
    listed = api.get(f"/services/{WEB}/deploys", params={"limit": 1}).json()
    assert listed[0]["deploy"]["commit"]["id"] == "d" * 40


def test_a_delay_fault_slows_the_answer(server: SimServer, api: httpx.Client) -> None:
    """delay_seconds stalls long enough for a client timeout to fire."""
    server.add_fault(method="GET", path="/owners", delay_seconds=0.5, count=1)
    with pytest.raises(httpx.ReadTimeout):
        api.get("/owners", timeout=0.1)


def test_glob_star_is_one_segment_and_double_star_any(server: SimServer, api: httpx.Client) -> None:
    """'/services/*' matches a service, not its deploys; '/services/**' matches both."""
    server.add_fault(method="GET", path="/services/*", status=500)
    assert api.get(f"/services/{WEB}").status_code == 500
    assert api.get(f"/services/{WEB}/deploys").status_code == 200
    server.faults.clear()
    server.add_fault(path="/services/**", status=503)
    assert api.get(f"/services/{WEB}/deploys").status_code == 503
    assert api.get("/owners").status_code == 200


def test_rate_limit_headers_on_every_response_and_429_when_spent(start_sim: StartSim) -> None:
    """Deploy POSTs are 10 per window per service; the 11th is 429 with Retry-After."""
    server = start_sim("demo", rate_limits=True)
    api = client_for(server)
    read = api.get("/services")
    assert read.headers["Ratelimit-Limit"] == "400"
    assert read.headers["Ratelimit-Remaining"] == "399"
    assert 0 < int(read.headers["Ratelimit-Reset"]) <= 60
    remaining = [
        api.post(f"/services/{WEB}/deploys", json={}).headers["Ratelimit-Remaining"]
        for _ in range(10)
    ]
    assert remaining == [str(n) for n in range(9, -1, -1)]
    refused = api.post(f"/services/{WEB}/deploys", json={})
    assert refused.status_code == 429
    assert "error" in refused.json() and int(refused.headers["Retry-After"]) >= 1
    assert api.post(f"/services/{WEB}/suspend").status_code == 429  # same per-service bucket
    assert api.get(f"/services/{WEB}/deploys").status_code == 200  # reads are separate


def test_rate_limit_window_resets_in_real_time(start_sim: StartSim) -> None:
    """A configurable window: once it passes, the bucket is full again."""
    import time

    server = start_sim("demo", rate_limits=RateLimits(read_per_window=2, window_seconds=0.3))
    api = client_for(server)
    assert [api.get("/owners").status_code for _ in range(3)] == [200, 200, 429]
    time.sleep(0.35)
    assert api.get("/owners").status_code == 200


def test_requests_are_recorded_with_query_body_and_status(
    server: SimServer, api: httpx.Client
) -> None:
    """Every API request is recorded: method, path, query, JSON body, status."""
    api.get(f"/services/{WEB}/deploys", params={"limit": 5, "status": ["live", "deactivated"]})
    api.put(f"/services/{WEB}/env-vars/X", json={"value": "1"})
    httpx.get(server.url + "/owners")  # no key
    first, second, third = server.requests[-3:]
    assert (first.method, first.path, first.query) == (
        "GET",
        f"/v1/services/{WEB}/deploys",
        {"limit": "5", "status": "live,deactivated"},
    )
    assert first.status == 200 and first.json is None
    assert (second.method, second.json, second.status) == ("PUT", {"value": "1"}, 200)
    assert third.status == 401


def test_debug_endpoints_drive_a_simulator_from_another_process(server: SimServer) -> None:
    """/_sim/faults, /_sim/behaviours, /_sim/clock, /_sim/state and /_sim/requests need no key."""
    base = server.url.removesuffix("/v1")
    assert (
        httpx.post(
            base + "/_sim/faults", json={"path": "/owners", "status": 503, "count": 1}
        ).status_code
        == 201
    )
    assert httpx.post(base + "/_sim/faults", json={"path": "/owners"}).status_code == 400
    queued = httpx.post(
        base + "/_sim/behaviours", json={"service": "web", "behaviour": "crash_loop"}
    )
    assert queued.status_code == 201
    assert httpx.post(base + "/_sim/behaviours", json={"service": "nope"}).status_code == 404
    api = client_for(server)
    assert api.get("/owners").status_code == 503
    deploy = api.post(f"/services/{WEB}/deploys", json={}).json()
    httpx.post(base + "/_sim/clock", json={"advance_seconds": 2000})
    state = httpx.get(base + "/_sim/state").json()
    web = next(s for s in state["services"] if s["name"] == "web")
    assert (
        web["deploys"][0]["id"] == deploy["id"] and web["deploys"][0]["status"] == "update_failed"
    )
    assert web["deploys"][0]["behaviour"] == "crash_loop"
    assert "SECRET_KEY" in web["env"] and "ddfa30cb" not in str(state)
    recorded = httpx.get(base + "/_sim/requests").json()
    assert [r["status"] for r in recorded] == [503, 201]
    assert all(not r["path"].startswith("/_sim/") for r in recorded)


def _deploy_count(api: httpx.Client) -> int:
    return len(api.get(f"/services/{WEB}/deploys", params={"limit": 100}).json())


def test_recorded_requests_mask_env_var_values(sim_factory: Callable[..., Any]) -> None:
    """/_sim/requests shows which env vars were written, never their values."""
    server = sim_factory("demo")
    secret = "n3w-t0ken-Zx81Kq2Lm9Pw4Rt7Yv0Bc3Nd"
    headers = {"Authorization": f"Bearer {server.api_key}"}
    with httpx.Client(base_url=server.url, headers=headers) as api:
        api.put(f"/services/{WEB}/env-vars/API_TOKEN", json={"value": secret})
        api.put(f"/services/{WEB}/env-vars", json=[{"key": "ONLY", "value": secret}])
    recorded = httpx.get(server.base_url + "/_sim/requests").json()
    assert secret not in json.dumps(recorded)
    bodies = [r["json"] for r in recorded]
    assert bodies[0] == {"value": f"****** (len {len(secret)}, fp {bodies[0]['value'][-9:-1]})"}
    assert bodies[1][0]["key"] == "ONLY" and bodies[1][0]["value"].startswith("****** (len 34")
