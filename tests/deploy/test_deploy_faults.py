"""Deploy under trouble: API faults, a dropped deploy POST, 202s, someone else's cancel or
deploy during the watch; and a property over random fault schedules."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from deployhelp import LIVE, LIVE_COMMIT, QUICK, live_of, new_deploys, requests_to
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from simulators import SimOptions, Simulators

from releaser.config import Config
from releaser.errors import ApiError
from releaser.release.deploy import DeployOptions, execute_deploy, plan_deploy
from releaser.release.report import DeployReport
from releaser.release.watch import ServerClock
from releaser.render.client import RenderClient, RetryPolicy
from releaser.sim import SimServer

Start = Callable[..., SimServer]
ClientFor = Callable[[SimServer], RenderClient]


def run_deploy(
    sim: SimServer,
    client: RenderClient,
    progress: Callable[[str], None] | None = None,
    soak: float = 30,
    clock: ServerClock | None = None,
) -> DeployReport:
    service = client.resolve_service("web")
    plan = plan_deploy(client, Config(), service, DeployOptions(skip_checks=True, soak=soak))
    clock = clock or ServerClock(client.server_now)
    return execute_deploy(client, plan, clock, progress=progress or (lambda _: None))


def deploy_posts(sim: SimServer) -> list[Any]:
    return requests_to(sim, "POST", "/deploys")


def not_rollbacks(sim: SimServer) -> list[Any]:
    return [d for d in new_deploys(sim) if d.trigger != "rollback"]


@pytest.mark.parametrize(
    "fault",
    [
        {"drop": True, "applied": True},  # connection lost after Render created it
        {"status": 503, "applied": True},  # 5xx after Render created it
        {"queued_202": True},  # 202 with no body: found by listing
        # Slower than the client's 2 s timeout (2.3 real s = 92 s at time scale 40), and
        # Render creates it 5 s after that anyway.
        {"delay_seconds": 2.3, "apply_after": 5},
    ],
)
def test_the_deploy_post_is_never_duplicated(
    start_sim: Start, client_for: ClientFor, fault: dict[str, Any]
) -> None:
    """After an unclear answer the deploy list is read, never a second POST; one deploy."""
    sim = start_sim("demo")
    sim.queue_behaviour("web", "succeed", **QUICK)
    sim.add_fault(method="POST", path="/services/*/deploys", count=1, **fault)
    report = run_deploy(sim, client_for(sim))
    assert report.outcome == "healthy", report.summary
    assert len(deploy_posts(sim)) == 1
    assert len(not_rollbacks(sim)) == 1
    assert report.deploy_id == not_rollbacks(sim)[0].id


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 503},  # a 5xx, and nothing was created
        {"drop": True},  # the answer was lost, and nothing was created
        {"delay_seconds": 2.3, "apply_after": 600},  # created, but only after we stopped looking
    ],
)
def test_an_unclear_deploy_post_that_never_shows_stops_with_exit_3(
    start_sim: Start, client_for: ClientFor, fault: dict[str, Any]
) -> None:
    """Looked at for two minutes and still not there: exit 3 naming what to check, one POST."""
    sim = start_sim("demo")
    sim.add_fault(method="POST", path="/services/*/deploys", count=1, **fault)
    with pytest.raises(ApiError) as caught:
        run_deploy(sim, client_for(sim))
    assert caught.value.exit_code == 3
    assert "releaser history web" in str(caught.value)
    assert "did not send it twice" in str(caught.value)
    assert len(deploy_posts(sim)) == 1
    sim.advance(900)
    sim.run_deferred()
    assert len(not_rollbacks(sim)) <= 1


def test_read_faults_while_watching_a_crash_loop_do_not_hide_it(
    start_sim: Start, client_for: ClientFor
) -> None:
    """429 bursts with headers, 5xx, dropped and slow reads: the crash loop is still caught."""
    sim = start_sim("crash-loop")
    sim.add_fault(method="GET", path="/services/*/deploys", status=429, retry_after=0, count=3)
    sim.add_fault(method="GET", path="/logs", status=500, count=3)
    sim.add_fault(method="GET", path="/logs", drop=True, count=2)
    sim.add_fault(method="GET", path="/services/*/events", status=503, count=2)
    sim.add_fault(method="GET", path="/services/**", delay_seconds=0.2, count=3)
    report = run_deploy(sim, client_for(sim))
    assert report.outcome == "canceled" and report.exit_code == 1
    assert report.cause == "missing environment variable"
    assert any(r.status == 429 for r in sim.requests)


def test_a_dropped_cancel_is_checked_not_blindly_repeated(
    start_sim: Start, client_for: ClientFor
) -> None:
    """The cancel POST's answer is lost but it worked: the status is read, no second cancel."""
    sim = start_sim("crash-loop")
    sim.add_fault(method="POST", path="/services/*/deploys/*/cancel", drop=True, applied=True)
    report = run_deploy(sim, client_for(sim))
    assert report.outcome == "canceled"
    assert len(requests_to(sim, "POST", "/cancel")) == 1
    assert [d.status for d in not_rollbacks(sim)] == ["canceled"]


def test_a_cancel_applied_after_its_answer_was_lost_is_looked_for_never_resent(
    start_sim: Start, client_for: ClientFor
) -> None:
    """The cancel times out and Render applies it 8 s later: releaser looks until it shows,
    and never sends a second cancel (after a write whose outcome is unknown: look)."""
    sim = start_sim("crash-loop")
    sim.add_fault(
        method="POST", path="/services/*/deploys/*/cancel", drop=True, apply_after=8, count=1
    )
    report = run_deploy(sim, client_for(sim))
    assert report.outcome == "canceled", report.summary
    assert len(requests_to(sim, "POST", "/cancel")) == 1
    assert [d.status for d in not_rollbacks(sim)] == ["canceled"]


def test_a_rollback_post_with_a_lost_answer_is_found_by_listing(
    start_sim: Start, client_for: ClientFor
) -> None:
    """The rollback POST got a 503 after taking effect: one rollback deploy, found, watched."""
    sim = start_sim("demo")
    sim.queue_behaviour("web", "unhealthy_after_live", unhealthy_after=5, **QUICK)
    sim.add_fault(method="POST", path="/services/*/rollback", status=503, applied=True)
    report = run_deploy(sim, client_for(sim))
    assert report.outcome == "rolled_back"
    assert len(requests_to(sim, "POST", "/rollback")) == 1
    assert [d.trigger for d in new_deploys(sim)].count("rollback") == 1


def test_a_deploy_canceled_by_someone_else_is_reported_not_fought(
    start_sim: Start, client_for: ClientFor
) -> None:
    """A colleague cancels it mid-build: exit 1, the previous version still serving."""
    sim = start_sim("demo")
    sim.queue_behaviour("web", "succeed", **QUICK)

    def colleague(message: str) -> None:
        if "phase build" in message:
            with sim.state.lock:
                ours = new_deploys(sim)[0]
                sim.state.cancel(ours.service_id, ours.id)

    report = run_deploy(sim, client_for(sim), progress=colleague)
    assert report.outcome == "failed" and report.exit_code == 1
    assert report.watch_verdict == "canceled"
    assert not requests_to(sim, "POST", "/cancel")
    assert report.state_now.startswith(f"live: {LIVE}")


def test_an_autodeploy_during_the_watch_stops_it_without_touching_anything(
    start_sim: Start, client_for: ClientFor
) -> None:
    """A push starts another deploy (ours is superseded): releaser stops, writes nothing more,
    and exits 4 because the service runs something it did not verify."""
    sim = start_sim("demo")
    sim.queue_behaviour("web", "succeed", **QUICK)

    def push(message: str) -> None:
        if "phase build" in message:
            with sim.state.lock:
                sim.state.create_deploy(new_deploys(sim)[0].service_id, trigger="new_commit")

    report = run_deploy(sim, client_for(sim), progress=push)
    assert report.outcome == "not_back" and report.exit_code == 4
    assert report.watch_verdict == "superseded"
    assert "releaser did not touch it" in " ".join(report.actions)
    assert len(deploy_posts(sim)) == 1
    assert not requests_to(sim, "POST", "/cancel") and not requests_to(sim, "POST", "/rollback")


def test_watching_stays_under_the_request_budget(start_sim: Start, client_for: ClientFor) -> None:
    """About 30 API requests per minute of (server) time at most, while watching."""
    sim = start_sim("demo")
    sim.queue_behaviour("web", "succeed", build_seconds=180, update_seconds=30)
    report = run_deploy(sim, client_for(sim), soak=60)
    minutes = sum(t.seconds for t in report.timings) / 60
    assert report.outcome == "healthy"
    assert report.api_requests / minutes <= 32  # 30, plus the few reads that end a watch


# --- the property: random fault schedules over healthy and failing deploys ------------------

SLOW_POST = 0.3  # real seconds before a slow POST is dropped: longer than the client's timeout
PROPERTY_TIMEOUT = 0.25

API_FAULTS: list[dict[str, Any]] = [
    {"method": "POST", "path": "/services/*/deploys", "drop": True, "applied": True, "count": 1},
    {"method": "POST", "path": "/services/*/deploys", "status": 503, "count": 1},
    {"method": "POST", "path": "/services/*/deploys", "status": 500, "applied": True, "count": 1},
    {"method": "POST", "path": "/services/*/deploys", "queued_202": True, "count": 1},
    # Slower than the client's timeout; Render creates the deploy 5 s or 90 s later anyway.
    {"method": "POST", "path": "/services/*/deploys", "delay_seconds": SLOW_POST, "apply_after": 5},
    {
        "method": "POST",
        "path": "/services/*/deploys",
        "delay_seconds": SLOW_POST,
        "apply_after": 90,
    },
    {"method": "GET", "path": "/services/*/deploys", "status": 503, "count": 2},
    {"method": "GET", "path": "/services/*/deploys", "status": 429, "retry_after": 0, "count": 3},
    {"method": "GET", "path": "/logs", "status": 500, "count": 3},
    {"method": "GET", "path": "/logs", "drop": True, "count": 2},
    {"method": "GET", "path": "/logs", "status": 404},  # no log access on this plan
    {"method": "GET", "path": "/services/*/events", "status": 502, "count": 2},
    {"method": "GET", "path": "/services/**", "delay_seconds": 0.05, "count": 2},
    {"method": "POST", "path": "/services/*/rollback", "status": 503, "applied": True, "count": 1},
    {
        "method": "POST",
        "path": "/services/*/rollback",
        "delay_seconds": SLOW_POST,
        "apply_after": 8,
    },
    {"method": "POST", "path": "/services/*/deploys/*/cancel", "drop": True, "applied": True},
    {"method": "PATCH", "path": "/services/*", "status": 503, "count": 1},
]

BEHAVIOURS = {
    "succeed": {},
    "crash_loop": {"repeat_every": 4},
    "unhealthy_after_live": {"unhealthy_after": 5},
    "build_failed": {},
}


def app_healthy(sim: SimServer) -> bool:
    response = httpx.get(sim.app_url("web") + "/healthz", timeout=5, verify=TLS)
    return response.status_code < 400


TLS = ssl.create_default_context()


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    behaviour=st.sampled_from(sorted(BEHAVIOURS)),
    faults=st.lists(st.sampled_from(range(len(API_FAULTS))), max_size=4, unique=True),
)
# Found on a fresh clone: 503 x2 then 429 x3 on the deploys list exhaust the read retries
# while planning, before anything is written.
@example(behaviour="build_failed", faults=[0, 6, 7])
@example(behaviour="succeed", faults=[5])  # the slow POST Render applies 90 s later
@example(behaviour="unhealthy_after_live", faults=[4, 14])  # slow deploy POST, slow rollback
# Found in virtual time: retried log and event reads starve the shared request budget, the
# rollback is seen live 60 s late, and its backdated soak ended before 3 probes could answer.
@example(behaviour="unhealthy_after_live", faults=[8, 9, 10, 11])
def test_random_fault_schedules_never_fool_the_verdict(behaviour: str, faults: list[int]) -> None:
    """A healthy deploy is never rolled back or canceled; a failing one is always caught;
    never two deploys, even when a POST is slower than the client's timeout and Render applies
    it anyway; the exit code matches where the service really is; when Render stays
    unreachable, it is exit 3 and at most the one deploy exists."""
    # A fresh simulator per example (the fixture's would live until the test ends).
    with Simulators(SimOptions(clock="virtual", rate_limits=False)) as start:
        sim = start("demo")
        with RenderClient(
            sim.api_key,
            sim.url,
            owner_id=sim.owner_id,
            timeout=PROPERTY_TIMEOUT,
            retry=RetryPolicy(attempts=5, backoff_base=0.5, max_wait=5.0),
            transport=httpx.HTTPTransport(verify=TLS),  # loading CA certificates costs 0.1 s
        ) as client:
            sim.queue_behaviour("web", behaviour, **QUICK, **BEHAVIOURS[behaviour])
            for index in faults:
                sim.add_fault(**API_FAULTS[index])
            try:
                report = run_deploy(sim, client)
            except ApiError as unreachable:
                assert unreachable.exit_code == 3
                assert len(requests_to(sim, "POST", "/deploys")) <= 1, "a second deploy POST"
                report = None
            sim.advance(600)  # anything Render applies late has happened by now
            sim.run_deferred()
            ours = not_rollbacks(sim)
            assert len(ours) <= 1, "two deploys"
            assert len(requests_to(sim, "POST", "/deploys")) <= 1, "a second deploy POST"
            if report is None:
                return
            assert len(ours) == 1
            live = live_of(sim)
            if behaviour == "succeed":
                assert report.outcome == "healthy", report.summary
                assert not requests_to(sim, "POST", "/rollback")
                assert not requests_to(sim, "POST", "/cancel")
            else:
                assert report.outcome in ("canceled", "failed", "rolled_back"), (
                    report.summary,
                    report.actions,
                    report.rollback,
                )
            if report.exit_code == 0:
                assert live.id == ours[0].id and app_healthy(sim)
            elif report.exit_code == 1:
                assert live.commit == LIVE_COMMIT and app_healthy(sim)
            rollbacks = [d for d in new_deploys(sim) if d.trigger == "rollback"]
            assert len(rollbacks) <= 1  # at most one automatic rollback, never of a rollback
