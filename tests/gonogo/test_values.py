"""Typed-value parsers and secret-strength rules: reasons name the problem, never the value."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from releaser.config import VALUE_TYPES
from releaser.release.values import (
    check_secret,
    check_typed,
    is_placeholder,
)

GOOD = [
    ("int", "42"),
    ("int", " -7 "),
    ("bool", "true"),
    ("bool", "OFF"),
    ("url", "https://app.acme.example/path?q=1"),
    ("url", "redis://:pw@cache:6379/0"),
    ("postgres_url", "postgresql://u:p@dpg-abc-a/main_db"),
    ("postgres_url", "postgres://u@db.example:5432/app?sslmode=require"),
    ("json", '{"a": [1, 2]}'),
    ("json_list", '["https://a.example", "https://b.example"]'),
    ("json_list", "[]"),
    ("csv_list", "https://a.example,https://b.example"),
    ("csv_list", "single"),
    ("email", "ops@acme.example"),
    ("duration", "15m"),
    ("duration", "1h30m"),
    ("str", "anything at all"),
]

BAD = [
    ("int", "4.5", "not an integer"),
    ("int", "", "not an integer"),
    ("bool", "maybe", "not a boolean"),
    ("url", "app.acme.example", "has no scheme"),
    ("url", "https://", "has no host"),
    ("url", "https://a.example:99999/", "port"),
    ("url", "https://a b.example", "whitespace"),
    ("postgres_url", "mysql://u:p@h/db", "scheme is not postgres"),
    ("postgres_url", "postgresql://u:p@host", "names no database"),
    ("json", "{'a': 1}", "not valid JSON"),
    ("json_list", "[https://a.example]", "not valid JSON"),
    ("json_list", '{"a": 1}', "not a list"),
    ("json_list", "https://a.example", "not valid JSON"),
    ("csv_list", '["https://a.example"]', "looks like a JSON list"),
    ("csv_list", "a,,b", "empty item"),
    ("email", "ops.acme.example", "not an email"),
    ("duration", "soon", "not a duration"),
]


@pytest.mark.parametrize(("value_type", "value"), GOOD)
def test_good_values_parse(value_type: str, value: str) -> None:
    """Well-formed values of every declared type pass."""
    assert check_typed(value_type, value) is None


@pytest.mark.parametrize(("value_type", "value", "why"), BAD)
def test_bad_values_say_why_without_the_value(value_type: str, value: str, why: str) -> None:
    """A value that does not parse gets a reason that explains it and never quotes it."""
    reason = check_typed(value_type, value)
    assert reason is not None and why in reason
    if value.strip():
        assert value.strip() not in reason


def test_every_config_type_has_a_checker() -> None:
    """Every type name releaser.toml accepts is checked (no silently ignored type)."""
    for value_type in VALUE_TYPES:
        assert check_typed(value_type, "x") is None or isinstance(check_typed(value_type, "x"), str)
    assert check_typed("nope", "x") == "unknown type 'nope'"


@given(st.sampled_from(VALUE_TYPES), st.text(min_size=6, max_size=40))
def test_reasons_never_contain_the_value(value_type: str, value: str) -> None:
    """Whatever the input, a reason never contains the value it rejects."""
    reason = check_typed(value_type, value)
    if reason is not None and len(value.strip()) >= 6:
        assert value not in reason


@pytest.mark.parametrize(
    "value",
    [
        "changeme",
        "CHANGE_ME",
        "change-me-in-production",
        "xxxxxxxx",
        "TODO",
        "<your-key-here>",
        "${SECRET_KEY}",
        "your_secret_here",
        "secret",
        "password",
        "********",
        "123456789",
    ],
)
def test_placeholders_are_recognised(value: str) -> None:
    """Template leftovers are placeholders, whatever their case or separators."""
    assert is_placeholder(value)
    assert check_secret(value, 8) == "looks like a placeholder"


def test_secret_strength_rules() -> None:
    """Secrets must be non-empty, not one repeated character, and long enough."""
    assert check_secret("", 32) == "is empty"
    assert check_secret("a" * 40, 32) == "is one character repeated"
    assert check_secret("k9Qz2LmW4pXa", 32) == "is 12 characters, needs at least 32"
    assert check_secret("ddfa30cbc846ea6f9059e5e5cfcb3c1f4e7d21cb6b02c1", 32) is None
