"""`releaser rollback` against the simulator: target checks, autodeploy, dry run, refusals."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from click.testing import Result
from deployhelp import (
    BUILD_FAILED,
    LIVE,
    PREVIOUS,
    PREVIOUS_COMMIT,
    WEB,
    auto_deploy_of,
    live_of,
    requests_to,
    writes,
)

from releaser.sim import SimServer

Run = Callable[..., Result]
Start = Callable[..., SimServer]


def test_rollback_to_previous_disables_autodeploy_and_waits_for_healthy(
    start_sim: Start, run_cli: Run
) -> None:
    """previous = newest good deploy before live; autodeploy off first, said with the command
    to re-enable; one rollback POST; waits live + healthy; lists what is not undone."""
    sim = start_sim("demo")
    result = run_cli("rollback", "web", "--to", "previous", "--yes")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert out.startswith("HEALTHY: web (srv-hjtl316kyssqmyi4ywa3) is back on c1dfd96")
    assert f"to         {PREVIOUS} (c1dfd96 Revert" in out
    assert "autodeploy turned off" in out
    assert 'was autoDeploy "yes", autoDeployTrigger "commit"' in out  # the exact setting
    # the command that turns it back on, to that setting
    assert '\'{"autoDeploy": "yes", "autoDeployTrigger": "commit"}\'' in out
    assert "database migrations" in out and "environment variable changes" in out
    assert "persistent disks" in out
    assert f"undo       releaser rollback web --to {LIVE}" in out
    assert [(r.method, r.json) for r in writes(sim)] == [
        ("PATCH", {"autoDeploy": "no"}),
        ("POST", {"deployId": PREVIOUS}),
    ]
    assert auto_deploy_of(sim) == "no"
    live = live_of(sim)
    assert live.trigger == "rollback" and live.commit == PREVIOUS_COMMIT


def test_dry_run_prints_the_plan_and_sends_no_write(start_sim: Start, run_cli: Run) -> None:
    """--dry-run: the plan, and the simulator saw not a single non-GET request."""
    sim = start_sim("demo")
    result = run_cli("rollback", "web", "--to", "previous", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"PLANNED: would roll web ({WEB}) back to {PREVIOUS}")
    assert "will be turned off" in result.stdout
    assert writes(sim) == []
    assert live_of(sim).id == LIVE


def test_keep_autodeploy_skips_the_patch_and_warns(start_sim: Start, run_cli: Run) -> None:
    """--keep-autodeploy: no PATCH, and a warning that the next push redeploys."""
    sim = start_sim("demo")
    result = run_cli("rollback", "web", "--to", "previous", "--yes", "--keep-autodeploy")
    assert result.exit_code == 0, result.stderr
    assert "the next push will deploy again" in result.stdout
    assert [r.method for r in writes(sim)] == ["POST"]
    assert auto_deploy_of(sim) == "yes"


def test_a_commit_selects_its_newest_good_deploy(start_sim: Start, run_cli: Run) -> None:
    """--to SHA: the newest successful deploy of that commit."""
    sim = start_sim("demo")
    result = run_cli("rollback", "web", "--to", PREVIOUS_COMMIT[:10], "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["target_deploy_id"] == PREVIOUS and report["outcome"] == "healthy"
    assert [r.json for r in requests_to(sim, "POST", "/rollback")] == [{"deployId": PREVIOUS}]


def test_no_wait_returns_once_started(start_sim: Start, run_cli: Run) -> None:
    """--no-wait: exit 0 as soon as Render accepted the rollback."""
    sim = start_sim("demo")
    result = run_cli("rollback", "web", "--to", "previous", "--yes", "--no-wait")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("STARTED: rollback dep-")
    assert len(requests_to(sim, "POST", "/rollback")) == 1


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (LIVE, f"Error: deploy {LIVE} is the live deploy already. Nothing to roll back to"),
        (BUILD_FAILED, f"Error: deploy {BUILD_FAILED} is build_failed, it never went live."),
        ("dep-doesnotexist", "Error: deploy dep-doesnotexist is not among"),
        ("last-tuesday", "Error: --to 'last-tuesday' is neither 'previous'"),
    ],
)
def test_unfit_targets_are_refused_before_any_write(
    start_sim: Start, run_cli: Run, target: str, message: str
) -> None:
    """The target is checked first: exit 2, and nothing written."""
    sim = start_sim("demo")
    result = run_cli("rollback", "web", "--to", target, "--yes")
    assert result.exit_code == 2
    assert result.stderr.startswith(message)
    assert writes(sim) == []


def test_without_yes_and_without_a_terminal_it_refuses(start_sim: Start, run_cli: Run) -> None:
    """Confirmation is required: no TTY and no --yes is exit 2 with the way out."""
    sim = start_sim("demo")
    result = run_cli("rollback", "web", "--to", "previous")
    assert result.exit_code == 2
    assert "Pass --yes to confirm non-interactively" in result.stderr
    assert writes(sim) == []


def test_a_refused_rollback_post_is_reported_not_retried(start_sim: Start, run_cli: Run) -> None:
    """Render refuses (build no longer retained): exit 2 with its message; one POST only."""
    sim = start_sim("demo")
    with sim.state.lock:
        sim.state.service(WEB).config.build_retention = 1
    result = run_cli("rollback", "web", "--to", "previous", "--yes", "--keep-autodeploy")
    assert result.exit_code == 2
    assert "no longer retained" in result.stderr
    assert len(requests_to(sim, "POST", "/rollback")) == 1
    assert live_of(sim).id == LIVE


def test_rollback_watch_uses_the_configured_startup_error_patterns(
    start_sim: Start, run_cli: Run, tmp_path: object
) -> None:
    """During a rollback's watch, a line only releaser.toml's startup_error_patterns
    recognise is named as a startup error, as deploy names it."""
    from pathlib import Path

    Path("releaser.toml").write_text(
        '[services.web]\nstartup_error_patterns = ["license check failed"]\n'
    )
    sim = start_sim("demo")
    sim.queue_behaviour(
        "web", "crash_loop", log_lines=["FATAL: license check failed, shutting down"]
    )
    result = run_cli("rollback", "web", "--to", "previous", "--yes")
    assert result.exit_code != 0, result.stdout
    assert not result.stdout.startswith("HEALTHY")
    assert "license check failed, shutting down  [startup error (releaser.toml pattern)]" in (
        result.stderr
    )
