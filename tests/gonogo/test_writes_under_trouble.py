"""Env writes when things go wrong: an image service, a failed PUT, a concurrent change."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from conftest import WEB, env_of, writes

from releaser.config import ServiceRules
from releaser.errors import EnvironmentProblem
from releaser.release.envchange import apply_change, prepare_set, read_service_env
from releaser.render.client import RenderClient

Run = Callable[..., Result]
IMAGE_SCENARIO = str(Path(__file__).with_name("image-service.toml"))


def test_image_checks_over_http(start: Callable[..., Any], run_cli: Run) -> None:
    """--image must be in the service's repository; the same image as live is a warning."""
    start(IMAGE_SCENARIO)
    wrong = run_cli("go-no-go", "api", "--image", "ghcr.io/acme/web:1.5.0", "-o", "json")
    assert wrong.exit_code == 1
    version = next(c for c in json.loads(wrong.stdout)["checks"] if c["name"] == "release version")
    assert (
        version["detail"]
        == "image repository ghcr.io/acme/web is not the service's (ghcr.io/acme/api)"
    )
    same = run_cli("go-no-go", "api", "--image", "ghcr.io/acme/api:1.4.2", "-o", "json")
    assert same.exit_code == 0
    assert "already live" in same.stdout
    commit = run_cli("go-no-go", "api", "--commit", "abc1234")
    assert commit.exit_code == 1 and "pass --image, not --commit" in commit.stdout


def test_failed_write_names_the_backup(start: Callable[..., Any], run_cli: Run) -> None:
    """A PUT failing with 5xx exits 3; the error names the backup and the restore command."""
    server = start("demo")
    server.add_fault(method="PUT", path="/services/*/env-vars/*", status=503, count=1)
    result = run_cli("env", "set", "web", "LOG_LEVEL=debug", "--yes", "--backup-dir", "bk")
    assert result.exit_code == 3
    [backup] = Path("bk").iterdir()
    assert result.stderr.startswith(
        "Error: writing LOG_LEVEL failed after 0 of 1 change(s) went through: "
        "Render answered 503 on PUT"
    )
    assert f"releaser env restore {WEB} {backup}" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert [r.method for r in writes(server)] == ["PUT"]  # never retried blindly


def test_concurrent_change_aborts_before_writing(start: Callable[..., Any], tmp_path: Path) -> None:
    """If the vars change between plan and write, nothing is written and no backup is made."""
    server = start("demo")
    with RenderClient(server.api_key, server.url) as client:
        service = client.get_service(WEB)
        prepared = prepare_set(
            service, read_service_env(client, service), ServiceRules(), {"A": "1"}, []
        )
        with server.state.lock:
            server.state.service(WEB).env["SOMEONE_ELSE"] = "x"
        with pytest.raises(EnvironmentProblem, match=r"changed since the plan.*SOMEONE_ELSE"):
            apply_change(client, prepared, backup_dir=tmp_path / "bk")
    assert writes(server) == [] and not (tmp_path / "bk").exists()
    assert "A" not in env_of(server)
