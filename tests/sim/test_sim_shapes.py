"""The simulator speaks real Render shapes (the built-in scenario render-shapes, and fields)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import demo
import httpx
import pytest
from simsupport import StartSim, client_for

from releaser.errors import ConfigError
from releaser.sim import ManualClock, load_scenario

OWNER = "tea-r3nd3rsh4p3s0000001"
API = "srv-sh4p3sapi0000000001"
API_TWIN = "srv-sh4p3sapi0000000002"
PROXY = "srv-sh4p3s1m4g30000001"
UPLOADS = "srv-sh4p3sd1sk000000001"
CHECKOUT = "srv-sh4p3sbusy000000001"
RUNNING = "dep-sh4p3sbusy00000000c"
SEARCH = "srv-sh4p3spr1v000000001"
CRON = "crn-sh4p3scr0n000000001"


def deploys(api: httpx.Client, service: str, **params: Any) -> list[dict[str, Any]]:
    response = api.get(f"/services/{service}/deploys", params={"limit": 100, **params})
    assert response.status_code == 200, response.text
    return [item["deploy"] for item in response.json()]


def get_deploy(api: httpx.Client, service: str, deploy_id: str) -> dict[str, Any]:
    return dict(api.get(f"/services/{service}/deploys/{deploy_id}").json())


def new_deploy(api: httpx.Client, service: str, **body: Any) -> dict[str, Any]:
    response = api.post(f"/services/{service}/deploys", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def event_types(api: httpx.Client, service: str) -> list[str]:
    response = api.get(f"/services/{service}/events", params={"limit": 100})
    return [item["event"]["type"] for item in response.json()]


def test_service_shapes_match_recorded_render(start_sim: StartSim) -> None:
    """Every type; private url is name:port; cron has a crn- id; empty health path; a disk;
    autoDeployTrigger beside autoDeploy; a shared name gets distinct URLs (by id)."""
    api = client_for(start_sim("render-shapes"))
    services = {s["service"]["id"]: s["service"] for s in api.get("/services").json()}
    assert {s["type"] for s in services.values()} == {
        "web_service",
        "private_service",
        "background_worker",
        "cron_job",
        "static_site",
    }
    assert services[SEARCH]["serviceDetails"]["url"] == "search:10000"
    assert services[CRON]["type"] == "cron_job"
    assert services[API]["serviceDetails"]["healthCheckPath"] == ""
    assert services[API]["autoDeployTrigger"] == "checksPass"
    assert services[API]["autoDeploy"] == "yes"
    assert services[UPLOADS]["serviceDetails"]["disk"]["mountPath"] == "/var/data"
    assert services[API]["name"] == services[API_TWIN]["name"] == "api"
    urls = {services[API]["serviceDetails"]["url"], services[API_TWIN]["serviceDetails"]["url"]}
    assert len(urls) == 2 and all(url.endswith(("1", "2")) for url in urls)
    assert (
        services[API]["serviceDetails"]["envSpecificDetails"]["preDeployCommand"]
        == "python manage.py migrate"
    )


def test_apps_answer_404_on_paths_they_do_not_serve(start_sim: StartSim) -> None:
    """An API without a root route: '/' is 404, its route is 200 (what Render's port check
    would call up)."""
    server = start_sim("render-shapes")
    url = server.app_url(API)
    assert httpx.get(url).status_code == 404
    assert httpx.get(url + "/v1/orders").status_code == 200
    assert httpx.get(server.app_url("storefront") + "/healthz").status_code == 200


def test_a_reused_tag_gets_a_new_digest_and_a_rollback_keeps_its_digest(
    start_sim: StartSim, clock: ManualClock
) -> None:
    """nginx:latest deployed again resolves to a new digest; rolling back reuses the old one;
    image deploys carry commit: null."""
    api = client_for(start_sim("render-shapes"))
    before = deploys(api, PROXY)
    digests = {d["image"]["sha"] for d in before}
    assert len(digests) == 3 and {d["image"]["ref"] for d in before} == {
        "docker.io/library/nginx:latest"
    }
    assert all(d["commit"] is None for d in before)
    assert [d["finishedAt"] for d in before].count(None) == 2
    fresh = new_deploy(api, PROXY)
    assert fresh["image"]["sha"] not in digests
    clock.advance(300)
    assert get_deploy(api, PROXY, fresh["id"])["status"] == "live"
    older = before[1]
    back = api.post(f"/services/{PROXY}/rollback", json={"deployId": older["id"]}).json()
    assert back["image"]["sha"] == older["image"]["sha"]


def test_a_deploy_declared_in_progress_runs_on_and_goes_live(
    start_sim: StartSim, clock: ManualClock
) -> None:
    """checkout's scenario deploy is build_in_progress at start (finishedAt null), then live;
    the previous live one is deactivated."""
    api = client_for(start_sim("render-shapes"))
    running = get_deploy(api, CHECKOUT, RUNNING)
    assert running["status"] == "build_in_progress" and running["finishedAt"] is None
    assert running["createdAt"] < running["startedAt"]
    clock.advance(125)
    assert get_deploy(api, CHECKOUT, RUNNING)["status"] == "update_in_progress"
    clock.advance(40)
    assert get_deploy(api, CHECKOUT, RUNNING)["status"] == "live"
    assert [d["status"] for d in deploys(api, CHECKOUT)][:2] == ["live", "deactivated"]


def test_a_new_deploy_supersedes_the_declared_one(start_sim: StartSim) -> None:
    """Render's overlap policy applies to a declared running deploy too: it is canceled."""
    api = client_for(start_sim("render-shapes"))
    new_deploy(api, CHECKOUT)
    assert get_deploy(api, CHECKOUT, RUNNING)["status"] == "canceled"


def test_pre_deploy_runs_between_build_and_update(start_sim: StartSim, clock: ManualClock) -> None:
    """api has a pre-deploy command: the deploy passes pre_deploy_in_progress with
    pre_deploy_started/ended events and its output in the logs."""
    api = client_for(start_sim("render-shapes"))
    created = new_deploy(api, API)
    seen = set()
    for _ in range(20):
        clock.advance(10)
        seen.add(get_deploy(api, API, created["id"])["status"])
    assert {"build_in_progress", "pre_deploy_in_progress", "update_in_progress", "live"} <= seen
    assert {"pre_deploy_started", "pre_deploy_ended"} <= set(event_types(api, API))


def test_a_failed_pre_deploy_fails_the_deploy_and_the_old_version_serves(
    start_sim: StartSim, clock: ManualClock
) -> None:
    """pre_deploy_failed: status pre_deploy_failed, its log lines readable, the live deploy
    untouched and answering."""
    server = start_sim("render-shapes")
    api = client_for(server)
    server.queue_behaviour(API, "pre_deploy_failed", log_lines=["relation orders already exists"])
    created = new_deploy(api, API)
    clock.advance(200)
    assert get_deploy(api, API, created["id"])["status"] == "pre_deploy_failed"
    assert [d["status"] for d in deploys(api, API)][1] == "live"
    assert httpx.get(server.app_url(API) + "/v1").status_code == 200
    logs = api.get(
        "/logs",
        params={"ownerId": OWNER, "resource": API, "limit": 100, "text": "orders already"},
    ).json()["logs"]
    assert [line["message"] for line in logs] == ["relation orders already exists"]
    ended = api.get(
        f"/services/{API}/events", params={"type": "pre_deploy_ended", "limit": 1}
    ).json()
    assert ended[0]["event"]["details"]["preDeployStatus"] == "failed"


def test_a_service_with_a_disk_is_down_while_it_deploys(
    start_sim: StartSim, clock: ManualClock
) -> None:
    """No zero-downtime deploy with a disk: the URL answers 503 during the update, 200 after."""
    server = start_sim("render-shapes")
    api = client_for(server)
    server.queue_behaviour(UPLOADS, "succeed", build_seconds=20, update_seconds=30)
    created = new_deploy(api, UPLOADS)
    clock.advance(30)
    assert get_deploy(api, UPLOADS, created["id"])["status"] == "update_in_progress"
    assert httpx.get(server.app_url(UPLOADS)).status_code == 503
    clock.advance(30)
    assert httpx.get(server.app_url(UPLOADS)).status_code == 200


def test_auto_deploy_and_its_trigger_move_together(start_sim: StartSim) -> None:
    """PATCH autoDeploy "no" means trigger "off"; PATCH autoDeployTrigger restores checksPass."""
    api = client_for(start_sim("render-shapes"))
    off = api.patch(f"/services/{API}", json={"autoDeploy": "no"}).json()
    assert (off["autoDeploy"], off["autoDeployTrigger"]) == ("no", "off")
    back = api.patch(f"/services/{API}", json={"autoDeployTrigger": "checksPass"}).json()
    assert (back["autoDeploy"], back["autoDeployTrigger"]) == ("yes", "checksPass")
    assert api.patch(f"/services/{API}", json={"autoDeployTrigger": "x"}).status_code == 400


def test_the_status_filter_quirk_returns_every_status(start_sim: StartSim) -> None:
    """render-shapes' deploy list ignores ?status=live, as releaser must expect."""
    api = client_for(start_sim("render-shapes"))
    statuses = {d["status"] for d in deploys(api, CHECKOUT, status="live")}
    assert statuses == {"live", "deactivated", "build_in_progress"}
    plain = client_for(start_sim("demo"))
    web = demo.WEB
    assert {d["status"] for d in deploys(plain, web, status="live")} == {"live"}


def test_postgres_nulls_and_missing_fields(start_sim: StartSim) -> None:
    """ipAllowList null, no project, no diskAutoscalingEnabled, status creating / unknown."""
    api = client_for(start_sim("render-shapes"))
    found = {p["postgres"]["name"]: p["postgres"] for p in api.get("/postgres").json()}
    assert found["shapes-db"]["ipAllowList"] is None
    assert found["shapes-db-new"]["status"] == "creating"
    assert "diskAutoscalingEnabled" not in found["shapes-db-new"]
    assert found["shapes-db-old"]["status"] == "unknown"
    detail = api.get("/postgres/dpg-sh4p3sdb00000000001-a").json()
    assert "project" not in detail


HEADER = """\
[owner]
id = "tea-abc"
name = "Team"

"""


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (
            """\
            [[services]]
            id = "srv-a"
            name = "a"
            deploys = [
                { id = "dep-1", status = "build_in_progress", created_at = "-1m" },
                { id = "dep-2", status = "live", created_at = "-1h" },
                { id = "dep-3", status = "queued", created_at = "-30s" },
            ]
            """,
            "more than one deploy in progress",
        ),
        (
            """\
            [[services]]
            id = "srv-a"
            name = "a"
            deploys = [
                { id = "dep-1", status = "build_in_progress", created_at = "-1h" },
                { id = "dep-2", status = "live", created_at = "-1m" },
            ]
            """,
            "must be the service's newest",
        ),
        (
            """\
            [[services]]
            id = "srv-a"
            name = "a"
            deploys = [{ id = "dep-1", status = "live", created_at = "-1h", then = {} }]
            """,
            "'then' is only for a deploy in progress",
        ),
        (
            """\
            [[services]]
            id = "srv-a"
            name = "a"
            deploys = [{ id = "dep-1", status = "pre_deploy_in_progress", created_at = "-1m" }]
            """,
            "pre_deploy_in_progress needs the service's pre_deploy_command",
        ),
        (
            """\
            [[services]]
            id = "srv-a"
            name = "a"
            auto_deploy = "no"
            auto_deploy_trigger = "commit"
            """,
            'auto_deploy = "no" goes with auto_deploy_trigger = "off"',
        ),
        (
            """\
            [[services]]
            id = "cron-a"
            name = "a"
            """,
            "services[0].id",
        ),
    ],
)
def test_bad_shape_fields_are_one_line_errors(tmp_path: Path, body: str, fragment: str) -> None:
    """A scenario that declares an impossible shape is refused with the key that is wrong."""
    path = tmp_path / "bad.toml"
    path.write_text(HEADER + textwrap.dedent(body), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_scenario(str(path))
    assert fragment in caught.value.one_line()


@pytest.mark.parametrize(
    "status",
    ["created", "queued", "build_in_progress", "pre_deploy_in_progress", "update_in_progress"],
)
def test_every_in_progress_status_can_be_declared_and_runs_on(
    tmp_path: Path, start_sim: StartSim, clock: ManualClock, status: str
) -> None:
    """A scenario deploy declared in any in-progress status is in it at start, then goes live
    and deactivates the live one; the phases after it still happen."""
    path = tmp_path / "running.toml"
    path.write_text(
        HEADER
        + textwrap.dedent(
            f"""\
            [[services]]
            id = "srv-a"
            name = "a"
            pre_deploy_command = "migrate"
            deploys = [
                {{ id = "dep-1", status = "live", created_at = "-1d" }},
                {{ id = "dep-2", status = "{status}", created_at = "-2m" }},
            ]
            """
        ),
        encoding="utf-8",
    )
    api = client_for(start_sim(load_scenario(str(path))))
    assert get_deploy(api, "srv-a", "dep-2")["status"] == status
    seen = set()
    for _ in range(30):
        clock.advance(10)
        seen.add(get_deploy(api, "srv-a", "dep-2")["status"])
    assert "live" in seen and "update_in_progress" in seen
    assert get_deploy(api, "srv-a", "dep-1")["status"] == "deactivated"


def test_maintenance_mode_serves_its_page_with_503_until_turned_off(start_sim: StartSim) -> None:
    """PATCH serviceDetails.maintenanceMode: the app answers 503 with the page while it is
    on, the service shows it, and it serves again once it is off; a worker cannot have it."""
    server = start_sim("render-shapes")
    api = client_for(server)
    assert httpx.get(server.app_url(UPLOADS)).status_code == 200
    page = "https://status.example.com/maintenance"
    mode = {"serviceDetails": {"maintenanceMode": {"enabled": True, "uri": page}}}
    on = api.patch(f"/services/{UPLOADS}", json=mode).json()
    assert on["serviceDetails"]["maintenanceMode"] == {"enabled": True, "uri": page}
    answer = httpx.get(server.app_url(UPLOADS))
    assert answer.status_code == 503 and answer.json()["page"] == page
    off = {"serviceDetails": {"maintenanceMode": {"enabled": False, "uri": ""}}}
    assert api.patch(f"/services/{UPLOADS}", json=off).status_code == 200
    assert httpx.get(server.app_url(UPLOADS)).status_code == 200
    bad = {"serviceDetails": {"maintenanceMode": {"enabled": "yes"}}}
    assert api.patch(f"/services/{UPLOADS}", json=bad).status_code == 400
