"""Typed-value and secret-strength checks for environment variables.

Every function here returns a reason (``str``) or ``None``; a reason never contains the
value, because the value may be a secret and reasons end up in reports, JSON and errors.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

_INT = re.compile(r"[+-]?\d+")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
BOOL_WORDS = frozenset({"true", "false", "1", "0", "yes", "no", "on", "off"})
POSTGRES_SCHEMES = frozenset({"postgres", "postgresql"})

# Values that people leave in place "for now". Compared lowercased, without separators.
PLACEHOLDERS = frozenset(
    {
        "changeme",
        "changethis",
        "secret",
        "password",
        "passwd",
        "xxx",
        "todo",
        "tbd",
        "fixme",
        "placeholder",
        "example",
        "test",
        "testing",
        "dummy",
        "default",
        "none",
        "null",
        "undefined",
        "empty",
        "replaceme",
        "yoursecret",
        "yoursecrethere",
        "yourkey",
        "yourkeyhere",
        "yourtokenhere",
        "yourpasswordhere",
        "insertsecrethere",
        "notset",
        "unset",
        "abc123",
        "letmein",
        "admin",
        "qwerty",
    }
)
_PLACEHOLDER_PATTERNS = (
    re.compile(r"x{3,}", re.IGNORECASE),  # xxx, XXXXXXXX
    re.compile(r"\*+"),
    re.compile(r"<[^>]*>"),  # <your-key-here>
    re.compile(r"\$\{[^}]*\}|\$[A-Z_][A-Z0-9_]*", re.IGNORECASE),  # an unexpanded reference
    re.compile(r"\{\{.*\}\}"),  # an unrendered template
    re.compile(r"(change|replace)[-_ ]?(me|this).*", re.IGNORECASE),
    re.compile(r"(todo|tbd|fixme)\b.*", re.IGNORECASE),
    re.compile(r"your[-_ ].*", re.IGNORECASE),
    re.compile(r"0123456789.*|123456.*"),
)


def _plain(value: str) -> str:
    return re.sub(r"[\s_\-.:]", "", value.lower())


def check_int(value: str) -> str | None:
    return None if _INT.fullmatch(value.strip()) else "not an integer"


def check_bool(value: str) -> str | None:
    if value.strip().lower() in BOOL_WORDS:
        return None
    return "not a boolean (use true/false, 1/0, yes/no or on/off)"


def check_url(value: str) -> str | None:
    text = value.strip()
    if not text:
        return "empty"
    if any(c.isspace() for c in text):
        return "contains whitespace"
    parts = urlsplit(text)
    if not parts.scheme or not _URL_SCHEME.fullmatch(parts.scheme):
        return "has no scheme (expected something like https://host/path)"
    if not parts.netloc or not parts.hostname:
        return "has no host"
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "has a port that is not a number between 0 and 65535"
    return None


def check_postgres_url(value: str) -> str | None:
    problem = check_url(value)
    if problem:
        return problem
    parts = urlsplit(value.strip())
    if parts.scheme.lower() not in POSTGRES_SCHEMES:
        return "scheme is not postgres:// or postgresql://"
    if not parts.path.strip("/"):
        return "names no database (expected postgresql://user:password@host:5432/dbname)"
    return None


def _json_problem(exc: json.JSONDecodeError) -> str:
    # exc.msg and the position never quote the document itself.
    return f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"


def check_json(value: str) -> str | None:
    try:
        json.loads(value)
    except json.JSONDecodeError as exc:
        return _json_problem(exc)
    return None


def check_json_list(value: str) -> str | None:
    try:
        data = json.loads(value)
    except json.JSONDecodeError as exc:
        if not value.strip().startswith("["):
            return f'{_json_problem(exc)}; a json_list looks like ["a", "b"]'
        return f"{_json_problem(exc)}; are the items quoted?"
    if not isinstance(data, list):
        return f"is JSON but a {type(data).__name__}, not a list"
    return None


def check_csv_list(value: str) -> str | None:
    text = value.strip()
    if text.startswith("[") and text.endswith("]"):
        return "looks like a JSON list; a csv_list is comma-separated (a,b,c)"
    if not text:
        return None
    if any(not item.strip() for item in text.split(",")):
        return "has an empty item (two commas in a row, or a leading/trailing comma)"
    return None


def check_email(value: str) -> str | None:
    return None if _EMAIL.fullmatch(value.strip()) else "not an email address"


def check_duration(value: str) -> str | None:
    from releaser.durations import parse_duration
    from releaser.errors import UsageError

    try:
        parse_duration(value)
    except UsageError:  # its message quotes the value: never pass it on
        return "not a duration (use e.g. 90s, 15m, 2h, 30d)"
    return None


def _any(value: str) -> str | None:
    return None


CHECKERS: Mapping[str, Callable[[str], str | None]] = {
    "str": _any,
    "int": check_int,
    "bool": check_bool,
    "url": check_url,
    "postgres_url": check_postgres_url,
    "json": check_json,
    "json_list": check_json_list,
    "csv_list": check_csv_list,
    "email": check_email,
    "duration": check_duration,
}


def check_typed(value_type: str, value: str) -> str | None:
    """Why ``value`` does not parse as ``value_type`` (never quoting it), or None."""
    checker = CHECKERS.get(value_type)
    if checker is None:
        return f"unknown type {value_type!r}"
    return checker(value)


def is_placeholder(value: str) -> bool:
    text = value.strip()
    if _plain(text) in PLACEHOLDERS:
        return True
    return any(p.fullmatch(text) for p in _PLACEHOLDER_PATTERNS)


def check_secret(value: str, min_length: int) -> str | None:
    """Why a secret value is weak (never quoting it), or None."""
    if not value:
        return "is empty"
    if is_placeholder(value):
        return "looks like a placeholder"
    if len(set(value)) == 1:
        return "is one character repeated"
    if len(value) < min_length:
        return f"is {len(value)} characters, needs at least {min_length}"
    return None
