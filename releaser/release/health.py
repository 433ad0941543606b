"""Probing a service's health URL the way Render judges it: 200-399 is healthy.

A probe never raises: a timeout, a refused connection or a 5xx are all answers ("unhealthy,
because ...") that the watcher weighs, not errors that end the release.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

DEFAULT_PROBE_TIMEOUT = 5.0  # seconds per probe; Render's own checks give up after 5 s


@dataclass(frozen=True)
class ProbeResult:
    healthy: bool
    detail: str  # "200 in 12 ms", "timed out after 5.0s", "503 in 4 ms"
    status: int | None = None


class HealthProber:
    """Probes one URL; redirects count as healthy (Render treats 3xx as up)."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = DEFAULT_PROBE_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.count = 0
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            transport=transport,
            headers={"User-Agent": "releaser-health-probe"},
        )

    def probe(self) -> ProbeResult:
        self.count += 1
        started = time.monotonic()
        try:
            response = self._http.get(self.url)
        except httpx.TimeoutException:
            return ProbeResult(False, f"timed out after {self.timeout:.1f}s")
        except httpx.HTTPError as exc:
            return ProbeResult(False, f"no answer ({exc.__class__.__name__})")
        millis = (time.monotonic() - started) * 1000
        status = response.status_code
        return ProbeResult(200 <= status < 400, f"{status} in {millis:.0f} ms", status)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HealthProber:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def confirm_healthy(
    prober: HealthProber,
    sleep: Callable[[float], None],
    *,
    needed: int = 2,
    attempts: int = 5,
    interval: float = 3.0,
) -> ProbeResult:
    """Probe until ``needed`` consecutive successes or ``attempts`` run out; the last result.

    One good answer can be luck (a cached page, a worker not yet crashed): ask twice.
    """
    streak = 0
    result = ProbeResult(False, "not probed")
    for attempt in range(attempts):
        result = prober.probe()
        streak = streak + 1 if result.healthy else 0
        if streak >= needed:
            return result
        if needed - streak > attempts - attempt - 1:
            break  # cannot reach the streak any more
        sleep(interval)
    return ProbeResult(False, result.detail, result.status) if streak < needed else result
