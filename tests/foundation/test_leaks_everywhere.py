"""No secret leaks from any command, whatever encoding an app logs it in (issue 11, Done when).

The app logs the service's own secrets base64-, URL-, JSON-encoded and re-cased, and
credentials nobody configured (libpq, query string, URL userinfo, bearer, PEM), plus terminal
escape sequences. Every command runs against it, table and JSON, success and error paths,
with --report files, and none of it may appear in stdout, stderr or a report.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from leakforms import ENCODINGS, fake_pem

Run = Callable[..., Result]
WEB = "srv-hjtl316kyssqmyi4ywa3"  # "web" in the demo scenario

# The demo's secrets: SECRET_KEY, DATABASE_URL's password, SESSION_SECRET (an env group),
# and the key that is SENTRY_DSN's user name.
KNOWN = [
    "ddfa30cbc846ea6f9059e5e5cfcb3c1f4e7d21cb6b02c102b40dd71a23ed3992",
    "Qm9sZC1zdHJvbmctcGFzc3dvcmQtZm9yLXNpbQ",
    "7hdSx5ihvrkSkt4NaihT3tM50YkV63bAcr_KJO06fBg",
    "4f1c2e9b7a6d4e0f8a1b2c3d4e5f6a7b",
]
# Credentials no configuration names: only their shape gives them away.
UNCONFIGURED = ["UnlistedPw-77x", "QueryPw-88y", "UrlPw@With@At-99z", "BearerTok-66w", "PemBody55v"]
SHAPE_LINES = [
    "ERROR could not connect: host=db.internal port=5432 user=app password=UnlistedPw-77x",
    "ERROR GET /oauth/callback?code=abc&password=QueryPw-88y&next=/ failed",
    "ERROR upstream https://svc:UrlPw@With@At-99z@api.partner.example/v1 refused",
    "ERROR request failed with Authorization: Bearer BearerTok-66w.abc",
    "ERROR key material " + fake_pem("MIIEvPemBody55v"),
    "ERROR \x1b[2J\x1b[31mFAKE\rGO: all good\x07\x9b",
]


def leaky_lines(known: list[str] = KNOWN) -> list[str]:
    lines = [
        f"ERROR boot failed, settings blob {encode(secret)} from vault"
        for secret in known
        for encode in ENCODINGS.values()
    ]
    return lines + SHAPE_LINES


def forbidden(known: list[str] = KNOWN) -> list[str]:
    found = [encode(s) for s in known for encode in ENCODINGS.values()]
    found += UNCONFIGURED + ["With@At-99z", "MIIEvPemBody55v"]
    return found


def assert_clean(texts: dict[str, str], known: list[str] = KNOWN) -> None:
    for where, text in texts.items():
        for value in forbidden(known):
            assert value not in text, f"{value[:6]}… leaked in {where}"
        control = re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", text)
        assert control is None, f"control character {control.group()!r} reached {where}"


@pytest.fixture
def leaky(sim_factory: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    server = sim_factory("demo", time_scale=60, rate_limits=False)
    monkeypatch.setenv("RENDER_API_URL", server.url)
    monkeypatch.setenv("RENDER_API_KEY", server.api_key)
    monkeypatch.setenv("RENDER_OWNER_ID", server.owner_id)
    Path("releaser.toml").write_text(
        '[services.web]\nrequired = ["SECRET_KEY", "STRIPE_API_KEY"]\n'
    )
    Path(".env").write_text(f"SECRET_KEY={KNOWN[0]}\nLOG_LEVEL=info\n")
    return server


def test_no_command_leaks_a_logged_secret_in_any_encoding(leaky: Any, run_cli: Run) -> None:
    """Every command, table and JSON, success and error, reports included: nothing leaks."""
    quick = {"build_seconds": 20, "update_seconds": 10}
    leaky.queue_behaviour("web", "crash_loop", log_lines=leaky_lines(), **quick)
    leaky.queue_behaviour(
        "web", "unhealthy_after_live", log_lines=leaky_lines(), unhealthy_after=5, **quick
    )
    results: dict[str, Result] = {}

    def run(name: str, *args: str) -> Result:
        results[name] = run_cli(*args)
        return results[name]

    crash = run("deploy crash", "deploy", "web", "--yes", "--skip-checks", "--report", "a.md")
    assert crash.exit_code == 1, crash.stderr
    assert "******" in crash.stdout + crash.stderr, "the leaky lines are shown, redacted"
    bad = run(
        "deploy rolled back",
        *("deploy", "web", "--yes", "--skip-checks", "--soak", "60s", "-o", "json"),
        *("--report", "b.md"),
    )
    assert bad.exit_code == 1, bad.stderr
    for output in ("table", "json"):
        run(f"logs {output}", "logs", "web", "--since", "3h", "-o", output)
        run(f"logs tail {output}", "logs", "web", "--since", "3h", "--tail", "20", "-o", output)
        run(f"status {output}", "status", "web", "-o", output)
        run(f"history {output}", "history", "web", "-o", output)
        run(f"services {output}", "services", "-o", output)
        run(f"go-no-go {output}", "go-no-go", "web", "--env-file", ".env", "-o", output)
        run(f"env list {output}", "env", "list", "web", "-o", output)
        run(f"env get {output}", "env", "get", "web", "SECRET_KEY", "-o", output)
        run(f"env diff {output}", "env", "diff", "web", "--env-file", ".env", "-o", output)
        run(
            f"rollback dry {output}",
            "rollback",
            "web",
            "--to",
            "previous",
            "--dry-run",
            "-o",
            output,
        )
        run(f"deploy dry {output}", "deploy", "web", "--dry-run", "--skip-checks", "-o", output)
    run("deploy no --yes", "deploy", "web", "--skip-checks")
    run("env get --reveal", "env", "get", "web", "SECRET_KEY", "--reveal")
    run("env set", "env", "set", "web", f"API_TOKEN={KNOWN[1]}-2", "--yes", "--backup-dir", "bk")
    run("env set bad", "env", "set", "web", KNOWN[0], "--yes")
    run(
        "env unset", "env", "unset", "web", "API_TOKEN", "--yes", "--backup-dir", "bk", "-o", "json"
    )
    backup = sorted(Path("bk").iterdir())[0]
    run("env restore", "env", "restore", "web", str(backup), "--yes", "--backup-dir", "bk")
    run("rollback", "rollback", "web", "--to", "previous", "--yes", "-o", "json")
    run("logs unknown", "logs", "no-such-service")
    codes = {r.exit_code for r in results.values()}
    assert {0, 1, 2} <= codes, codes
    texts = {
        f"{name} {stream}": getattr(r, stream)
        for name, r in results.items()
        for stream in ("stdout", "stderr")
    }
    texts["a.md"] = Path("a.md").read_text()
    texts["b.md"] = Path("b.md").read_text()
    assert_clean(texts)
    assert "\\x1b[2J" in results["logs table"].stdout  # shown, as text


def test_promote_leaks_nothing_either(
    sim_factory: Callable[..., Any], run_cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """promote to a production whose app logs its secrets: table, JSON and report are clean."""
    server = sim_factory("deploy-promote", time_scale=60, rate_limits=False)
    monkeypatch.setenv("RENDER_API_URL", server.url)
    monkeypatch.setenv("RENDER_API_KEY", server.api_key)
    monkeypatch.setenv("RENDER_OWNER_ID", server.owner_id)
    known = ["Vp2mQx9LrT4wKs8ZbN3yHc6Jd", "pr0d-Db-pw-Zk27Lm"]
    with server.state.lock:
        server.state.service("web-prod").env.update(
            {"SECRET_KEY": known[0], "DATABASE_URL": f"postgresql://app:{known[1]}@db/app"}
        )
    quick = {"build_seconds": 20, "update_seconds": 10}
    results = {}
    for output in ("table", "json"):
        server.queue_behaviour("web-prod", "crash_loop", log_lines=leaky_lines(known), **quick)
        results[output] = run_cli(
            *("promote", "--from", "web-staging", "--to", "web-prod", "--skip-checks", "--yes"),
            *("-o", output, "--report", f"promote-{output}.md"),
        )
        assert results[output].exit_code == 1, results[output].stderr
    results["logs"] = run_cli("logs", "web-prod", "--since", "3h")
    assert "******" in results["logs"].stdout
    texts = {
        f"{name} {stream}": getattr(r, stream)
        for name, r in results.items()
        for stream in ("stdout", "stderr")
    }
    texts |= {f"promote-{o}.md": Path(f"promote-{o}.md").read_text() for o in ("table", "json")}
    assert_clean(texts, known)
