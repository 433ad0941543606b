"""Rendering results as tables or JSON, and masking secrets.

Data goes to stdout (one JSON document with ``-o json``); talk goes to stderr.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import click


def fingerprint(value: str) -> str:
    """A short, non-reversible tag so two masked values can be compared by eye."""
    return hashlib.sha256(("releaser:" + value).encode()).hexdigest()[:6]


def mask(value: str | None) -> str:
    """What we show instead of a secret: never the value, only its length and a fingerprint."""
    if value is None:
        return "(unset)"
    if value == "":
        return "(empty)"
    return f"****** (len {len(value)}, fp {fingerprint(value)})"


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every known secret in free text (log lines, error bodies) with a mask."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "******")
    return text


def _default(obj: Any) -> Any:
    if isinstance(obj, datetime):
        return obj.isoformat()
    model_dump = getattr(obj, "model_dump", None)
    if callable(model_dump):
        return model_dump(mode="json", by_alias=False)
    if isinstance(obj, set | frozenset):
        return sorted(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def to_json(data: Any) -> str:
    return json.dumps(data, default=_default, indent=2, sort_keys=False)


_json_printed: list[bool] = []  # set once a command has put its JSON document on stdout


def print_json(data: Any) -> None:
    _json_printed.append(True)
    click.echo(to_json(data))


def json_was_printed() -> bool:
    """Whether stdout already holds this run's JSON document (then errors add no second one)."""
    return bool(_json_printed)


def reset_json_printed() -> None:
    _json_printed.clear()  # a new run (tests run many in one process)


def table(
    rows: Sequence[Mapping[str, Any]] | Sequence[Sequence[Any]], headers: Sequence[str]
) -> str:
    from tabulate import tabulate

    if rows and isinstance(rows[0], Mapping):
        body = [[_cell(row.get(h)) for h in headers] for row in rows]  # type: ignore[union-attr]
    else:
        body = [[_cell(c) for c in row] for row in rows]
    return tabulate(body, headers=list(headers), tablefmt="simple", disable_numparse=True)


def pairs(rows: Sequence[tuple[str, object]]) -> str:
    """One thing's details as ``key  value`` lines, keys aligned; None shows as ``-``."""
    width = max((len(key) for key, _ in rows), default=0)
    return "\n".join(f"{key:<{width}}  {'-' if value is None else value}" for key, value in rows)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return format_time(value)
    return str(value)


def format_time(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.strftime("%Y-%m-%d %H:%M:%S")


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def say(message: str) -> None:
    """Progress and talk: always stderr, so stdout stays parseable."""
    click.echo(message, err=True)


def is_tty() -> bool:
    return sys.stderr.isatty()
