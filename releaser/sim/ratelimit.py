"""Render's rate limits, in the client's seconds (`releaser.timebase`: real, or virtual in
tests), not the simulated clock's, because a rate limit is about the client's pace: deploy-like
writes 10/min per service, other writes 30/min, reads 400/min."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

from releaser import timebase

_SERVICE_CHANGE = re.compile(r"^/services/([^/]+)(/deploys|/rollback|/suspend|/resume)?/?$")


@dataclass(frozen=True)
class RateLimits:
    deploy_per_window: int = 10  # POST deploys/rollback/suspend/resume and PATCH, per service
    write_per_window: int = 30
    read_per_window: int = 400
    window_seconds: float = 60.0


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int  # until the window resets; sent as Ratelimit-Reset and Retry-After


def bucket_for(method: str, path: str, limits: RateLimits) -> tuple[str, int]:
    """The bucket a request counts against (path without /v1) and that bucket's limit."""
    match = _SERVICE_CHANGE.match(path)
    if match and (
        (method == "POST" and match.group(2)) or (method == "PATCH" and not match.group(2))
    ):
        return f"service:{match.group(1)}", limits.deploy_per_window
    if method in ("GET", "HEAD"):
        return "read", limits.read_per_window
    return "write", limits.write_per_window


class RateLimiter:
    """Fixed windows per bucket, starting at the bucket's first request."""

    def __init__(
        self, limits: RateLimits, monotonic: Callable[[], float] = timebase.monotonic
    ) -> None:
        self.limits = limits
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}  # bucket -> (window start, used)

    def check(self, method: str, path: str) -> Verdict:
        bucket, limit = bucket_for(method, path, self.limits)
        now = self._monotonic()
        with self._lock:
            start, used = self._windows.get(bucket, (now, 0))
            if now - start >= self.limits.window_seconds:
                start, used = now, 0
            allowed = used < limit
            if allowed:
                used += 1
            self._windows[bucket] = (start, used)
        reset = max(1, int(round(start + self.limits.window_seconds - now)))
        return Verdict(allowed, limit, max(0, limit - used), reset)
