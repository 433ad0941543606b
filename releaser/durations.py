"""Parsing human durations (``90s``, ``15m``, ``2h``, ``30d``, ``1h30m``) for flags and config."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

from releaser.errors import UsageError

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
# Beyond this nothing we do makes sense, and datetime arithmetic overflows long before
# float does (`--since 99999999d` once crashed with OverflowError).
MAX_SECONDS = 10 * 365 * 86400.0


def _seconds(text: str) -> float | None:
    cleaned = text.strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(?:\.\d+)?", cleaned):
        return float(cleaned)
    if cleaned and _PART.sub("", cleaned) == "":
        return sum(float(n) * _UNITS[u] for n, u in _PART.findall(cleaned))
    return None


def parse_duration(text: str, what: str = "duration") -> float:
    """Seconds in ``text``; a bare number means seconds. Raises UsageError (exit 2) otherwise."""
    seconds = _seconds(text)
    if seconds is None:
        raise UsageError(
            f"{what} {text!r} is not a duration",
            "Use a number with a unit, for example 90s, 15m, 2h or 30d",
        )
    if not math.isfinite(seconds) or seconds > MAX_SECONDS:
        raise UsageError(f"{what} {text!r} is too long", "Give at most 3650d")
    return seconds


def human(seconds: float) -> str:
    """``90`` -> ``90s``, ``7200`` -> ``2h``: how a range's ends are named in errors."""
    for unit in ("d", "h", "m"):
        if seconds >= _UNITS[unit] and seconds % _UNITS[unit] == 0:
            return f"{seconds / _UNITS[unit]:g}{unit}"
    return f"{seconds:g}s"


def parse_bounded(text: str, flag: str, low: float, high: float, *, zero_ok: bool = False) -> float:
    """A duration for ``flag`` within ``[low, high]`` (or exactly 0 when ``zero_ok``).

    Refused before anything is written: `--timeout 0` once created a deploy and canceled it
    at once. The error names the flag and the accepted range.
    """
    accepted = f"from {human(low)} to {human(high)}" + (" (or 0 to skip)" if zero_ok else "")
    seconds = _seconds(text)
    if seconds is None:
        raise UsageError(
            f"{flag} {text!r} is not a duration", f"Give a duration {accepted}, for example 90s"
        )
    if zero_ok and seconds == 0:
        return 0.0
    if not low <= seconds <= high:
        raise UsageError(f"{flag} {text!r} is out of range", f"Give a duration {accepted}")
    return seconds


def parse_since(text: str, flag: str = "--since") -> timedelta | datetime:
    """``--since``: a duration back from now (1s to 365d) or an RFC 3339 timestamp (UTC)."""
    stripped = text.strip()
    if re.match(r"^\d{4}-\d{2}-\d{2}[Tt ]", stripped):
        try:
            when = datetime.fromisoformat(stripped.replace("z", "Z"))
        except ValueError:
            raise UsageError(
                f"{flag} {text!r} is not an RFC 3339 timestamp",
                "Write it like 2026-01-31T09:30:00Z, or give a duration such as 2h",
            ) from None
        if when.tzinfo is None:
            raise UsageError(
                f"{flag} {text!r} has no time zone", "Add Z (UTC) or an offset such as +02:00"
            )
        if when > datetime.now(UTC) + timedelta(minutes=5):
            raise UsageError(f"{flag} {text!r} is in the future", "Give a time in the past")
        return when.astimezone(UTC)
    return timedelta(seconds=parse_bounded(stripped, flag, 1, 365 * 86400.0))
