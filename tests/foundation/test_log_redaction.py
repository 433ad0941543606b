"""An app that logs its own secrets must not leak them through releaser's output."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from click.testing import Result

SECRET_KEY = "ddfa30cbc846ea6f9059e5e5cfcb3c1f4e7d21cb6b02c102b40dd71a23ed3992"
DB_PASSWORD = "Qm9sZC1zdHJvbmctcGFzc3dvcmQtZm9yLXNpbQ"
SESSION_SECRET = "7hdSx5ihvrkSkt4NaihT3tM50YkV63bAcr_KJO06fBg"  # from a linked env group
LEAKY_LINES = [
    f"settings loaded: SECRET_KEY={SECRET_KEY} SESSION_SECRET={SESSION_SECRET}",
    f"connecting to postgresql://main_db_user:{DB_PASSWORD}@dpg-x-a/main_db",
    "KeyError: 'STRIPE_API_KEY'",
    "==> Application exited with code 1",
]


@pytest.fixture
def leaky(sim_factory: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    server = sim_factory("demo", time_scale=60)
    monkeypatch.setenv("RENDER_API_URL", server.url)
    monkeypatch.setenv("RENDER_API_KEY", server.api_key)
    server.queue_behaviour("web", "crash_loop", log_lines=LEAKY_LINES)
    return server


def assert_clean(result: Result) -> None:
    for secret in (SECRET_KEY, DB_PASSWORD, SESSION_SECRET):
        assert secret not in result.stdout
        assert secret not in result.stderr


def test_deploy_progress_and_report_redact_logged_secrets(
    leaky: Any, run_cli: Callable[..., Result]
) -> None:
    """The crash loop is still caught, and no logged secret reaches stdout or stderr."""
    result = run_cli("deploy", "web", "--yes", "--skip-checks", "-o", "json")
    assert result.exit_code == 1, result.stderr
    assert "STRIPE_API_KEY" in result.stdout + result.stderr
    assert "******" in result.stderr, "the leaky line is shown, redacted"
    assert_clean(result)
    logs = run_cli("logs", "web", "--since", "1h")
    assert logs.exit_code == 0
    assert "settings loaded: SECRET_KEY=****** SESSION_SECRET=******" in logs.stdout
    assert_clean(logs)
    as_json = run_cli("logs", "web", "--since", "1h", "-o", "json")
    assert_clean(as_json)
