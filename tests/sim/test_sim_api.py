"""The simulated Render API's reads and writes: pagination, env vars, env groups, logs, Postgres."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import demo
import httpx
import pytest
from simsupport import ENV_GROUP, MAIN_DB, OWNER, WEB, WORKER, StartSim, client_for

from releaser.sim import ManualClock, SimServer


def test_requests_without_the_key_get_401(server: SimServer) -> None:
    """No or wrong Bearer key: 401 {id, message}, like Render."""
    for headers in ({}, {"Authorization": "Bearer rnd_wrong"}):
        response = httpx.get(server.url + "/services", headers=headers)
        assert response.status_code == 401
        assert set(response.json()) == {"id", "message"}


def test_unknown_paths_are_404_with_id_and_message(api: httpx.Client) -> None:
    """An unknown endpoint or resource answers 404 {id, message}."""
    for path in ("/nope", f"/services/{WEB}/nope", "/services/srv-missing", "/postgres/dpg-x"):
        response = api.get(path)
        assert response.status_code == 404, path
        assert set(response.json()) == {"id", "message"}


def test_services_filter_by_name_type_and_owner(api: httpx.Client) -> None:
    """GET /services filters by name, type and ownerId and wraps each item with a cursor."""
    assert [i["service"]["name"] for i in api.get("/services", params={"name": "web"}).json()] == [
        "web"
    ]
    workers = api.get("/services", params={"type": "background_worker"}).json()
    assert [i["service"]["id"] for i in workers] == [WORKER]
    assert len(api.get("/services", params={"ownerId": OWNER}).json()) == 2
    assert api.get("/services", params={"ownerId": "tea-other"}).json() == []


def test_cursor_pagination_walks_every_deploy_newest_first(api: httpx.Client) -> None:
    """Passing the last cursor back yields the next page, without repeats or gaps."""
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        batch = api.get(f"/services/{WEB}/deploys", params=params).json()
        if not batch:
            break
        seen += [item["deploy"] for item in batch]
        cursor = batch[-1]["cursor"]
    assert len(seen) == 8 and len({d["id"] for d in seen}) == 8
    created = [d["createdAt"] for d in seen]
    assert created == sorted(created, reverse=True)


def test_deploy_filters_and_limit_bounds(api: httpx.Client) -> None:
    """status and createdAfter filter deploys; limit outside 1..100 is a 400."""
    failed = api.get(
        f"/services/{WEB}/deploys", params={"status": "build_failed,update_failed"}
    ).json()
    assert {i["deploy"]["status"] for i in failed} == {"build_failed", "update_failed"}
    live = api.get(f"/services/{WEB}/deploys", params={"status": "live"}).json()
    after = api.get(
        f"/services/{WEB}/deploys", params={"createdAfter": live[0]["deploy"]["createdAt"]}
    )
    assert after.json() == []
    assert api.get(f"/services/{WEB}/deploys", params={"limit": 101}).status_code == 400
    assert api.get(f"/services/{WEB}/deploys", params={"limit": 100}).status_code == 200
    assert api.get(f"/services/{WEB}/deploys", params={"cursor": "bogus"}).status_code == 400


def test_put_env_vars_replaces_all_of_them(api: httpx.Client) -> None:
    """PUT /env-vars drops every key not in the new list (Render's foot-gun, simulated)."""
    before = {
        i["envVar"]["key"]
        for i in api.get(f"/services/{WEB}/env-vars", params={"limit": 100}).json()
    }
    assert {"DATABASE_URL", "SECRET_KEY"} <= before
    response = api.put(
        f"/services/{WEB}/env-vars",
        json=[{"key": "ONLY", "value": "1"}, {"key": "TOKEN", "generateValue": True}],
    )
    assert response.status_code == 200
    after = {i["envVar"]["key"]: i["envVar"]["value"] for i in response.json()}
    assert set(after) == {"ONLY", "TOKEN"} and len(after["TOKEN"]) >= 32
    listed = api.get(f"/services/{WEB}/env-vars").json()
    assert {i["envVar"]["key"] for i in listed} == {"ONLY", "TOKEN"}


def test_single_env_var_get_put_delete(api: httpx.Client) -> None:
    """GET/PUT/DELETE one key; a missing key is 404."""
    assert api.get(f"/services/{WEB}/env-vars/WEB_CONCURRENCY").json() == {
        "key": "WEB_CONCURRENCY",
        "value": "4",
    }
    put = api.put(f"/services/{WEB}/env-vars/FEATURE_X", json={"value": "on"})
    assert put.status_code == 200 and put.json() == {"key": "FEATURE_X", "value": "on"}
    assert api.delete(f"/services/{WEB}/env-vars/FEATURE_X").status_code == 204
    assert api.get(f"/services/{WEB}/env-vars/FEATURE_X").status_code == 404
    assert api.delete(f"/services/{WEB}/env-vars/FEATURE_X").status_code == 404


def test_env_vars_paginate_by_key_cursor(api: httpx.Client) -> None:
    """Env vars page with cursors like every other list."""
    first = api.get(f"/services/{WEB}/env-vars", params={"limit": 2}).json()
    second = api.get(
        f"/services/{WEB}/env-vars", params={"limit": 2, "cursor": first[-1]["cursor"]}
    ).json()
    keys = [i["envVar"]["key"] for i in first + second]
    assert len(keys) == 4 and len(set(keys)) == 4


def test_env_groups_are_a_bare_array_with_service_links(api: httpx.Client) -> None:
    """GET /env-groups has no cursor wrapper; the detail lists vars and linked services."""
    groups = api.get("/env-groups").json()
    assert [g["id"] for g in groups] == [ENV_GROUP]
    assert "envVars" not in groups[0]
    detail = api.get(f"/env-groups/{ENV_GROUP}").json()
    assert {v["key"] for v in detail["envVars"]} == {"SESSION_SECRET", "SENTRY_DSN"}
    assert detail["serviceLinks"] == [{"id": WEB, "name": "web", "type": "web"}]


def test_patch_service_sets_auto_deploy(api: httpx.Client) -> None:
    """PATCH autoDeploy "no" is kept; a non-enum value is a 400."""
    response = api.patch(f"/services/{WEB}", json={"autoDeploy": "no"})
    assert response.status_code == 200 and response.json()["autoDeploy"] == "no"
    assert api.get(f"/services/{WEB}").json()["autoDeploy"] == "no"
    assert api.patch(f"/services/{WEB}", json={"autoDeploy": False}).status_code == 400


def test_logs_page_backward_without_repeats_or_gaps(
    start_sim: StartSim, clock: ManualClock
) -> None:
    """Following nextEndTime while hasMore returns every line exactly once, newest first."""
    server = start_sim("crash-loop")
    api = client_for(server)
    created = api.post(f"/services/{WEB}/deploys", json={}).json()["createdAt"]
    clock.advance(400)
    params: dict[str, Any] = {"ownerId": OWNER, "resource": WEB, "startTime": created, "limit": 37}
    collected: list[dict[str, Any]] = []
    for _ in range(100):
        body = api.get("/logs", params=params).json()
        collected += body["logs"]
        if not body["hasMore"]:
            break
        params["endTime"] = body["nextEndTime"]
    everything = _all_logs(api, created, direction="forward")
    assert [e["id"] for e in collected] == [e["id"] for e in reversed(everything)]
    assert len(collected) > 37 * 3
    stamps = [e["timestamp"] for e in collected]
    assert stamps == sorted(stamps, reverse=True) and len(set(stamps)) == len(stamps)


def _all_logs(api: httpx.Client, start: str, direction: str) -> list[dict[str, Any]]:
    params: dict[str, Any] = {
        "ownerId": OWNER,
        "resource": WEB,
        "startTime": start,
        "limit": 100,
        "direction": direction,
    }
    out: list[dict[str, Any]] = []
    while True:
        body = api.get("/logs", params=params).json()
        out += body["logs"]
        if not body["hasMore"]:
            return out
        params["startTime"] = body["nextStartTime"]


def test_logs_forward_filters_and_required_params(start_sim: StartSim, clock: ManualClock) -> None:
    """Forward paging is oldest first; level/type/text filter; ownerId and resource are required."""
    api = client_for(start_sim("build-fail"))
    created = api.post(f"/services/{WEB}/deploys", json={}).json()["createdAt"]
    clock.advance(120)
    forward = _all_logs(api, created, "forward")
    assert forward[0]["message"].startswith("==> Cloning from")
    errors = api.get(
        "/logs", params={"ownerId": OWNER, "resource": WEB, "startTime": created, "level": "error"}
    )
    assert errors.json()["logs"] and all(
        {"name": "level", "value": "error"} in e["labels"] for e in errors.json()["logs"]
    )
    text = api.get(
        "/logs",
        params={"ownerId": OWNER, "resource": WEB, "startTime": created, "text": "flask==9.9.9"},
    )
    assert len(text.json()["logs"]) == 2
    assert api.get("/logs", params={"resource": WEB}).status_code == 400
    assert api.get("/logs", params={"ownerId": OWNER}).status_code == 400
    assert (
        api.get("/logs", params={"ownerId": OWNER, "resource": WEB, "limit": 500}).status_code
        == 400
    )
    assert api.get("/logs", params={"ownerId": OWNER, "resource": WORKER}).json()["logs"] == []


def test_history_logs_sit_in_each_deploy_window(api: httpx.Client) -> None:
    """A history deploy's logs lie in its createdAt..finishedAt window (no deploy filter)."""
    failed = api.get(f"/services/{WEB}/deploys/{demo.BUILD_FAILED}").json()
    body = api.get(
        "/logs",
        params={
            "ownerId": OWNER,
            "resource": WEB,
            "startTime": failed["createdAt"],
            "endTime": failed["finishedAt"],
            "limit": 100,
        },
    ).json()
    messages = [e["message"] for e in body["logs"]]
    assert "==> Build failed 😞" in messages


def test_events_paginate_and_filter_by_type(api: httpx.Client) -> None:
    """Events are newest first, filter by type, and carry cursors."""
    ended = api.get(f"/services/{WEB}/events", params={"type": "deploy_ended", "limit": 100}).json()
    assert len(ended) == 8
    failures = [e["event"]["details"]["reason"].get("failure") for e in ended]
    assert {"evicted": False, "nonZeroExit": 1} in failures
    first = api.get(f"/services/{WEB}/events", params={"limit": 5}).json()
    nxt = api.get(
        f"/services/{WEB}/events", params={"limit": 5, "cursor": first[-1]["cursor"]}
    ).json()
    assert not {e["event"]["id"] for e in first} & {e["event"]["id"] for e in nxt}


def test_postgres_connection_info_uses_a_mapped_dsn(start_sim: StartSim) -> None:
    """A Postgres mapped onto a real DSN returns it from connection-info, with derived names."""
    from releaser.sim import load_scenario

    scenario = load_scenario("demo")
    scenario.postgres[0].dsn = "postgresql://app:s3cr%40t@127.0.0.1:5432/appdb"
    scenario.postgres[0].database_name = scenario.postgres[0].user = scenario.postgres[
        0
    ].password = None
    api = client_for(start_sim(scenario))
    info = api.get(f"/postgres/{MAIN_DB}/connection-info").json()
    assert info["externalConnectionString"] == "postgresql://app:s3cr%40t@127.0.0.1:5432/appdb"
    assert info["password"] == "s3cr@t"
    detail = api.get(f"/postgres/{MAIN_DB}").json()
    assert (detail["databaseName"], detail["databaseUser"]) == ("appdb", "app")
    listed = api.get("/postgres", params={"name": "main-db"}).json()
    assert [i["postgres"]["id"] for i in listed] == [MAIN_DB]


def test_map_postgres_at_runtime(server: SimServer, api: httpx.Client) -> None:
    """map_postgres points an instance at a real database (as `sim serve --postgres` does)."""
    with server.state.lock:
        server.state.map_postgres("main-db", "postgresql://postgres@127.0.0.1:5432/drill")
    info = api.get(f"/postgres/{MAIN_DB}/connection-info").json()
    assert info["internalConnectionString"] == "postgresql://postgres@127.0.0.1:5432/drill"


def test_postgres_export_is_202_then_listed(api: httpx.Client) -> None:
    """POST export answers 202 with no body; GET lists {id, createdAt, url}."""
    response = api.post(f"/postgres/{MAIN_DB}/export")
    assert response.status_code == 202 and response.content == b""
    exports = api.get(f"/postgres/{MAIN_DB}/export").json()
    assert len(exports) == 1
    path, _, signed = exports[0]["url"].partition("?")  # signed and expiring, like S3's
    assert path.endswith(".dir.tar.gz") and "expires=" in signed and "signature=" in signed


def test_point_in_time_recovery_creates_a_new_database(
    api: httpx.Client, clock: ManualClock
) -> None:
    """Recovery needs a restoreTime older than 10 minutes and creates a new dpg- instance."""
    info = api.get(f"/postgres/{MAIN_DB}/recovery").json()
    assert info["recoveryStatus"] == "AVAILABLE"
    now = clock.now()
    too_recent = (now - timedelta(minutes=5)).isoformat()
    assert (
        api.post(f"/postgres/{MAIN_DB}/recovery", json={"restoreTime": too_recent}).status_code
        == 400
    )
    good = (now - timedelta(hours=1)).isoformat()
    response = api.post(
        f"/postgres/{MAIN_DB}/recovery", json={"restoreTime": good, "restoreName": "main-db-pitr"}
    )
    assert response.status_code == 200
    new = response.json()
    assert (
        new["id"] != MAIN_DB
        and new["name"] == "main-db-pitr"
        and new["status"] == "recovery_in_progress"
    )
    clock.advance(600)
    assert api.get(f"/postgres/{new['id']}").json()["status"] == "available"
    assert len(api.get("/postgres").json()) == 2


@pytest.mark.parametrize("when", ["2024-01-01T00:00:00+00:00", "2024-01-01T00:00:00Z"])
def test_time_params_accept_offsets(api: httpx.Client, when: str) -> None:
    """RFC 3339 times with Z or +00:00 are accepted; a bare date-time without offset is 400."""
    assert api.get(f"/services/{WEB}/deploys", params={"createdAfter": when}).status_code == 200
    assert datetime.fromisoformat(when)
    assert (
        api.get(f"/services/{WEB}/deploys", params={"createdAfter": "yesterday"}).status_code == 400
    )


def test_history_statuses_are_kept_as_the_file_declares(start_sim: StartSim, tmp_path: Any) -> None:
    """A live deploy older than a deactivated one stays live: the scenario file wins."""
    from releaser.sim import load_scenario

    path = tmp_path / "odd.toml"
    path.write_text(
        '[owner]\nid = "tea-a"\nname = "T"\n\n[[services]]\nid = "srv-a"\nname = "a"\n'
        'deploys = [{ id = "dep-old", status = "live", created_at = "-2d" },\n'
        '           { id = "dep-new", status = "deactivated", created_at = "-1d" }]\n'
    )
    api = client_for(start_sim(load_scenario(str(path))))
    statuses = {
        i["deploy"]["id"]: i["deploy"]["status"] for i in api.get("/services/srv-a/deploys").json()
    }
    assert statuses == {"dep-old": "live", "dep-new": "deactivated"}
