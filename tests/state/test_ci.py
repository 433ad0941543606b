"""GitHub Actions outputs and the --notify webhook, checked through real files and HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from releaser.sim import SimServer

Run = Callable[..., Result]
Start = Callable[..., SimServer]
QUICK = {"build_seconds": 20, "update_seconds": 10}


@pytest.fixture
def github(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """GITHUB_* variables pointing at temporary files, as a runner sets them."""
    files = {"summary": tmp_path / "summary.md", "output": tmp_path / "output.txt"}
    for name, value in {
        "GITHUB_ACTIONS": "true",
        "GITHUB_ACTOR": "octocat",
        "GITHUB_REPOSITORY": "acme/shop",
        "GITHUB_RUN_ID": "77",
        "GITHUB_STEP_SUMMARY": str(files["summary"]),
        "GITHUB_OUTPUT": str(files["output"]),
    }.items():
        monkeypatch.setenv(name, value)
    return files


def outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def test_a_no_go_writes_summary_annotations_and_outputs(
    github: dict[str, Path], start_sim: Start, run_cli: Run
) -> None:
    """NO-GO on GitHub: the checklist in the step summary, FAILs as ::error, verdict output."""
    start_sim("gonogo-no-previous")
    result = run_cli("go-no-go", "web", "-o", "json")
    assert result.exit_code == 1
    json.loads(result.stdout)  # annotations never pollute stdout
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("::error::")]
    assert any(ln.startswith("::error::rollback target: ") for ln in errors), result.stderr
    assert errors[-1].startswith("::error::NO-GO for web")
    summary = github["summary"].read_text()
    assert summary.startswith("## go-no-go: NO-GO\n\n```\ngo-no-go for web")
    out = outputs(github["output"])
    assert out["verdict"] == "NO-GO" and out["exit_code"] == "1" and out["command"] == "go-no-go"
    assert out["exit_reason"].startswith("NO-GO for web")
    assert github["summary"].stat().st_mode & 0o777 == 0o600


def test_deploy_outputs_the_deploy_id_and_whether_it_rolled_back(
    github: dict[str, Path], start_sim: Start, run_cli: Run
) -> None:
    """healthy: deploy_id and rolled_back=false; then a bad deploy: rolled_back=true, exit 1."""
    sim = start_sim("demo")
    sim.queue_behaviour("web", "succeed", **QUICK)
    good = run_cli("deploy", "web", "--skip-checks", "--yes", "--soak", "20s")
    assert good.exit_code == 0, good.stderr
    out = outputs(github["output"])
    assert out["verdict"] == "healthy" and out["rolled_back"] == "false"
    assert out["deploy_id"].startswith("dep-") and out["exit_reason"] == ""
    assert github["summary"].read_text().startswith("# Release report: web")
    sim.queue_behaviour("web", "unhealthy_after_live", unhealthy_after=5, **QUICK)
    bad = run_cli("deploy", "web", "--skip-checks", "--yes", "--soak", "60s")
    assert bad.exit_code == 1
    lines = github["output"].read_text().splitlines()
    second = dict(line.split("=", 1) for line in lines[len(out) :])
    assert second["rolled_back"] == "true" and second["exit_code"] == "1"
    assert any(ln.startswith("::error::") for ln in bad.stderr.splitlines())
    assert github["summary"].read_text().count("# Release report: web") == 2


def test_outside_github_actions_nothing_is_written(
    tmp_path: Path, start_sim: Start, run_cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No GITHUB_ACTIONS=true: no summary, no outputs, no workflow commands."""
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "s.md"))
    start_sim("gonogo-no-previous")
    result = run_cli("go-no-go", "web")
    assert result.exit_code == 1
    assert "::error::" not in result.stderr and not (tmp_path / "s.md").exists()


class Hook:
    def __init__(self, status: int) -> None:
        self.status = status
        self.bodies: list[dict[str, Any]] = []


@pytest.fixture
def webhook() -> Iterator[Callable[[int], tuple[str, Hook]]]:
    """A Slack-compatible webhook on 127.0.0.1 that records what it is sent."""
    servers: list[HTTPServer] = []

    def start(status: int = 200) -> tuple[str, Hook]:
        hook = Hook(status)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length", "0"))
                hook.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(hook.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/services/T000/B000/secretpart", hook

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_notify_posts_the_verdict_and_a_refusing_webhook_changes_no_exit_code(
    start_sim: Start,
    run_cli: Run,
    webhook: Callable[[int], tuple[str, Hook]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--notify env:VAR: one {"text"} POST; a 500 from the hook is a warning without its URL."""
    sim = start_sim("demo")
    sim.queue_behaviour("web", "succeed", **QUICK)
    url, hook = webhook(200)
    monkeypatch.setenv("HOOK_URL", url)
    result = run_cli(
        "deploy", "web", "--skip-checks", "--yes", "--soak", "20s", "--notify", "env:HOOK_URL"
    )
    assert result.exit_code == 0, result.stderr
    [body] = hook.bodies
    assert body["text"].startswith("✅ releaser deploy web: healthy (exit 0)")
    failing_url, failing = webhook(500)
    nogo = run_cli("rollback", "web", "--to", "dep-missing000", "--yes", "--notify", failing_url)
    assert nogo.exit_code == 2
    assert failing.bodies and failing.bodies[0]["text"].startswith("❌ releaser rollback")
    assert "Warning: the notification to 127.0.0.1 was refused (HTTP 500)" in nogo.stderr
    assert "secretpart" not in nogo.stderr + nogo.stdout
    bad = run_cli("deploy", "web", "--yes", "--notify", "env:UNSET_HOOK")
    assert bad.exit_code == 2 and "--notify needs an http(s) webhook URL" in bad.stderr


ROOT = Path(__file__).resolve().parents[2]


def test_action_outputs_and_example_workflow_match_the_cli() -> None:
    """action.yml declares exactly the outputs releaser writes; every example args line parses."""
    import re
    import shlex

    import click
    import yaml

    from releaser.cli.ci import outcome_outputs
    from releaser.cli.main import main

    action = yaml.safe_load((ROOT / "action.yml").read_text())
    written = set(outcome_outputs("deploy", 0, {}, None)) - {"command"}
    assert set(action["outputs"]) == written
    workflow = yaml.safe_load((ROOT / "examples" / "github-workflow.yml").read_text())
    lines = [
        step["with"]["args"]
        for job in workflow["jobs"].values()
        for step in job["steps"]
        if "args" in step.get("with", {})
    ]
    assert len(lines) == 3
    for line in lines:
        argv = shlex.split(re.sub(r"\$\{\{[^}]*\}\}", "abc1234", line))
        ctx = click.Context(main)
        command = main.get_command(ctx, argv[0])
        assert command is not None, line
        if isinstance(command, click.Group):
            command = command.get_command(ctx, argv[1])
            argv = argv[1:]
        assert command is not None
        command.make_context(argv[0], argv[1:])  # raises on an unknown option
