"""`releaser go-no-go` over real HTTP against the simulator's scenarios."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import Result
from conftest import WEB, writes

Run = Callable[..., Result]


def check(result: Result, name: str) -> dict[str, str]:
    """The named check from a JSON report."""
    report = json.loads(result.stdout)
    return next(c for c in report["checks"] if c["name"] == name)


def test_healthy_demo_service_is_go(start: Callable[..., Any], run_cli: Run) -> None:
    """The demo's web service passes: exit 0, verdict GO, and nothing is written."""
    server = start("demo")
    result = run_cli("go-no-go", "web", "--commit", "1b64538")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.rstrip().endswith("Verdict: GO")
    assert "  PASS  secrets" in result.stdout
    assert result.stderr == ""
    assert writes(server) == []


def test_json_report_is_one_document(start: Callable[..., Any], run_cli: Run) -> None:
    """-o json prints the report contract (service, verdict, checks) and nothing else."""
    start("demo")
    result = run_cli("go-no-go", "web", "-o", "json")
    report = json.loads(result.stdout)
    assert (report["service_id"], report["service_name"], report["verdict"]) == (WEB, "web", "GO")
    assert {c["status"] for c in report["checks"]} <= {"PASS", "WARN", "FAIL", "SKIP"}


def test_missing_secret_in_unlinked_group_is_no_go(start: Callable[..., Any], run_cli: Run) -> None:
    """A required key that lives in a group linked to another service is missing: NO-GO."""
    start("gonogo-missing-secret", '[services.web]\nrequired = ["SECRET_KEY", "STRIPE_API_KEY"]\n')
    result = run_cli("go-no-go", "web", "-o", "json")
    assert result.exit_code == 1
    assert check(result, "required vars") == {
        "name": "required vars",
        "status": "FAIL",
        "detail": "missing: STRIPE_API_KEY",
    }
    assert result.stderr.startswith("Error: NO-GO for web (srv-hjtl316kyssqmyi4ywa3): 2 check")


def test_empty_secret_is_caught_without_config(start: Callable[..., Any], run_cli: Run) -> None:
    """A secret that arrived empty (an unset CI variable) fails even with no releaser.toml."""
    start("gonogo-missing-secret")
    result = run_cli("go-no-go", "web", "-o", "json")
    assert result.exit_code == 1
    assert check(result, "secrets")["detail"] == "STRIPE_WEBHOOK_SECRET is empty"


def test_group_vars_count_for_presence(start: Callable[..., Any], run_cli: Run) -> None:
    """A required key set only in a linked env group is present."""
    start("demo", '[services.web]\nrequired = ["SESSION_SECRET", "SECRET_KEY"]\n')
    result = run_cli("go-no-go", "web", "-o", "json")
    assert check(result, "required vars")["status"] == "PASS"


def test_weak_secrets_are_no_go(start: Callable[..., Any], run_cli: Run) -> None:
    """Placeholder, short and duplicated secrets are caught with no releaser.toml at all."""
    start("gonogo-weak-secret")
    result = run_cli("go-no-go", "web")
    assert result.exit_code == 1
    line = next(ln for ln in result.stdout.splitlines() if "FAIL  secrets" in ln)
    assert "SECRET_KEY looks like a placeholder" in line
    assert "JWT_SIGNING_KEY is 12 characters, needs at least 32" in line
    assert "ADMIN_TOKEN and SESSION_SECRET hold the same value" in line


def test_bad_json_list_is_no_go(start: Callable[..., Any], run_cli: Run) -> None:
    """A json_list value that does not parse names key, type and why."""
    start("gonogo-bad-json-list", '[services.web.types]\nCORS_ORIGINS = "json_list"\n')
    result = run_cli("go-no-go", "web", "-o", "json")
    assert result.exit_code == 1
    detail = check(result, "typed values")["detail"]
    assert detail.startswith("CORS_ORIGINS (json_list): not valid JSON (Expecting value")
    assert "app.acme.example" not in result.stdout
    Path("releaser.toml").unlink()
    untyped = run_cli("go-no-go", "web", "-o", "json")
    assert untyped.exit_code == 1
    assert check(untyped, "typed values")["detail"].startswith(
        "CORS_ORIGINS looks like JSON but is not: not valid JSON"
    )


def test_deploy_in_progress_is_no_go(start: Callable[..., Any], run_cli: Run) -> None:
    """While a deploy is building, go-no-go says NO-GO and names it."""
    server = start("gonogo-deploy-in-progress")
    with server.state.lock:
        running = server.state.create_deploy(WEB)
    result = run_cli("go-no-go", "web", "-o", "json")
    assert result.exit_code == 1
    item = check(result, "no deploy in progress")
    assert item["status"] == "FAIL" and running.id in item["detail"]


def test_no_previous_deploy_is_no_go(start: Callable[..., Any], run_cli: Run) -> None:
    """A service that never deployed successfully has nothing to roll back to: NO-GO."""
    start("gonogo-no-previous")
    result = run_cli("go-no-go", "web", "-o", "json")
    assert result.exit_code == 1
    assert check(result, "rollback target")["status"] == "FAIL"


def test_first_release_allowed_by_config(start: Callable[..., Any], run_cli: Run) -> None:
    """require_rollback_target = false turns 'nothing to roll back to' into a warning."""
    start("gonogo-no-previous", "[services.web]\nrequire_rollback_target = false\n")
    result = run_cli("go-no-go", "web", "-o", "json")
    assert result.exit_code == 0
    assert check(result, "rollback target")["status"] == "WARN"


def test_env_file_drift_and_shell_safety(start: Callable[..., Any], run_cli: Run) -> None:
    """--env-file reports keys missing on Render, differing values and unsafe lines."""
    start("demo")
    Path(".env").write_text("WEB_CONCURRENCY=4\nPYTHON_VERSION=3.12.1\nNEW_PASSWORD=ab&cd)\n")
    result = run_cli("go-no-go", "web", "--env-file", ".env", "-o", "json")
    assert result.exit_code == 1
    drift = check(result, "env file drift")
    assert drift["status"] == "FAIL"
    assert drift["detail"].startswith(
        "missing on Render: NEW_PASSWORD; values differ: PYTHON_VERSION"
    )
    shell = check(result, "env file shell-safe")
    assert shell["status"] == "WARN" and "NEW_PASSWORD (line 3)" in shell["detail"]
    assert "ab&cd" not in result.stdout + result.stderr


def test_bad_inputs_exit_2_with_file_and_line(start: Callable[..., Any], run_cli: Run) -> None:
    """Malformed .env, malformed releaser.toml and an unknown type: one line, exit 2."""
    server = start("demo")
    Path(".env").write_text("A=1\nB\n")
    result = run_cli("go-no-go", "web", "--env-file", ".env")
    assert (result.exit_code, result.stderr) == (
        2,
        "Error: .env:2: this line has no '='. Write KEY=value (KEY= for an empty value)\n",
    )
    Path("releaser.toml").write_text('[services.web.types]\nA = "int"\nB = "jsonlist"\n')
    result = run_cli("go-no-go", "web")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: releaser.toml:3: services.web.types.B: Input should be")
    assert len(result.stderr.splitlines()) == 1
    Path("releaser.toml").write_text("[services.web\n")
    result = run_cli("go-no-go", "web")
    assert result.exit_code == 2 and "line 1" in result.stderr
    assert writes(server) == []


def test_api_trouble_exits_3(start: Callable[..., Any], run_cli: Run) -> None:
    """When Render keeps refusing (rate limit never clears), go-no-go cannot decide: exit 3."""
    server = start("demo")
    server.add_fault(method="GET", path="/services/*/deploys", status=429, retry_after=0)
    result = run_cli("go-no-go", "web")
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: rate limited by Render (429); gave up after")
    assert result.stdout == ""


def test_commit_and_image_are_exclusive(start: Callable[..., Any], run_cli: Run) -> None:
    """--commit and --image together are a usage error."""
    start("demo")
    result = run_cli("go-no-go", "web", "--commit", "abc1234", "--image", "x:1")
    assert result.exit_code == 2 and "exclusive" in result.stderr
