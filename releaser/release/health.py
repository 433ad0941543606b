"""How a service's health is judged, per service type, and probing it the way Render does.

Render's own checks differ by type and setting: with a health path, 200-399 is healthy; with
none (`healthCheckPath: ""`, the default) Render only checks that the port is open, so any
HTTP answer below 500 means "up" (an API without a root route answers 404 and is fine). A
private service's URL is an internal `name:port` reachable only inside Render's network:
never probed. Workers and cron jobs have no URL. `health_check` says which applies.

A probe never raises: a timeout, a refused connection or a 5xx are all answers ("unhealthy,
because ...") that the watcher weighs, not errors that end the release.
"""

from __future__ import annotations

import functools
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from releaser.render.models import Service

DEFAULT_PROBE_TIMEOUT = 5.0  # seconds per probe; Render's own checks give up after 5 s

RULE_PATH = "200-399 on the health path"
RULE_PORT = "any HTTP answer below 500 (no health path: Render only checks the port is open)"


@dataclass(frozen=True)
class HealthCheck:
    """What is probed for a service (None: nothing) and, in words, what decides its health."""

    url: str | None
    strict: bool  # True: 200-399 (a health path); False: any answer below 500
    judged: str  # for the report: "health path /healthz answering 200-399, and the logs"

    @property
    def rule(self) -> str:
        if self.url is None:
            return "not probed"
        return RULE_PATH if self.strict else RULE_PORT


def health_check(service: Service, health_path: str | None = None) -> HealthCheck:
    """How `service` is judged; `health_path` (releaser.toml) wins over Render's setting."""
    kind = service.type or "service"
    base = service.url or ""
    if kind == "private_service":
        where = f" ({base})" if base else ""
        return HealthCheck(
            None,
            False,
            f"deploy status, events and logs: a private service's address{where} is reachable "
            "only inside Render's private network, so it is not probed",
        )
    if kind in ("background_worker", "cron_job") or not base.startswith(("http://", "https://")):
        what = {
            "background_worker": "a background worker has no URL",
            "cron_job": "a cron job has no URL; its scheduled runs are not part of a deploy",
        }.get(kind, "the service has no HTTP URL")
        return HealthCheck(None, False, f"deploy status, events and logs: {what}")
    path = health_path or service.health_check_path or ""
    url = base.rstrip("/") + "/" + path.lstrip("/")
    if path:
        return HealthCheck(url, True, f"health path {path} answering 200-399, and the logs")
    site = "the site" if kind == "static_site" else "the URL"
    return HealthCheck(
        url,
        False,
        f"any answer below 500 from {site} (no health path in Render or releaser.toml, so, "
        "like Render, only that it answers), and the logs",
    )


@dataclass(frozen=True)
class ProbeResult:
    healthy: bool
    detail: str  # "200 in 12 ms", "timed out after 5.0s", "404 in 4 ms (up: no health path)"
    status: int | None = None
    rule: str = RULE_PATH  # which rule judged it


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every prober: loading the CA bundle costs 50-100 ms a client."""
    return httpx.create_ssl_context()


class HealthProber:
    """Probes one URL; redirects count as healthy (Render treats 3xx as up).

    `strict` (a health path): 200-399 is healthy. Not strict (no health path): any HTTP
    answer below 500 is, as Render then only checks that the port answers.
    """

    def __init__(
        self,
        url: str,
        *,
        strict: bool = True,
        timeout: float = DEFAULT_PROBE_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url
        self.strict = strict
        self.rule = RULE_PATH if strict else RULE_PORT
        self.timeout = timeout
        self.count = 0
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            verify=_tls(),
            transport=transport,
            headers={"User-Agent": "releaser-health-probe"},
        )

    def probe(self) -> ProbeResult:
        self.count += 1
        started = time.monotonic()  # real, not releaser.timebase: network latency
        try:
            response = self._http.get(self.url)
        except httpx.TimeoutException:
            return ProbeResult(False, f"timed out after {self.timeout:.1f}s", rule=self.rule)
        except httpx.HTTPError as exc:
            return ProbeResult(False, f"no answer ({exc.__class__.__name__})", rule=self.rule)
        millis = (time.monotonic() - started) * 1000
        status = response.status_code
        healthy = 200 <= status < 400 if self.strict else status < 500
        detail = f"{status} in {millis:.0f} ms"
        if not self.strict and healthy and not 200 <= status < 400:
            detail += " (up: no health path, any answer below 500 counts)"
        return ProbeResult(healthy, detail, status, self.rule)

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
    return (
        ProbeResult(False, result.detail, result.status, result.rule) if streak < needed else result
    )
