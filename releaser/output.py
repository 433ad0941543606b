"""Formatting for output: tables, key/value pairs, times, durations, JSON text, masking.

Pure functions from data to text; printing is the CLI's job (``releaser.cli.console``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

# The one masking and redaction code, re-exported where output is made.
from releaser.redaction import fingerprint as fingerprint
from releaser.redaction import mask as mask
from releaser.redaction import redact as redact
from releaser.redaction import visible


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
    return "\n".join(
        f"{key:<{width}}  {'-' if value is None else visible(str(value))}" for key, value in rows
    )


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return format_time(value)
    # Cells hold other people's text (commit messages, names): no escape sequence in it
    # may reach the terminal.
    return visible(str(value))


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
