"""`releaser deploy` end to end against the simulator over HTTP: verdicts, exit codes, writes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import Result
from deployhelp import (
    LIVE,
    LIVE_COMMIT,
    QUICK,
    WEB,
    auto_deploy_of,
    live_of,
    new_deploys,
    requests_to,
    writes,
)

from releaser.sim import SimServer

Run = Callable[..., Result]
Start = Callable[..., SimServer]


def deploy(run_cli: Run, *args: str) -> Result:
    return run_cli("deploy", "web", "--skip-checks", "--yes", "--soak", "30s", *args)


def test_a_healthy_deploy_exits_0_with_one_post_and_a_report(
    start_sim: Start, run_cli: Run, tmp_path: Path
) -> None:
    """Live, soaked, probes passing: exit 0, one deploy POST, nothing canceled or rolled back."""
    sim = start_sim("demo")
    sim.queue_behaviour("web", "succeed", **QUICK)
    result = deploy(run_cli, "--report", str(tmp_path / "r.md"))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("HEALTHY: ")
    assert f"undo       releaser rollback web --to {LIVE}" in result.stdout
    assert "phase build" in result.stderr and "phase soak" in result.stderr  # progress: stderr
    assert [r.status for r in requests_to(sim, "POST", "/deploys")] == [201]
    assert not requests_to(sim, "POST", "/cancel") and not requests_to(sim, "POST", "/rollback")
    ours = new_deploys(sim)
    assert len(ours) == 1 and live_of(sim).id == ours[0].id
    markdown = (tmp_path / "r.md").read_text()
    assert markdown.startswith("# Release report: web\n\n**HEALTHY**")
    assert "| soak |" in markdown


def test_json_output_is_one_document_with_timings_and_request_count(
    start_sim: Start, run_cli: Run
) -> None:
    """-o json: the report on stdout, parseable; progress stays on stderr."""
    sim = start_sim("demo")
    sim.queue_behaviour("web", "succeed", **QUICK)
    result = deploy(run_cli, "-o", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["outcome"] == "healthy" and report["exit_code"] == 0
    assert report["previous_deploy_id"] == LIVE
    assert [t["phase"] for t in report["timings"]] == ["queued", "build", "update", "soak"]
    assert report["api_requests"] > 0 and report["health_probes"] >= 3


def test_a_crash_loop_is_canceled_and_reported_with_its_cause(
    start_sim: Start, run_cli: Run, tmp_path: Path
) -> None:
    """Repeated fatal startup lines: cancel (the old version still serves), exit 1, the cause
    and the decisive lines in the report; no rollback needed."""
    sim = start_sim("crash-loop")
    result = deploy(run_cli, "--report", str(tmp_path / "incident.md"))
    assert result.exit_code == 1, result.stderr
    assert result.stdout.startswith("CANCELED: ")
    assert "cause      missing environment variable: DATABASE_URL is not set" in result.stdout
    assert "KeyError: 'DATABASE_URL'" in result.stdout
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("Error: dep-") and "was canceled by releaser" in error
    ours = new_deploys(sim)
    assert [d.status for d in ours] == ["canceled"]
    assert len(requests_to(sim, "POST", f"/deploys/{ours[0].id}/cancel")) == 1
    assert not requests_to(sim, "POST", "/rollback")
    assert live_of(sim).id == LIVE  # the previous version never stopped serving
    incident = (tmp_path / "incident.md").read_text()
    assert "## Decisive log lines" in incident and "KeyError: 'DATABASE_URL'" in incident
    assert "Cause: **missing environment variable**" in incident


def test_a_failed_build_needs_no_action_and_exits_1(start_sim: Start, run_cli: Run) -> None:
    """Render failed the build; the live version is untouched; exit 1 with the build error."""
    sim = start_sim("build-fail")
    result = deploy(run_cli)
    assert result.exit_code == 1, result.stderr
    assert result.stdout.startswith("FAILED: Render marked the deploy build_failed")
    assert [r.method for r in writes(sim)] == ["POST"]  # only the deploy itself
    assert live_of(sim).id == LIVE


def test_turning_unhealthy_after_live_rolls_back_once(start_sim: Start, run_cli: Run) -> None:
    """Live, then the health check fails: autodeploy off, one rollback to the remembered
    deploy, watched until healthy: exit 1 with the undo command."""
    sim = start_sim("demo")
    sim.queue_behaviour("web", "unhealthy_after_live", unhealthy_after=5, **QUICK)
    result = deploy(run_cli, "-o", "json")
    assert result.exit_code == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["outcome"] == "rolled_back"
    assert report["rollback"]["to_deploy_id"] == LIVE
    assert report["rollback"]["outcome"] == "healthy"
    assert report["rollback"]["autodeploy_disabled"] is True
    assert report["undo_command"] == f"releaser rollback web --to {report['deploy_id']}"
    rollbacks = requests_to(sim, "POST", "/rollback")
    assert [r.json for r in rollbacks] == [{"deployId": LIVE}]
    assert [r.json for r in requests_to(sim, "PATCH", WEB)] == [{"autoDeploy": "no"}]
    assert auto_deploy_of(sim) == "no"
    live = live_of(sim)
    assert live.trigger == "rollback" and live.commit == LIVE_COMMIT


def test_no_rollback_leaves_it_to_a_human_with_exit_4(start_sim: Start, run_cli: Run) -> None:
    """--no-rollback: it turned bad and we are NOT back: exit 4, the rollback command given."""
    sim = start_sim("demo")
    sim.queue_behaviour("web", "unhealthy_after_live", unhealthy_after=5, **QUICK)
    result = deploy(run_cli, "--no-rollback")
    assert result.exit_code == 4, result.stderr
    assert "did not roll back: --no-rollback was given" in result.stdout
    assert f"releaser rollback web --to {LIVE}" in result.stderr
    assert not requests_to(sim, "POST", "/rollback")


def test_dry_run_writes_nothing(start_sim: Start, run_cli: Run) -> None:
    """--dry-run prints the plan (target, rollback target) and makes zero non-GET requests."""
    sim = start_sim("demo")
    result = run_cli("deploy", "web", "--dry-run", "--commit", LIVE_COMMIT[:7])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(
        f"DRY RUN: would deploy commit {LIVE_COMMIT[:7]} to web ({WEB}); rollback target {LIVE}"
    )
    assert writes(sim) == []


def test_without_a_terminal_and_without_yes_it_refuses(start_sim: Start, run_cli: Run) -> None:
    """No TTY to ask on and no --yes: exit 2, telling to pass --yes; nothing written."""
    sim = start_sim("demo")
    result = run_cli("deploy", "web", "--skip-checks")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "Error: this command writes and there is no terminal to confirm on, so nothing was "
        "changed. Pass --yes to confirm non-interactively, or --dry-run to see the plan"
    )
    assert writes(sim) == []


def test_no_go_stops_before_anything_is_deployed(start_sim: Start, run_cli: Run) -> None:
    """go-no-go runs first; NO-GO (a required variable missing) exits 1 with no deploy POST."""
    sim = start_sim("demo")
    Path("releaser.toml").write_text('[services.web]\nrequired = ["STRIPE_KEY"]\n')
    result = run_cli("deploy", "web", "--yes")
    assert result.exit_code == 1
    assert result.stdout.startswith("NO GO: go-no-go says NO-GO (")
    assert "Nothing was deployed" in result.stderr
    assert writes(sim) == []


def test_go_runs_the_checks_then_deploys(start_sim: Start, run_cli: Run) -> None:
    """GO: the checks are part of the report and the deploy proceeds."""
    sim = start_sim("demo")
    sim.queue_behaviour("web", "succeed", **QUICK)
    result = run_cli("deploy", "web", "--yes", "--soak", "20s", "-o", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    names = {c["name"] for c in report["checks"]}
    assert {"rollback target", "no deploy in progress"} <= names
    assert len(new_deploys(sim)) == 1


def test_a_deploy_already_in_progress_is_refused(start_sim: Start, run_cli: Run) -> None:
    """Another deploy running: do not start a second one (Render would cancel the first)."""
    sim = start_sim("demo")
    with sim.state.lock:
        sim.state.create_deploy(WEB, trigger="new_commit")
    result = deploy(run_cli)
    assert result.exit_code == 1
    assert "is already" in result.stdout
    assert writes(sim) == []


def test_bad_durations_are_usage_errors(start_sim: Start, run_cli: Run) -> None:
    """A timeout that does not parse: exit 2 before any request."""
    sim = start_sim("demo")
    result = run_cli("deploy", "web", "--timeout", "soon", "--yes")
    assert result.exit_code == 2
    assert "--timeout 'soon' is not a duration" in result.stderr
    assert sim.requests == []


def test_commit_and_clear_cache_are_sent_as_render_expects(start_sim: Start, run_cli: Run) -> None:
    """--commit and --clear-cache become commitId and clearCache "clear" in the one POST."""
    sim = start_sim("demo")
    sim.queue_behaviour("web", "succeed", **QUICK)
    result = deploy(run_cli, "--commit", LIVE_COMMIT, "--clear-cache")
    assert result.exit_code == 0, result.stderr
    [post] = requests_to(sim, "POST", "/deploys")
    assert post.json == {"clearCache": "clear", "commitId": LIVE_COMMIT}


def test_deploy_only_redeploys_the_last_build(start_sim: Start, run_cli: Run) -> None:
    """--deploy-only asks for deployMode deploy_only (no build) and is watched the same way."""
    sim = start_sim("demo")
    sim.queue_behaviour("web", "succeed", **QUICK)
    result = deploy(run_cli, "--deploy-only", "-o", "json")
    assert result.exit_code == 0, result.stderr
    [post] = requests_to(sim, "POST", "/deploys")
    assert post.json["deployMode"] == "deploy_only"
    assert "build" not in [t["phase"] for t in json.loads(result.stdout)["timings"]]


def test_a_deploy_still_building_at_the_timeout_is_canceled(start_sim: Start, run_cli: Run) -> None:
    """--timeout: still in progress when it expires: canceled, exit 1, previous serving."""
    sim = start_sim("demo")
    sim.queue_behaviour("web", "succeed", build_seconds=600)
    result = deploy(run_cli, "--timeout", "40s")
    assert result.exit_code == 1, result.stderr
    assert "still build_in_progress after 40s" in result.stdout
    assert [d.status for d in new_deploys(sim)] == ["canceled"]
    assert live_of(sim).id == LIVE
