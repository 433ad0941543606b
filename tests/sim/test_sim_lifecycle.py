"""Deploy lifecycles over simulated time: each behaviour, supersede, cancel, rollback, health."""

from __future__ import annotations

from typing import Any

import demo
import httpx
from simsupport import LIVE_WEB_DEPLOY, OWNER, WEB, StartSim, client_for

from releaser.sim import ManualClock, ScaledClock


def status(api: httpx.Client, deploy_id: str, service: str = WEB) -> str:
    response = api.get(f"/services/{service}/deploys/{deploy_id}")
    assert response.status_code == 200
    return str(response.json()["status"])


def deploy(api: httpx.Client, service: str = WEB, **body: Any) -> dict[str, Any]:
    response = api.post(f"/services/{service}/deploys", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def logs(api: httpx.Client, *, service: str = WEB, **params: Any) -> list[dict[str, Any]]:
    params = {"ownerId": OWNER, "resource": service, "limit": 100, **params}
    response = api.get("/logs", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["logs"])


def events(api: httpx.Client, service: str = WEB) -> list[dict[str, Any]]:
    response = api.get(f"/services/{service}/events", params={"limit": 100})
    return [item["event"] for item in response.json()]


def health(api: httpx.Client, url: str) -> int:
    return httpx.get(url + "/healthz", timeout=10).status_code


def test_succeed_builds_updates_goes_live_and_deactivates_the_previous(
    start_sim: StartSim, clock: ManualClock
) -> None:
    """A default deploy walks created → build → update → live; the old live is deactivated."""
    server = start_sim("demo")
    api = client_for(server)
    new = deploy(api, commitId="a" * 40)
    assert new["status"] == "created" and new["commit"]["id"] == "a" * 40
    seen = []
    for _ in range(13):
        clock.advance(10)
        seen.append(status(api, new["id"]))
    assert seen[0] == "build_in_progress"
    assert "update_in_progress" in seen
    assert seen[-1] == "live"
    assert status(api, LIVE_WEB_DEPLOY) == "deactivated"
    finished = api.get(f"/services/{WEB}/deploys/{new['id']}").json()
    assert finished["finishedAt"] >= finished["startedAt"] >= finished["createdAt"]
    messages = [line["message"] for line in logs(api, startTime=new["createdAt"])]
    assert "==> Build successful 🎉" in messages
    assert "==> Your service is live 🎉" in messages
    kinds = [e["type"] for e in events(api) if e["details"].get("deployId") == new["id"]]
    assert kinds == ["deploy_ended", "deploy_started"]


def test_build_failed_writes_build_errors_and_keeps_the_old_deploy_live(
    start_sim: StartSim, clock: ManualClock
) -> None:
    """build-fail: the deploy ends build_failed, with pip errors at level error."""
    server = start_sim("build-fail")
    api = client_for(server)
    new = deploy(api)
    clock.advance(200)
    assert status(api, new["id"]) == "build_failed"
    assert status(api, LIVE_WEB_DEPLOY) == "live"
    build = logs(api, type="build", startTime=new["createdAt"])
    errors = [
        line["message"] for line in build if {"name": "level", "value": "error"} in line["labels"]
    ]
    assert any("No matching distribution found for flask==9.9.9" in m for m in errors)
    ended = next(e for e in events(api) if e["type"] == "build_ended")
    assert ended["details"]["buildStatus"] == "failed"


def test_crash_loop_repeats_startup_errors_then_fails_after_fail_after(
    start_sim: StartSim, clock: ManualClock
) -> None:
    """crash-loop: build ok, then the fatal lines repeat every few seconds until update_failed."""
    server = start_sim("crash-loop")
    api = client_for(server)
    new = deploy(api)
    clock.advance(91 + 60)  # build done, one minute of crashing
    assert status(api, new["id"]) == "update_in_progress"
    crashes = logs(api, text="KeyError: 'DATABASE_URL'", startTime=new["createdAt"])
    assert len(crashes) >= 10  # every 5 s for a minute
    assert all({"name": "type", "value": "app"} in line["labels"] for line in crashes)
    assert health(api, server.app_url("web")) == 200  # the old deploy still serves
    clock.advance(900)
    assert status(api, new["id"]) == "update_failed"
    assert status(api, LIVE_WEB_DEPLOY) == "live"
    ended = next(e for e in events(api) if e["type"] == "deploy_ended")
    assert ended["details"]["deployStatus"] == "failed"
    assert ended["details"]["reason"]["failure"]["nonZeroExit"] == 1
    count = len(logs(api, text="KeyError", startTime=new["createdAt"]))
    clock.advance(300)
    assert len(logs(api, text="KeyError", startTime=new["createdAt"])) == count  # it stopped


def test_unhealthy_after_live_turns_the_health_url_503(
    start_sim: StartSim, clock: ManualClock
) -> None:
    """unhealthy: the deploy goes live and healthy, then the health path answers 503."""
    server = start_sim("unhealthy")
    api = client_for(server)
    url = server.app_url("web")
    assert api.get(f"/services/{WEB}").json()["serviceDetails"]["url"] == url
    new = deploy(api)
    clock.advance(125)
    assert status(api, new["id"]) == "live"
    assert health(api, url) == 200
    clock.advance(120)
    assert health(api, url) == 503
    assert status(api, new["id"]) == "live"  # Render does not demote a live deploy
    assert any(e["type"] == "server_failed" for e in events(api))
    errors = logs(api, level="error", startTime=new["createdAt"])
    assert any("connection slots are reserved" in line["message"] for line in errors)


def test_a_newer_deploy_cancels_the_one_in_progress(
    start_sim: StartSim, clock: ManualClock
) -> None:
    """Overlapping deploys: the newer supersedes, the older is canceled with a reason."""
    api = client_for(start_sim("demo"))
    first = deploy(api)
    clock.advance(20)
    second = deploy(api)
    assert status(api, first["id"]) == "canceled"
    ended = next(
        e
        for e in events(api)
        if e["details"].get("deployId") == first["id"] and e["type"] == "deploy_ended"
    )
    assert ended["details"]["reason"] == {"newDeploy": {"id": second["id"]}}
    clock.advance(200)
    assert status(api, second["id"]) == "live"


def test_cancel_stops_a_deploy_and_refuses_a_finished_one(
    start_sim: StartSim, clock: ManualClock
) -> None:
    """POST .../cancel cancels in progress (200) and answers 400 for a finished deploy."""
    api = client_for(start_sim("crash-loop"))
    new = deploy(api)
    clock.advance(120)
    response = api.post(f"/services/{WEB}/deploys/{new['id']}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "canceled"
    count = len(logs(api, text="KeyError", startTime=new["createdAt"]))
    clock.advance(600)
    assert len(logs(api, text="KeyError", startTime=new["createdAt"])) == count
    again = api.post(f"/services/{WEB}/deploys/{new['id']}/cancel")
    assert again.status_code == 400 and "message" in again.json()


def test_rollback_reuses_the_target_build_and_skips_the_build(
    start_sim: StartSim, clock: ManualClock
) -> None:
    """Rollback creates a 'rollback' deploy of the target's commit that needs no build."""
    server = start_sim("demo")
    api = client_for(server)
    target = demo.PREVIOUS
    response = api.post(f"/services/{WEB}/rollback", json={"deployId": target})
    assert response.status_code == 201
    rolled = response.json()
    assert rolled["trigger"] == "rollback"
    assert rolled["commit"]["id"] == "c1dfd96eea8cc2b62785275bca38ac261256e278"
    clock.advance(2)
    assert status(api, rolled["id"]) == "update_in_progress"
    clock.advance(30)
    assert status(api, rolled["id"]) == "live"
    assert server.app_url("web")
    assert api.get(f"/services/{WEB}").json()["autoDeploy"] == "yes"  # the API leaves it alone
    started = next(e for e in events(api) if e["type"] == "deploy_started")
    assert started["details"]["trigger"]["rollback"] is True
    assert started["details"]["trigger"]["rollbackTargetDeployId"] == target


def test_rollback_refuses_failed_targets_and_expired_builds(start_sim: StartSim) -> None:
    """Only a once-live deploy whose build is still retained can be rolled back to."""
    from releaser.sim import load_scenario

    scenario = load_scenario("demo")
    scenario.services[0].build_retention = 2
    api = client_for(start_sim(scenario))
    failed = api.post(f"/services/{WEB}/rollback", json={"deployId": demo.BUILD_FAILED})
    assert failed.status_code == 400
    old = api.post(f"/services/{WEB}/rollback", json={"deployId": demo.OLDEST})
    assert old.status_code == 400 and "no longer retained" in old.json()["message"]
    missing = api.post(f"/services/{WEB}/rollback", json={"deployId": "dep-nope"})
    assert missing.status_code == 404


def test_behaviours_queue_in_order_and_rollbacks_consume_them(
    start_sim: StartSim, clock: ManualClock
) -> None:
    """Queued behaviours are used one per new deploy (rollbacks too), then deploys succeed."""
    server = start_sim("demo")
    server.queue_behaviour("web", "build_failed", build_seconds=10)
    server.queue_behaviour(WEB, "crash_loop", fail_after=60)
    api = client_for(server)
    first = deploy(api)
    clock.advance(20)
    assert status(api, first["id"]) == "build_failed"
    rollback = api.post(f"/services/{WEB}/rollback", json={"deployId": LIVE_WEB_DEPLOY}).json()
    clock.advance(70)
    assert status(api, rollback["id"]) == "update_failed"
    third = deploy(api)
    clock.advance(200)
    assert status(api, third["id"]) == "live"


def test_deploy_only_redeploys_the_last_build(start_sim: StartSim, clock: ManualClock) -> None:
    """deployMode deploy_only skips the build and keeps the built commit."""
    api = client_for(start_sim("demo"))
    new = deploy(api, deployMode="deploy_only", commitId="f" * 40)
    assert new["commit"]["id"] == "902ba3cda1883801594b6e1b452790cc53948fda"
    clock.advance(2)
    assert status(api, new["id"]) == "update_in_progress"


def test_scaled_clock_makes_a_deploy_take_a_tenth(start_sim: StartSim) -> None:
    """time_scale 10: simulated time runs ten times faster than the jumps it is given."""
    clock = ScaledClock(10)
    before = clock.now()
    clock.advance(60)
    assert (clock.now() - before).total_seconds() >= 60
    server = start_sim("demo", clock=clock)
    api = client_for(server)
    new = deploy(api)
    server.advance(200)
    assert status(api, new["id"]) == "live"


def test_restart_suspend_resume_and_health(start_sim: StartSim) -> None:
    """Suspend makes the live URL 503, resume brings it back; restart logs and emits an event."""
    server = start_sim("demo")
    api = client_for(server)
    url = server.app_url("web")
    assert api.post(f"/services/{WEB}/restart").status_code == 200
    assert any(e["type"] == "server_restarted" for e in events(api))
    assert api.post(f"/services/{WEB}/suspend").status_code == 202
    assert api.get(f"/services/{WEB}").json()["suspended"] == "suspended"
    assert health(api, url) == 503
    assert api.post(f"/services/{WEB}/deploys", json={}).status_code == 400
    assert api.post(f"/services/{WEB}/resume").status_code == 202
    assert health(api, url) == 200
    assert httpx.get(url.replace("/web", "/nope") + "/healthz").status_code == 404


def test_scenario_health_unhealthy_marks_the_current_live_deploy(start_sim: StartSim) -> None:
    """A service declared health = "unhealthy" answers 503 from the start."""
    from releaser.sim import load_scenario

    scenario = load_scenario("demo")
    scenario.services[0].health = "unhealthy"
    server = start_sim(scenario)
    assert httpx.get(server.app_url("web") + "/healthz").status_code == 503


def test_image_backed_deploys_carry_the_image_not_a_commit(
    start_sim: StartSim, clock: ManualClock
) -> None:
    """An image service deploys imageUrl; the deploy has image.ref and commit: null (as real
    Render sends it), and a digest of its own."""
    from releaser.sim import load_scenario

    scenario = load_scenario("demo")
    scenario.services[1].runtime = "image"
    scenario.services[1].image = "ghcr.io/acme/worker:1.0.0"
    api = client_for(start_sim(scenario))
    worker = scenario.services[1].id
    new = deploy(api, service=worker, imageUrl="ghcr.io/acme/worker:1.1.0")
    assert new["image"]["ref"] == "ghcr.io/acme/worker:1.1.0" and new["commit"] is None
    assert new["image"]["sha"].startswith("sha256:") and new["finishedAt"] is None
    assert api.post(f"/services/{worker}/deploys", json={"commitId": "abc"}).status_code == 400
    clock.advance(200)
    assert status(api, new["id"], worker) == "live"
