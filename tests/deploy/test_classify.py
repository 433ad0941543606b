"""The startup-error classifier on realistic log lines (Python, Node, Render's own lines)."""

from __future__ import annotations

import pytest

from releaser.release.classify import (
    CONFIG_PATTERN,
    DATABASE_UNREACHABLE,
    EXITED,
    MISSING_ENV_VAR,
    MODULE_NOT_FOUND,
    OUT_OF_MEMORY,
    PORT_IN_USE,
    SETTINGS_INVALID,
    Finding,
    classify_line,
    diagnose,
)

CASES = [
    ("KeyError: 'DATABASE_URL'", MISSING_ENV_VAR, "DATABASE_URL is not set"),
    ("    DATABASE_URL = os.environ['DATABASE_URL']", MISSING_ENV_VAR, "DATABASE_URL is not set"),
    ("Error: STRIPE_SECRET_KEY is not defined", MISSING_ENV_VAR, "STRIPE_SECRET_KEY is not set"),
    ("La variable SECRET_KEY no está definida", MISSING_ENV_VAR, "SECRET_KEY is not set"),
    ("Error: JWT_SECRET no está definido", MISSING_ENV_VAR, "JWT_SECRET is not set"),
    ("Missing required environment variable: REDIS_URL", MISSING_ENV_VAR, "REDIS_URL is not set"),
    (
        'pydantic_settings.sources.SettingsError: error parsing value for field "cors_origins" '
        'from source "EnvSettingsSource"',
        SETTINGS_INVALID,
        "the setting cors_origins does not parse",
    ),
    (
        "pydantic_core._pydantic_core.ValidationError: 2 validation errors for Settings",
        SETTINGS_INVALID,
        "Settings failed validation",
    ),
    (
        "ModuleNotFoundError: No module named 'psycopg2'",
        MODULE_NOT_FOUND,
        "no module named psycopg2",
    ),
    (
        "ImportError: cannot import name 'soft_unicode'",
        MODULE_NOT_FOUND,
        "cannot import soft_unicode",
    ),
    ("Error: Cannot find module 'express'", MODULE_NOT_FOUND, "cannot find module express"),
    (
        "Error: listen EADDRINUSE: address already in use :::10000",
        PORT_IN_USE,
        "port 10000 already in use",
    ),
    ("OSError: [Errno 98] Address already in use", PORT_IN_USE, "port already in use"),
    (
        "Error: connect ECONNREFUSED 127.0.0.1:5432",
        DATABASE_UNREACHABLE,
        "connection refused by 127.0.0.1:5432",
    ),
    (
        "psycopg2.OperationalError: could not connect to server: Connection refused",
        DATABASE_UNREACHABLE,
        "could not connect to the database server",
    ),
    (
        "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory",
        OUT_OF_MEMORY,
        "JavaScript heap out of memory",
    ),
    ("==> Exited with status 137", OUT_OF_MEMORY, "out of memory (killed)"),
    ("Application exited with code 1", EXITED, "the application exited with code 1"),
    ("==> Exited with status 3", EXITED, "the application exited with code 3"),
    ("==> Application exited early", EXITED, "the application exited early"),
]


@pytest.mark.parametrize(("line", "cause", "summary"), CASES)
def test_realistic_startup_errors_are_classified(line: str, cause: str, summary: str) -> None:
    """Each documented startup-error cause is recognised and summarised with its detail."""
    finding = classify_line(line)
    assert finding == Finding(cause, summary, line.strip())


@pytest.mark.parametrize(
    "line",
    [
        "[INFO] Listening at: http://0.0.0.0:10000 (57)",
        "GET /healthz 200 3ms",
        "NameError: name 'DEBUG' is not defined",  # a code bug, not a missing env var
        "ERROR request failed: KeyError: 'user_id'",  # a lower-case dict key, not an env var
        "==> Build successful 🎉",
        "Traceback (most recent call last):",
    ],
)
def test_ordinary_lines_are_not_startup_errors(line: str) -> None:
    """Normal output and errors that are not startup causes are left alone."""
    assert classify_line(line) is None


def test_config_patterns_from_releaser_toml_are_used() -> None:
    """startup_error_patterns add causes, below the built-in specific ones."""
    finding = classify_line("FATAL: license key rejected", [r"license key rejected"])
    assert finding is not None and finding.cause == CONFIG_PATTERN
    # A built-in specific cause still wins over a config pattern matching the same line.
    keyed = classify_line("KeyError: 'LICENSE_KEY'", [r"KeyError"])
    assert keyed is not None and keyed.cause == MISSING_ENV_VAR


def test_diagnosis_names_the_most_specific_cause_and_quotes_distinct_lines() -> None:
    """A crash prints the cause then an exit line; the verdict names the cause, quotes both once."""
    lines = [
        "KeyError: 'DATABASE_URL'",
        "Application exited with code 1",
        "KeyError: 'DATABASE_URL'",
        "Application exited with code 1",
    ]
    findings = [f for f in (classify_line(line) for line in lines) if f]
    diagnosis = diagnose(findings)
    assert diagnosis is not None
    assert diagnosis.cause == MISSING_ENV_VAR
    assert diagnosis.sentence() == "missing environment variable: DATABASE_URL is not set"
    assert diagnosis.lines == ("KeyError: 'DATABASE_URL'", "Application exited with code 1")


def test_no_findings_no_diagnosis() -> None:
    """Nothing classified means nothing to blame."""
    assert diagnose([]) is None
