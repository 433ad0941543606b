"""Fault rules: which requests fail, stall, vanish or get a bodiless 202, and how many times."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

from releaser.sim.scenario import Fault


def glob_regex(pattern: str) -> re.Pattern[str]:
    """'*' matches one path segment, '**' any number of them (including none)."""
    if pattern.startswith("/v1/"):
        pattern = pattern[3:]
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("/**", i):
            out += "(?:/.*)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(f"^{out}/?$")


@dataclass
class _Rule:
    fault: Fault
    regex: re.Pattern[str]
    remaining: int | None


class FaultBook:
    """Thread-safe list of rules; the first rule that matches is used and counted down."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._rules.append(_Rule(fault, glob_regex(fault.path), fault.count))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def active(self) -> list[tuple[Fault, int | None]]:
        with self._lock:
            return [(rule.fault, rule.remaining) for rule in self._rules]

    def take(
        self, method: str, path: str, active: Callable[[Fault], bool] = lambda _: True
    ) -> Fault | None:
        """The fault for this request, if any; a rule with a count is used up after it.

        ``active`` says whether a rule's time window or phase applies now.
        """
        with self._lock:
            for rule in self._rules:
                if rule.fault.method not in ("*", method.upper()) or not rule.regex.match(path):
                    continue
                if not active(rule.fault):
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
                return rule.fault
        return None
