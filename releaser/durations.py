"""Parsing human durations (``90s``, ``15m``, ``2h``, ``30d``, ``1h30m``) for flags and config."""

from __future__ import annotations

import re

from releaser.errors import UsageError

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(text: str, what: str = "duration") -> float:
    """Seconds in ``text``; a bare number means seconds. Raises UsageError (exit 2) otherwise."""
    cleaned = text.strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(?:\.\d+)?", cleaned):
        return float(cleaned)
    if cleaned and _PART.sub("", cleaned) == "":
        return sum(float(n) * _UNITS[u] for n, u in _PART.findall(cleaned))
    raise UsageError(
        f"{what} {text!r} is not a duration",
        "Use a number with a unit, for example 90s, 15m, 2h or 30d",
    )
