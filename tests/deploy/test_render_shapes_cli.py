"""Real Render shapes end to end: the CLI over HTTP on the render-shapes scenario.

A healthy deploy of every service type and shape ends exit 0 with nothing canceled or rolled
back; each unhealthy variant ends with the right verdict and exit code. (render-shapes' deploy
list ignores ?status=, so every test here also proves the live deploy is found by its status.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from click.testing import Result
from deployhelp import QUICK, new_deploys, requests_to

from releaser.sim import SimServer

Run = Callable[..., Result]
Start = Callable[..., SimServer]

API = "srv-sh4p3sapi0000000001"  # name "api" is shared with API_TWIN
API_LIVE = "dep-sh4p3sapi000000000b"
PROXY = "srv-sh4p3s1m4g30000001"
UPLOADS = "srv-sh4p3sd1sk000000001"
CHECKOUT_RUNNING = "dep-sh4p3sbusy00000000c"


def deploy(run_cli: Run, service: str, *args: str) -> Result:
    return run_cli(
        "deploy", service, "--skip-checks", "--yes", "--soak", "30s", "-o", "json", *args
    )


def report_of(result: Result) -> dict[str, Any]:
    return dict(json.loads(result.stdout))


def nothing_undone(sim: SimServer) -> None:
    assert not requests_to(sim, "POST", "/cancel"), "a healthy deploy was canceled"
    assert not requests_to(sim, "POST", "/rollback"), "a healthy deploy was rolled back"
    assert not requests_to(sim, "PATCH", ""), "autodeploy was touched"


@pytest.mark.parametrize(
    ("service", "judged", "probes"),
    [
        (API, "any answer below 500 from the URL", True),  # "" path, no root route, pre-deploy
        ("storefront", "health path /healthz answering 200-399", True),
        ("uploads", "any answer below 500", True),  # a disk
        (PROXY, "any answer below 500", True),  # image-backed, reused tag
        ("search", "private network, so it is not probed", False),
        ("mailer", "a background worker has no URL", False),
        ("nightly-report", "a cron job has no URL", False),
        ("docs", "any answer below 500 from the site", True),
    ],
)
def test_a_healthy_deploy_of_every_type_and_shape_exits_0(
    start_sim: Start, run_cli: Run, service: str, judged: str, probes: bool
) -> None:
    """Exit 0, outcome healthy, nothing canceled or rolled back, autodeploy untouched; the
    report says how health was judged for this type, and the previous deploy is the live one
    even though the deploy list ignores ?status=live."""
    sim = start_sim("render-shapes")
    with sim.state.lock:
        live_before = sim.state.service(service).live()
        assert live_before is not None
    sim.queue_behaviour(service, "succeed", **QUICK)
    result = deploy(run_cli, service)
    assert result.exit_code == 0, result.stderr
    report = report_of(result)
    assert report["outcome"] == "healthy"
    assert judged in report["health_judged"]
    assert (report["health_probes"] > 0) == probes
    assert report["previous_deploy_id"] == live_before.id
    nothing_undone(sim)
    assert len(new_deploys(sim, service)) == 1


def test_an_api_without_a_root_route_is_up_on_404_and_says_which_rule(
    start_sim: Start, run_cli: Run
) -> None:
    """No health path anywhere: '/' answers 404, which Render's port check calls up; the probe
    line says the lenient rule was used. The name 'api' is shared, so the undo names the id."""
    sim = start_sim("render-shapes")
    sim.queue_behaviour(API, "succeed", **QUICK)
    result = run_cli("deploy", API, "--skip-checks", "--yes", "--soak", "30s")
    assert result.exit_code == 0, result.stderr
    assert "404 in" in result.stdout and "any answer below 500 counts" in result.stdout
    assert f"undo       releaser rollback {API} --to {API_LIVE}" in result.stdout
    assert "phase pre_deploy" in result.stderr
    nothing_undone(sim)


def test_a_health_path_from_releaser_toml_makes_a_404_unhealthy(
    start_sim: Start, run_cli: Run, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a health path (releaser.toml) the rule is 200-399: the app's 404 on it is a
    failure, for the new deploy and for the rollback to the old one alike (exit 4)."""
    config = tmp_path / "releaser.toml"
    config.write_text(f'[services.{API}]\nhealth_path = "/ready"\n', encoding="utf-8")
    monkeypatch.setenv("RELEASER_CONFIG", str(config))
    sim = start_sim("render-shapes")
    sim.queue_behaviour(API, "succeed", **QUICK)
    result = deploy(run_cli, API)
    report = report_of(result)
    assert result.exit_code == 4, result.stderr
    assert report["watch_verdict"] == "turned_bad" and "404" in report["summary"]
    assert "health path /ready answering 200-399" in report["health_judged"]


def test_a_failed_pre_deploy_fails_without_rollback_and_the_old_version_serves(
    start_sim: Start, run_cli: Run
) -> None:
    """Migrations fail in pre-deploy: Render fails the deploy, the old one never stopped;
    exit 1, nothing canceled or rolled back, still live: the old deploy."""
    sim = start_sim("render-shapes")
    sim.queue_behaviour(
        API, "pre_deploy_failed", build_seconds=20, log_lines=["relation orders already exists"]
    )
    result = deploy(run_cli, API)
    assert result.exit_code == 1, result.stderr
    report = report_of(result)
    assert report["outcome"] == "failed" and report["watch_verdict"] == "failed"
    assert "is still serving" in report["summary"]
    nothing_undone(sim)
    with sim.state.lock:
        live = sim.state.service(API).live()
        assert live is not None and live.id == API_LIVE


def test_a_crash_loop_on_a_disk_service_is_described_as_downtime(
    start_sim: Start, run_cli: Run
) -> None:
    """A disk means no zero-downtime deploy: the cancel's report says the service was DOWN,
    not that the previous version kept serving; exit 1, back on the previous deploy."""
    sim = start_sim("render-shapes")
    sim.queue_behaviour("uploads", "crash_loop", build_seconds=20, fail_after=600)
    result = deploy(run_cli, "uploads")
    assert result.exit_code == 1, result.stderr
    report = report_of(result)
    assert report["outcome"] == "canceled"
    assert "has a disk" in report["summary"] and "down" in report["summary"].lower()
    assert "still serving" not in report["summary"]
    assert any("has a disk" in w for w in report["warnings"])


def test_a_private_service_crash_loop_is_judged_by_logs_and_canceled(
    start_sim: Start, run_cli: Run
) -> None:
    """Never probed (name:port), yet a crash loop is caught from the logs: canceled, exit 1."""
    sim = start_sim("render-shapes")
    sim.queue_behaviour("search", "crash_loop", build_seconds=20, fail_after=600)
    result = deploy(run_cli, "search")
    assert result.exit_code == 1, result.stderr
    report = report_of(result)
    assert report["outcome"] == "canceled" and report["health_probes"] == 0
    assert len(requests_to(sim, "POST", "/cancel")) == 1


def test_a_worker_build_failure_is_failed_with_nothing_to_undo(
    start_sim: Start, run_cli: Run
) -> None:
    """build_failed on a worker: exit 1, Render keeps the previous version, no writes after."""
    sim = start_sim("render-shapes")
    sim.queue_behaviour("mailer", "build_failed", build_seconds=20)
    result = deploy(run_cli, "mailer")
    assert result.exit_code == 1, result.stderr
    assert report_of(result)["outcome"] == "failed"
    nothing_undone(sim)


def test_a_rollback_restores_checks_pass_through_the_printed_command(
    start_sim: Start, run_cli: Run
) -> None:
    """api's autodeploy is trigger "checksPass": a rollback turns it off, records the exact
    setting, and the printed re-enable command puts back checksPass (not "commit")."""
    sim = start_sim("render-shapes")
    sim.queue_behaviour(API, "unhealthy_after_live", unhealthy_after=5, **QUICK)
    result = deploy(run_cli, API)
    assert result.exit_code == 1, result.stderr
    report = report_of(result)
    assert report["outcome"] == "rolled_back"
    rollback = report["rollback"]
    assert rollback["autodeploy_before"] == 'autoDeploy "yes", autoDeployTrigger "checksPass"'
    with sim.state.lock:
        assert sim.state.service(API).config.auto_deploy_trigger == "off"
    command = rollback["autodeploy_command"]
    body = json.loads(command.split("-d '", 1)[1].split("'", 1)[0])
    assert f"/services/{API}" in command
    answer = httpx.patch(
        f"{sim.url}/services/{API}",
        json=body,
        headers={"Authorization": f"Bearer {sim.api_key}"},
    ).json()
    assert (answer["autoDeploy"], answer["autoDeployTrigger"]) == ("yes", "checksPass")
    assert report["undo_command"].startswith(f"releaser rollback {API} --to ")


def test_history_shows_digests_and_previous_does_not_skip_a_same_tag_deploy(
    start_sim: Start, run_cli: Run
) -> None:
    """nginx:latest thrice: history shows each digest; --to previous is the deploy just
    before live (same tag, another digest), not skipped as 'the same version'."""
    start_sim("render-shapes")
    history = run_cli("history", "proxy")
    assert history.exit_code == 0, history.stderr
    assert "sha256:33333333" in history.stdout and "sha256:22222222" in history.stdout
    plan = run_cli("rollback", "proxy", "--to", "previous", "--dry-run", "-o", "json")
    assert plan.exit_code == 0, plan.stderr
    target = json.loads(plan.stdout)
    assert target["target_deploy_id"] == "dep-sh4p3s1m4g3000000b"
    assert "sha256:22222222" in target["target_version"]


def test_watch_re_attaches_to_a_deploy_already_in_progress(start_sim: Start, run_cli: Run) -> None:
    """checkout has a deploy running at start (deploy refuses to start another); 'releaser
    watch checkout' finds it, judges it healthy: exit 0, no write at all."""
    sim = start_sim("render-shapes")
    refused = deploy(run_cli, "checkout")
    assert refused.exit_code == 1 and "already build_in_progress" in refused.stdout
    result = run_cli("watch", "checkout", "--soak", "30s", "-o", "json")
    assert result.exit_code == 0, result.stderr
    report = report_of(result)
    assert report["deploy_id"] == CHECKOUT_RUNNING and report["outcome"] == "healthy"
    assert not [r for r in sim.requests if r.method != "GET"]


def test_watch_without_rollback_on_failure_reports_and_does_not_roll_back(
    start_sim: Start, run_cli: Run
) -> None:
    """A re-attached deploy that turns bad: same verdict, but no rollback unless asked;
    exit 4 with the rollback command to run."""
    sim = start_sim("render-shapes")
    sim.queue_behaviour("storefront", "unhealthy_after_live", unhealthy_after=5, **QUICK)
    started = httpx.post(
        f"{sim.url}/services/srv-sh4p3sw3b0000000001/deploys",
        json={},
        headers={"Authorization": f"Bearer {sim.api_key}"},
    ).json()
    result = run_cli("watch", "storefront", started["id"], "--soak", "30s", "-o", "json")
    assert result.exit_code == 4
    report = report_of(result)
    assert report["watch_verdict"] == "turned_bad" and report["rollback"] is None
    assert any("--rollback-on-failure" in action for action in report["actions"])
    assert not requests_to(sim, "POST", "/rollback")
    assert report["undo_command"] == "releaser rollback storefront --to dep-sh4p3sw3b000000000b"


def test_watch_with_rollback_on_failure_rolls_back(start_sim: Start, run_cli: Run) -> None:
    """--rollback-on-failure: the re-attached deploy that turns bad is rolled back, exit 1."""
    sim = start_sim("render-shapes")
    sim.queue_behaviour("storefront", "unhealthy_after_live", unhealthy_after=5, **QUICK)
    httpx.post(
        f"{sim.url}/services/srv-sh4p3sw3b0000000001/deploys",
        json={},
        headers={"Authorization": f"Bearer {sim.api_key}"},
    )
    result = run_cli("watch", "storefront", "--rollback-on-failure", "--soak", "30s")
    assert result.exit_code == 1, result.stderr
    assert result.stdout.startswith("ROLLED BACK: ")
    assert len(requests_to(sim, "POST", "/rollback")) == 1


def test_cancel_needs_yes_without_a_terminal_and_then_cancels_once(
    start_sim: Start, run_cli: Run
) -> None:
    """No terminal and no --yes: exit 2, nothing written. With --yes: one cancel POST, the
    status read back, exit 0; a second cancel finds nothing in progress (exit 2)."""
    sim = start_sim("render-shapes")
    refused = run_cli("cancel", "checkout")
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    assert not [r for r in sim.requests if r.method != "GET"]
    done = run_cli("cancel", "checkout", "--yes")
    assert done.exit_code == 0, done.stderr
    assert done.stdout.startswith(f"CANCELED: canceled {CHECKOUT_RUNNING}")
    assert len(requests_to(sim, "POST", "/cancel")) == 1
    again = run_cli("cancel", "checkout", "--yes")
    assert again.exit_code == 2 and "no deploy is in progress" in again.stderr


def test_cancel_of_a_finished_deploy_is_refused_before_any_write(
    start_sim: Start, run_cli: Run
) -> None:
    """Naming a deploy that is not running: exit 2, no POST."""
    sim = start_sim("render-shapes")
    result = run_cli("cancel", API, API_LIVE, "--yes")
    assert result.exit_code == 2
    assert f"deploy {API_LIVE} is live" in result.stderr
    assert not requests_to(sim, "POST", "/cancel")


def watching(sim: SimServer) -> bool:
    """The deploy was created and its status has been read since: the watch loop runs."""
    posts = [i for i, r in enumerate(sim.requests) if r.method == "POST"]
    return bool(posts) and any(
        r.method == "GET" and "/deploys" in r.path for r in sim.requests[posts[0] + 1 :]
    )


def test_ctrl_c_during_deploy_names_the_running_deploy_and_the_re_attach_command(
    start_sim: Start,
) -> None:
    """SIGINT while watching: the deploy is not canceled; the error names it, says it is
    still running, and prints 'releaser watch' (exit 4: nobody is watching it now)."""
    # Real time, not the folder's virtual time: releaser runs in a subprocess that sleeps for real.
    sim = start_sim("render-shapes", time_scale=1.0)
    sim.queue_behaviour("storefront", "succeed", build_seconds="2h")
    env = {**os.environ, "RENDER_API_URL": sim.url, "RENDER_API_KEY": sim.api_key}
    process = subprocess.Popen(
        [sys.executable, "-m", "releaser.cli.main", "deploy", "storefront", "--skip-checks"]
        + ["--yes"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not watching(sim):
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    ours = new_deploys(sim, "storefront")
    assert len(ours) == 1 and ours[0].in_progress
    assert not requests_to(sim, "POST", "/cancel")
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"Error: interrupted: deploy {ours[0].id} on storefront")
    assert "still running" in last
    assert f"'releaser watch storefront {ours[0].id} --rollback-on-failure'" in last
    assert process.returncode == 4


@pytest.mark.parametrize("behaviour", ["succeed", "crash_loop", "unhealthy_after_live"])
def test_logs_and_events_answering_404_never_abandon_the_deploy(
    start_sim: Start, run_cli: Run, behaviour: str
) -> None:
    """GET /logs and /events answer 404 (a plan without log access) while deploys work: a
    healthy deploy still ends exit 0; a bad one still ends with a verdict, an action and a
    report (never 'lost contact' with a deploy releaser started)."""
    sim = start_sim("render-shapes")
    sim.add_fault(method="GET", path="/logs", status=404)
    sim.add_fault(method="GET", path="/services/*/events", status=404)
    sim.queue_behaviour("storefront", behaviour, unhealthy_after=5, fail_after=300, **QUICK)
    result = deploy(run_cli, "storefront")
    report = report_of(result)
    expected = {
        "succeed": (0, "healthy"),
        "crash_loop": (1, "failed"),
        "unhealthy_after_live": (1, "rolled_back"),
    }
    assert (result.exit_code, report["outcome"]) == expected[behaviour], result.stderr


def test_cancel_dry_run_writes_nothing_and_json_names_the_deploy(
    start_sim: Start, run_cli: Run
) -> None:
    """--dry-run: exit 0, the deploy that would be canceled and what keeps serving; no write."""
    sim = start_sim("render-shapes")
    result = run_cli("cancel", "checkout", "--dry-run", "-o", "json")
    assert result.exit_code == 0, result.stderr
    plan = json.loads(result.stdout)
    assert (plan["outcome"], plan["deploy_id"]) == ("planned", CHECKOUT_RUNNING)
    assert plan["live_deploy_id"] == "dep-sh4p3sbusy00000000b"
    assert not [r for r in sim.requests if r.method != "GET"]


def test_watch_with_nothing_in_progress_is_a_usage_error(start_sim: Start, run_cli: Run) -> None:
    """No running deploy and no id: exit 2, one line naming how to pick one; no write."""
    sim = start_sim("render-shapes")
    result = run_cli("watch", "storefront")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: no deploy is in progress on storefront")
    assert "releaser watch storefront dep-" in result.stderr
    assert not [r for r in sim.requests if r.method != "GET"]


def test_a_status_filter_that_is_ignored_does_not_make_a_running_deploy_live(
    start_sim: Start, run_cli: Run
) -> None:
    """render-shapes answers ?status=live with every deploy, newest (running) first: the
    services list still shows checkout's real live deploy, checked by its status."""
    start_sim("render-shapes")
    result = run_cli("services", "-o", "json")
    assert result.exit_code == 0, result.stderr
    rows = {row["id"]: row for row in json.loads(result.stdout)}
    assert rows["srv-sh4p3sbusy000000001"]["live_deploy"]["id"] == "dep-sh4p3sbusy00000000b"
    assert rows["srv-sh4p3sbusy000000001"]["live_deploy"]["status"] == "live"


RUNNING_CRASH = """\
[scenario]
name = "running-crash"

[owner]
id = "tea-r3nd3rsh4p3s0000001"
name = "Shapes Inc"

[[services]]
id = "srv-runn1ngcr4sh0000001"
name = "billing"
repo = "https://github.com/shapes/billing"

[[services.deploys]]
id = "dep-runn1ngcr4sh00000a"
status = "live"
commit = "aaaaaaa"
created_at = "-1d"

[[services.deploys]]
id = "dep-runn1ngcr4sh00000b"
status = "update_in_progress"
commit = "bbbbbbb"
created_at = "-3m"
then = { behaviour = "crash_loop", fail_after = "10m" }
"""


def test_watch_catches_a_crash_loop_in_a_deploy_it_did_not_start(
    start_sim: Start, run_cli: Run, tmp_path: Any
) -> None:
    """A deploy already crash-looping when releaser arrives: 'releaser watch' reaches the same
    verdict as deploy (crash loop, canceled, exit 1) and names the previous deploy as serving."""
    path = tmp_path / "running-crash.toml"
    path.write_text(RUNNING_CRASH, encoding="utf-8")
    sim = start_sim(str(path))
    result = run_cli("watch", "billing", "-o", "json")
    assert result.exit_code == 1, result.stderr
    report = report_of(result)
    assert (report["outcome"], report["deploy_id"]) == ("canceled", "dep-runn1ngcr4sh00000b")
    assert report["previous_deploy_id"] == "dep-runn1ngcr4sh00000a"
    assert len(requests_to(sim, "POST", "/cancel")) == 1


def test_declining_cancel_on_a_terminal_changes_nothing(start_sim: Start) -> None:
    """On a terminal, answering no: exit 1 'not confirmed. Nothing was changed', no POST."""
    import pty

    sim = start_sim("render-shapes")
    env = {**os.environ, "RENDER_API_URL": sim.url, "RENDER_API_KEY": sim.api_key}
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "releaser.cli.main", "cancel", "checkout"],
        env=env,
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(slave)
    try:
        os.write(master, b"n\n")
        _, stderr = process.communicate(timeout=120)
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 1, stderr
    assert stderr.strip().endswith("[y/N]: Error: not confirmed. Nothing was changed")
    assert not requests_to(sim, "POST", "/cancel")


def test_watch_never_rolls_back_a_rollback(start_sim: Start, run_cli: Run) -> None:
    """Re-attached to a rollback that turns bad, even with --rollback-on-failure: no second
    rollback (it would go back to what it escaped); exit 4, a human decides."""
    sim = start_sim("render-shapes")
    sim.queue_behaviour("storefront", "unhealthy_after_live", unhealthy_after=5, **QUICK)
    started = httpx.post(
        f"{sim.url}/services/srv-sh4p3sw3b0000000001/rollback",
        json={"deployId": "dep-sh4p3sw3b000000000a"},
        headers={"Authorization": f"Bearer {sim.api_key}"},
    )
    assert started.status_code == 201
    result = run_cli("watch", "storefront", "--rollback-on-failure", "--soak", "30s", "-o", "json")
    assert result.exit_code == 4
    report = report_of(result)
    assert report["watch_verdict"] == "turned_bad" and report["rollback"] is None
    assert any("never rolled back itself" in w for w in report["warnings"])
    assert len(requests_to(sim, "POST", "/rollback")) == 1  # only the one the test made


def test_status_says_how_health_is_judged(start_sim: Start, run_cli: Run) -> None:
    """status names the rule per type: a private service is not probed, an API without a
    health path is up on any answer below 500."""
    start_sim("render-shapes")
    private = run_cli("status", "search")
    assert private.exit_code == 0, private.stderr
    assert "health URL   -" in private.stdout and "not probed" in private.stdout
    api = run_cli("status", API, "-o", "json")
    assert "any answer below 500" in json.loads(api.stdout)["health_judged"]
