"""No secret value ever reaches stdout or stderr, whatever command of go-no-go/env runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import Result

Run = Callable[..., Result]

# Known secret values of the scenarios below, and ones the test itself introduces.
SCENARIO_SECRETS = [
    "7hdSx5ihvrkSkt4NaihT3tM50YkV63bAcr_KJO06fBg",  # SESSION_SECRET / ADMIN_TOKEN
    "4f1c2e9b7a6d4e0f8a1b2c3d4e5f6a7b",  # the key inside SENTRY_DSN
    "Qm9sZC1zdHJvbmctcGFzc3dvcmQtZm9yLXNpbQ",  # the password inside DATABASE_URL
    "ddfa30cbc846ea6f9059e5e5cfcb3c1f4e7d21cb6b02c102b40dd71a23ed3992",  # SECRET_KEY
    "k9Qz2LmW4pXa",  # JWT_SIGNING_KEY (weak)
    "changeme",  # SECRET_KEY in the weak-secret scenario
]
LOCAL_SECRET = "Tr0ub4dor&3)-local-only-password"
NEW_SECRET = "n3w-t0ken-Zx81Kq2Lm9Pw4Rt7Yv0Bc3Nd"
WEAK_NEW = "pw-weak-123"
CONFIG = """\
[services.web]
required = ["SECRET_KEY", "STRIPE_API_KEY"]
secrets = ["SENTRY_DSN"]

[services.web.types]
SECRET_KEY = "int"
SESSION_SECRET = "json_list"
SENTRY_DSN = "email"
"""


def run_everything(run_cli: Run) -> list[Result]:
    """Every command and output format of this issue, including failing paths."""
    Path(".env").write_text(
        f"SECRET_KEY=other-{NEW_SECRET}\nDB_PASSWORD={LOCAL_SECRET}\n"
        f"SESSION_SECRET='{SCENARIO_SECRETS[0]}'\n"
    )
    Path("broken.env").write_text(f'OK=1\nPASSWORD="{LOCAL_SECRET}\n')
    results = []
    for output in ("table", "json"):
        results += [
            run_cli("go-no-go", "web", "--env-file", ".env", "-o", output),
            run_cli("env", "list", "web", "-o", output),
            run_cli("env", "diff", "web", "--env-file", ".env", "-o", output),
            run_cli("env", "set", "web", f"NEW_API_TOKEN={NEW_SECRET}", "--dry-run", "-o", output),
        ]
    results += [
        run_cli("go-no-go", "web", "--env-file", "broken.env"),
        run_cli("env", "set", "web", f"API_KEY={WEAK_NEW}", "--yes"),
        run_cli("env", "set", "web", NEW_SECRET, "--yes"),
        run_cli("env", "set", "web", f"NEW_API_TOKEN={NEW_SECRET}"),  # no TTY, no --yes
        run_cli("env", "set", "web", "--from-file", "broken.env", "--yes"),
        run_cli(
            "env",
            "set",
            "web",
            f"NEW_API_TOKEN={NEW_SECRET}",
            "--yes",
            "--deploy",
            "--backup-dir",
            "bk",
            "-o",
            "json",
        ),
    ]
    [backup] = Path("bk").iterdir()
    results += [
        run_cli("env", "restore", "web", str(backup), "--dry-run"),
        run_cli("env", "restore", "web", str(backup), "--yes", "--backup-dir", "bk", "-o", "json"),
        run_cli("env", "list", "web"),
    ]
    return results


def assert_clean(results: list[Result]) -> None:
    secrets = [*SCENARIO_SECRETS, LOCAL_SECRET, NEW_SECRET, WEAK_NEW]
    for result in results:
        for stream in (result.stdout, result.stderr):
            for secret in secrets:
                assert secret not in stream, f"{secret[:4]}… leaked in {stream[:200]!r}"


def test_no_secret_in_any_output_demo(start: Callable[..., Any], run_cli: Run) -> None:
    """Against the demo (strong secrets, group secrets, credentials in URLs) nothing leaks."""
    start("demo", CONFIG)
    results = run_everything(run_cli)
    assert {r.exit_code for r in results} >= {0, 1, 2}
    assert_clean(results)


def test_no_secret_in_any_output_weak(start: Callable[..., Any], run_cli: Run) -> None:
    """Against weak and duplicated secrets, reports explain without quoting a value."""
    start("gonogo-weak-secret", CONFIG)
    assert_clean(run_everything(run_cli))
