"""Verdicts an on-call engineer would reach, per scenario file, over HTTP.

Each case is a scenario file in ``scenarios/`` (the simulator's format): one deploy of one
service of a given stack (Python/gunicorn, Node, Ruby/puma, Go, Java/Spring), with the lines
that fooled the watcher before: warnings from every worker, retries that succeed, worker
recycles, helpers exiting 0, a busy secondary port, a handler exception while serving, a busy
old instance; and the failures it missed or must keep catching. The deploy runs end to end
(trigger, watch, cancel or roll back, report) on a virtual clock, so a 6-minute case takes
well under a second.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from deployhelp import live_of, new_deploys, requests_to
from simulators import StartSim

from releaser.config import Config
from releaser.release.deploy import DeployOptions, execute_deploy, plan_deploy
from releaser.release.report import DeployReport
from releaser.release.watch import ServerClock
from releaser.render.client import RenderClient, RetryPolicy
from releaser.sim import SimServer

SCENARIOS = Path(__file__).parent / "scenarios"
TLS = ssl.create_default_context()


@dataclass(frozen=True)
class Case:
    service: str
    outcome: str
    exit_code: int
    # Text the report (markdown) must contain: the cause, the evidence, the harmless lines.
    says: tuple[str, ...] = ()
    canceled: bool = False  # releaser canceled the deploy
    rolled_back: bool = False  # releaser rolled back
    extra: dict[str, str] = field(default_factory=dict)


HARMLESS = {
    "harmless-py-worker-warnings": Case("py", "healthy", 0, ("a warning: never decisive",)),
    "harmless-rb-warn-lines": Case("rb", "healthy", 0, ("REDIS_URL is not set",)),
    "harmless-node-db-retry": Case("node", "healthy", 0, ("retried by the app itself",)),
    "harmless-go-child-exit-0": Case("go", "healthy", 0),
    "harmless-java-metrics-port": Case("java", "healthy", 0, ("the app came up after it",)),
    "harmless-py-worker-recycle": Case("py", "healthy", 0),
    "harmless-py-handler-exception": Case(
        "py", "healthy", 0, ("an application error while serving",)
    ),
    "harmless-busy-old-instance": Case("busy", "healthy", 0),
}

FAILING = {
    "fail-py-missing-env": Case(
        "py", "canceled", 1, ("DATABASE_URL is not set", "separate starts"), canceled=True
    ),
    "fail-node-port": Case("node", "canceled", 1, ("port already in use",), canceled=True),
    "fail-rb-db": Case("rb", "canceled", 1, ("database unreachable",), canceled=True),
    "fail-go-panic": Case("go", "canceled", 1, ("panic: runtime error",), canceled=True),
    "fail-java-oom": Case("java", "canceled", 1, ("Java heap space",), canceled=True),
    # Caught by releaser (canceled), not by Render six minutes later (failed).
    "fail-busy-crash-loop": Case("busy", "canceled", 1, ("port already in use",), canceled=True),
    "fail-busypy-crash-after-live": Case(
        "busypy",
        "rolled_back",
        1,
        ("crashed after going live (while health still answered)", "redis.exceptions"),
        rolled_back=True,
    ),
    "fail-migrate-pre-deploy": Case(
        "migrate", "failed", 1, ("pre-deploy command failed", "ProgrammingError")
    ),
    "fail-disk-crash-loop": Case(
        "disky", "canceled", 1, ("was down during the deploy",), canceled=True
    ),
    "fail-no-logs-crash-loop": Case("py", "failed", 1, ("logs unavailable", "update_failed")),
    "fail-no-events-crash-loop": Case(
        "node", "canceled", 1, ("events unavailable", "port already in use"), canceled=True
    ),
    "fail-no-logs-unhealthy": Case(
        "py", "rolled_back", 1, ("logs unavailable", "health check failed"), rolled_back=True
    ),
}


def run_case(start_sim: StartSim, name: str, service: str) -> tuple[DeployReport, SimServer]:
    sim = start_sim(str(SCENARIOS / f"{name}.toml"))  # in virtual time
    client = RenderClient(
        sim.api_key,
        sim.url,
        owner_id=sim.owner_id,
        timeout=5.0,
        retry=RetryPolicy(attempts=5, backoff_base=0.5, max_wait=5.0),
        transport=httpx.HTTPTransport(verify=TLS),
    )
    try:
        target = client.resolve_service(service)
        plan = plan_deploy(client, Config(), target, DeployOptions(skip_checks=True, soak=60))
        server_clock = ServerClock(client.server_now)
        report = execute_deploy(client, plan, server_clock, progress=lambda _: None)
    finally:
        client.close()
    return report, sim


@pytest.mark.parametrize("name", sorted(HARMLESS))
def test_harmless_lines_never_cancel_or_roll_back_a_good_release(
    start_sim: StartSim, name: str
) -> None:
    """Exit 0, nothing canceled or rolled back, and the report says what it judged harmless."""
    case = HARMLESS[name]
    report, sim = run_case(start_sim, name, case.service)
    try:
        assert (report.outcome, report.exit_code) == (case.outcome, case.exit_code), (
            report.summary,
            report.evidence,
        )
        assert not requests_to(sim, "POST", "/cancel")
        assert not requests_to(sim, "POST", "/rollback")
        assert live_of(sim, case.service).id == report.deploy_id
        markdown = report.render_markdown()
        for text in case.says:
            assert text in markdown, markdown
        assert report.cause is None and report.decisive_lines == []
    finally:
        sim.stop()


@pytest.mark.parametrize("name", sorted(FAILING))
def test_failures_are_caught_with_the_action_an_on_call_engineer_would_take(
    start_sim: StartSim, name: str
) -> None:
    """The right exit code, the one action (cancel or rollback), and the evidence quoted."""
    case = FAILING[name]
    report, sim = run_case(start_sim, name, case.service)
    try:
        assert (report.outcome, report.exit_code) == (case.outcome, case.exit_code), (
            report.summary,
            report.evidence,
            report.harmless,
        )
        assert len(requests_to(sim, "POST", "/cancel")) == (1 if case.canceled else 0)
        assert len(requests_to(sim, "POST", "/rollback")) == (1 if case.rolled_back else 0)
        ours = [d for d in new_deploys(sim, case.service) if d.trigger != "rollback"]
        assert len(ours) == 1 and ours[0].id == report.deploy_id
        live = live_of(sim, case.service)
        assert live is not None and live.id != report.deploy_id  # the old version serves
        text = report.render_markdown() + report.summary
        for expected in case.says:
            assert expected in text, text
    finally:
        sim.stop()
