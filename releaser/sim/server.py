"""The simulator's HTTP server: the Render API under /v1, the apps' live URLs, debug endpoints.

Per request, in order: debug endpoints (/_sim/…, no auth, not recorded) are answered; otherwise
a matching fault may delay, fail or drop the request; app URLs answer health; API requests need
the Bearer key, count against the rate limits, and reach `RenderApi`. Every request except the
debug endpoints is recorded.
"""

from __future__ import annotations

import errno
import json
import secrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import ValidationError

from releaser.errors import EnvironmentProblem
from releaser.sim import views
from releaser.sim.api import RenderApi, Request, Response, error
from releaser.sim.clock import Clock, ScaledClock
from releaser.sim.faults import FaultBook
from releaser.sim.ratelimit import RateLimiter, RateLimits, Verdict
from releaser.sim.scenario import Behaviour, Fault, Scenario
from releaser.sim.state import ApiProblem, SimState

API_PREFIX = "/v1"
APPS_PREFIX = "/_sim/apps/"
EXPORTS_PREFIX = "/_sim/exports/"


@dataclass
class RecordedRequest:
    method: str
    path: str  # as sent, with /v1, without the query string
    query: dict[str, str]  # repeated parameters joined with ","
    json: Any  # the parsed JSON body, or None
    status: int  # 0: the connection was dropped by a fault
    at: datetime = field(default_factory=lambda: datetime.now(UTC))  # real (wall) time
    fault: bool = False  # a fault rule shaped this answer

    def to_json(self) -> dict[str, Any]:
        """As /_sim/requests shows it: env var values masked like the CLI masks them."""
        data = asdict(self)
        data["at"] = views.iso(self.at)
        if "/env-vars" in self.path or "/env-groups" in self.path:
            data["json"] = _mask_values(self.json)
        return data


def _mask_values(body: Any) -> Any:
    """Every ``value`` in a request body as length and fingerprint, never the value."""
    from releaser.redaction import mask

    if isinstance(body, list):
        return [_mask_values(item) for item in body]
    if isinstance(body, dict):
        return {
            k: mask(v) if k == "value" and isinstance(v, str) else _mask_values(v)
            for k, v in body.items()
        }
    return body


class SimServer:
    """A running simulated Render API. Use as a context manager or start()/stop()."""

    def __init__(
        self,
        scenario: Scenario,
        host: str = "127.0.0.1",
        port: int = 0,
        time_scale: float = 1.0,
        api_key: str | None = None,
        *,
        rate_limits: bool | RateLimits = True,
        clock: Clock | None = None,
        on_request: Callable[[RecordedRequest], None] | None = None,
    ) -> None:
        self.scenario = scenario
        self.host = host
        self.port = port
        self.clock: Clock = clock or ScaledClock(time_scale)
        self.api_key = api_key or "rnd_sim_" + secrets.token_urlsafe(24)
        self.state = SimState(scenario, self.clock)
        self.api = RenderApi(self.state)
        self.faults = FaultBook()
        for fault in scenario.faults:
            self.faults.add(fault)
        limits = RateLimits() if rate_limits is True else rate_limits
        self.limiter = RateLimiter(limits) if isinstance(limits, RateLimits) else None
        self.on_request = on_request
        self._requests: list[RecordedRequest] = []
        self._requests_lock = threading.Lock()
        self._deferred: list[tuple[datetime, Request]] = []
        self._in_flight = 0  # requests being handled (a slow one may outlive its client)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> SimServer:
        try:
            httpd = _HTTPServer((self.host, self.port), _Handler)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise EnvironmentProblem(
                    f"port {self.port} on {self.host} is already in use",
                    "Stop what listens there, pick another --port, or use --port 0 for a free one",
                ) from None
            raise EnvironmentProblem(
                f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}",
                "Check --host and --port",
            ) from None
        httpd.sim = self
        self._httpd = httpd
        self.port = httpd.server_address[1]
        # A short poll interval makes stop() quick: tests start and stop many servers (one per
        # example of the fault property).
        self._thread = threading.Thread(
            target=httpd.serve_forever, args=(0.01,), name="render-sim", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.state.close()

    def serve_forever(self) -> None:
        """Block until stop() (or Ctrl-C in the caller)."""
        if self._thread is None:
            self.start()
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=0.5)

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what clients need -----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the simulator is not started; call start() first")
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The API base URL, like https://api.render.com/v1."""
        return self.base_url + API_PREFIX

    @property
    def owner_id(self) -> str:
        return self.state.owner.id

    def app_url(self, service_id_or_name: str) -> str:
        """The live URL of a service; its health path answers per the live deploy."""
        with self.state.lock:
            service = self.state.service(service_id_or_name)
            return views.service_url(self.state, self.base_url, service)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._requests_lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._requests_lock:
            self._requests.clear()

    # --- steering --------------------------------------------------------------------------

    def add_fault(self, fault: Fault | None = None, /, **fields: Any) -> Fault:
        """Add a fault rule, e.g. add_fault(method="GET", path="/logs", status=503, count=2)."""
        rule = fault or Fault.model_validate(fields)
        self.faults.add(rule)
        return rule

    def queue_behaviour(
        self, service_id_or_name: str, behaviour: Behaviour | str = "succeed", **fields: Any
    ) -> Behaviour:
        """Queue how the service's next new deploy behaves: queue_behaviour("web", "crash_loop")."""
        if isinstance(behaviour, str):
            behaviour = Behaviour.model_validate({"behaviour": behaviour, **fields})
        with self.state.lock:
            self.state.queue_behaviour(service_id_or_name, behaviour)
        return behaviour

    def queue_job(
        self, service_id_or_name: str, succeeds: bool = True, seconds: float = 20
    ) -> None:
        """How the service's next one-off job ends: queue_job("web", succeeds=False)."""
        with self.state.lock:
            self.state.service(service_id_or_name).job_queue.append((succeeds, seconds))

    def advance(self, seconds: float) -> None:
        """Jump simulated time forward."""
        with self.state.lock:
            self.clock.advance(seconds)
            self.state.advance()

    def fault_active(self, fault: Fault) -> bool:
        """A fault's window (seconds since the start) and phase (of the newest deploy)."""
        with self.state.lock:
            now = self.state.advance()
            elapsed = (now - self.state.started_at).total_seconds()
            if fault.active_from is not None and elapsed < fault.active_from:
                return False
            if fault.active_until is not None and elapsed >= fault.active_until:
                return False
            if fault.phase is None:
                return True
            deploys = [d for s in self.state.services.values() for d in s.deploys]
            newest = max(deploys, key=lambda d: d.created_at, default=None)
            return newest is not None and _PHASES.get(newest.status) == fault.phase

    @property
    def in_flight(self) -> int:
        """Requests still being handled, including slow ones whose client gave up."""
        with self._requests_lock:
            return self._in_flight

    def settle(self, timeout: float = 5.0) -> None:
        """Wait (real time, at most ``timeout``) until no request is being handled.

        Under virtual time the client calls this before time moves (`VirtualTime.on_settle`):
        a slow request it gave up on then lands at the simulated moment it arrived.
        """
        give_up = time.monotonic() + timeout
        while self.in_flight and time.monotonic() < give_up:
            time.sleep(0.01)

    def defer(
        self, seconds: float, method: str, path: str, query: dict[str, list[str]], body: Any
    ) -> None:
        """Perform an API request ``seconds`` of simulated time from now (a slow API)."""
        due = self.clock.now() + timedelta(seconds=seconds)
        with self._requests_lock:
            self._deferred.append((due, Request(method, path, query, body, self.base_url)))

    def run_deferred(self) -> None:
        """Perform the deferred requests that are due; their answers go nowhere."""
        now = self.clock.now()
        with self._requests_lock:
            due = [item for item in self._deferred if item[0] <= now]
            self._deferred = [item for item in self._deferred if item[0] > now]
        for _, request in sorted(due, key=lambda item: item[0]):
            with self.state.lock:
                self.api.handle(request)  # the answer (even a refusal) reaches no one

    # --- request handling (called from handler threads) ------------------------------------

    def _record(self, record: RecordedRequest) -> None:
        with self._requests_lock:
            self._requests.append(record)
        if self.on_request is not None:
            self.on_request(record)


_PHASES = {
    "build_in_progress": "build",
    "pre_deploy_in_progress": "pre_deploy",
    "update_in_progress": "update",
    "live": "live",
}


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    sim: SimServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout, delay fault) is normal here, not a server error.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.0"  # one request per connection: a dropped answer is a closed socket
    server_version = "render-sim"

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The Date header tells clients the simulated "now", so windows such as
        # `logs --since 15m` line up with scaled time just as they do with Render's clock.
        when = self.server.sim.clock.now().timestamp() if timestamp is None else timestamp
        return formatdate(when, usegmt=True)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: `on_request` is the access log."""

    def _handle(self) -> None:
        sim = self.server.sim
        with sim._requests_lock:
            sim._in_flight += 1
        try:
            self._handle_counted(sim)
        finally:
            with sim._requests_lock:
                sim._in_flight -= 1

    def _handle_counted(self, sim: SimServer) -> None:
        split = urlsplit(self.path)
        path = split.path
        query = parse_qs(split.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError:
            body = _BAD_JSON
        record = RecordedRequest(
            method=self.command,
            path=path,
            query={k: ",".join(v) for k, v in query.items()},
            json=None if body is _BAD_JSON else body,
            status=0,
        )
        if self.command == "GET" and path.startswith(EXPORTS_PREFIX):
            self._send_export(sim, path[len(EXPORTS_PREFIX) :], record)
            return
        if path.startswith("/_sim/") and not path.startswith(APPS_PREFIX):
            self._send(_debug(sim, self.command, path, body))
            return
        response = self._respond(sim, path, query, body, record)
        if response is not None:
            record.status = response.status
        # Record before answering: a client that has its answer must find it recorded.
        sim._record(record)
        if response is not None:
            self._send(response)

    def _respond(
        self,
        sim: SimServer,
        path: str,
        query: dict[str, list[str]],
        body: Any,
        record: RecordedRequest,
    ) -> Response | None:
        """The answer, or None when a fault drops the connection."""
        api_path = path[len(API_PREFIX) :] if path.startswith(API_PREFIX + "/") else path
        fault = sim.faults.take(self.command, api_path, sim.fault_active)
        if fault is not None:
            record.fault = True
            if fault.delay_seconds:
                time.sleep(fault.delay_seconds)  # outside any lock: other requests proceed
            if fault.apply_after is not None and path.startswith(API_PREFIX + "/"):
                sim.defer(fault.apply_after, self.command, api_path, query, body)
                return None
            if (fault.drop or fault.status) and not fault.applied:
                return None if fault.drop else _fault_response(fault)
        if path.startswith(APPS_PREFIX):
            response = _app(sim, path[len(APPS_PREFIX) :])
        elif not path.startswith(API_PREFIX + "/"):
            response = error(404, f"no such endpoint: {path}")
        elif self.headers.get("Authorization", "") != f"Bearer {sim.api_key}":
            response = error(401, "unauthorized: missing or wrong API key")
        else:
            response = self._api(sim, api_path, query, body)
        if fault is not None:
            if fault.drop:
                return None
            if fault.status:
                return _fault_response(fault)
            if fault.queued_202 and 200 <= response.status < 300:
                return Response(202, None, response.headers)
        return response

    def _api(
        self, sim: SimServer, api_path: str, query: dict[str, list[str]], body: Any
    ) -> Response:
        sim.run_deferred()
        verdict = sim.limiter.check(self.command, api_path) if sim.limiter else None
        if verdict is not None and not verdict.allowed:
            response = _rate_limited(verdict)
        elif body is _BAD_JSON:
            response = error(400, "request body is not valid JSON")
        else:
            request = Request(self.command, api_path, query, body, sim.base_url)
            with sim.state.lock:
                try:
                    response = sim.api.handle(request)
                except Exception as exc:  # a simulator bug must answer, not hang the client
                    response = error(500, f"simulator error: {type(exc).__name__}: {exc}")
        if verdict is not None:
            response.headers.update(_rate_headers(verdict))
        return response

    def _send_export(self, sim: SimServer, rest: str, record: RecordedRequest) -> None:
        """An export's signed download URL (like S3's): streamed from disk, recorded."""
        pg_id, _, file_name = rest.partition("/")
        try:
            with sim.state.lock:
                sim.state.advance()
                path, expires_mid_download = sim.state.export_file(pg_id, file_name, record.query)
            size = path.stat().st_size
        except (ApiProblem, OSError) as exc:
            problem = exc if isinstance(exc, ApiProblem) else ApiProblem(404, "NoSuchKey")
            record.status = problem.status
            sim._record(record)
            self._send(error(problem.status, problem.message))
            return
        record.status = 200
        sim._record(record)
        self.send_response(200)
        self.send_header("Content-Type", "application/gzip")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        # The URL-expires fault: half the bytes, then the connection closes (HTTP/1.0).
        remaining = size // 2 if expires_mid_download else size
        with open(path, "rb") as handle:
            while remaining > 0:
                chunk = handle.read(min(1 << 20, remaining))
                if not chunk:
                    break
                self.wfile.write(chunk)
                remaining -= len(chunk)

    def _send(self, response: Response) -> None:
        payload = b"" if response.body is None else json.dumps(response.body).encode()
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload:
            self.wfile.write(payload)


_BAD_JSON = object()


def _rate_headers(verdict: Verdict) -> dict[str, str]:
    return {
        "Ratelimit-Limit": str(verdict.limit),
        "Ratelimit-Remaining": str(verdict.remaining),
        "Ratelimit-Reset": str(verdict.reset_seconds),
    }


def _rate_limited(verdict: Verdict) -> Response:
    # Real 429 bodies are {"error": ...}, not the documented {id, message}.
    response = Response(429, {"error": "rate limit exceeded; retry later"})
    response.headers["Retry-After"] = str(verdict.reset_seconds)
    response.headers.update(_rate_headers(verdict))
    return response


def _fault_response(fault: Fault) -> Response:
    status = fault.status or 503
    if status == 429:
        retry = fault.retry_after if fault.retry_after is not None else 1
        return _rate_limited(Verdict(allowed=False, limit=10, remaining=0, reset_seconds=retry))
    response = error(status, f"simulated fault: HTTP {status}")
    if fault.retry_after is not None:
        response.headers["Retry-After"] = str(fault.retry_after)
    return response


def _app(sim: SimServer, rest: str) -> Response:
    """A service's live URL, answering like the app its live deploy runs.

    503 while suspended, in maintenance mode, with nothing live, once unhealthy, or while a
    service with a disk deploys (Render stops the old instance first: no zero-downtime
    deploy); 404 on a path the app does not serve (its `routes` and health path); 200
    otherwise.
    """
    name, _, sub = rest.partition("/")
    path = "/" + sub
    with sim.state.lock:
        now = sim.state.advance()
        try:
            service = sim.state.service(name)
        except ApiProblem:
            return error(404, f"no service named {name}")
        live = service.live()
        if service.config.suspended:
            return Response(503, {"status": "suspended", "service": service.name})
        if live is None:
            return Response(503, {"status": "no live deploy", "service": service.name})
        body = {
            "service": service.name,
            "deployId": live.id,
            "commit": live.commit,
            "image": live.image,
            "path": path,
        }
        if service.config.maintenance_mode:
            page = service.config.maintenance_uri or "Render's default maintenance page"
            return Response(503, {**body, "status": "maintenance", "page": page})
        if service.config.disk is not None and any(
            d.status == "update_in_progress" for d in service.deploys
        ):
            return Response(503, {**body, "status": "restarting (disk: no zero-downtime deploy)"})
        if live.unhealthy_at is not None and now >= live.unhealthy_at:
            return Response(503, {**body, "status": "unhealthy"})
        if not _serves(service.config.routes, service.config.health_check_path, path):
            return Response(404, {**body, "status": "not found"})
        return Response(200, {**body, "status": "ok"})


def _serves(routes: list[str], health_path: str, path: str) -> bool:
    """A route serves itself and what is below it ("/" serves everything)."""
    wanted = path.rstrip("/") or "/"
    for route in [*routes, *([health_path] if health_path else [])]:
        base = route.rstrip("/") or "/"
        if base == "/" or wanted == base or wanted.startswith(base + "/"):
            return True
    return False


def _debug(sim: SimServer, method: str, path: str, body: Any) -> Response:
    """Steering endpoints for a client in another process (scripts, demos)."""
    route = (method, path.rstrip("/"))
    try:
        if route == ("GET", "/_sim/requests"):
            return Response(200, [r.to_json() for r in sim.requests])
        if route == ("DELETE", "/_sim/requests"):
            sim.clear_requests()
            return Response(204)
        if route == ("GET", "/_sim/state"):
            with sim.state.lock:
                sim.state.advance()
                return Response(200, _snapshot(sim))
        if route == ("GET", "/_sim/faults"):
            return Response(200, _faults(sim))
        if route == ("POST", "/_sim/faults"):
            return Response(201, sim.add_fault(Fault.model_validate(body or {})).model_dump())
        if route == ("DELETE", "/_sim/faults"):
            sim.faults.clear()
            return Response(204)
        if route == ("POST", "/_sim/behaviours"):
            fields = dict(body) if isinstance(body, dict) else {}
            service = str(fields.pop("service", ""))
            behaviour = Behaviour.model_validate(fields)
            sim.queue_behaviour(service, behaviour)
            return Response(201, {"service": service, **behaviour.model_dump()})
        if route == ("POST", "/_sim/clock"):
            seconds = float((body or {}).get("advance_seconds", 0))
            sim.advance(seconds)
            return Response(200, {"now": views.iso(sim.clock.now())})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return error(400, f"{where}: {first['msg']}" if where else str(first["msg"]))
    except ApiProblem as problem:
        return error(problem.status, problem.message)
    except (TypeError, ValueError, AttributeError) as exc:
        return error(400, str(exc))
    return error(404, f"no such simulator endpoint: {method} {path}")


def _snapshot(sim: SimServer) -> dict[str, Any]:
    state = sim.state
    return {
        "now": views.iso(state.now()),
        "startedAt": views.iso(state.started_at),
        "scenario": sim.scenario.name,
        "owner": views.owner(state),
        "services": [
            {
                "id": s.id,
                "name": s.name,
                "type": s.config.type,
                "url": views.service_url(state, sim.base_url, s)
                if s.config.type in ("web_service", "static_site")
                else None,
                "autoDeploy": s.config.auto_deploy,
                "suspended": s.config.suspended,
                "env": sorted(s.env),  # keys only: the state view never shows secret values
                "envGroups": s.env_group_ids,
                "queuedBehaviours": [b.behaviour for b in s.queue],
                "deploys": [
                    {
                        **views.deploy(d),
                        "behaviour": d.behaviour.behaviour,
                        "rollbackOf": d.rollback_of,
                    }
                    for d in reversed(s.deploys)
                ],
            }
            for s in state.services.values()
        ],
        "envGroups": [
            {"id": g.id, "name": g.name, "vars": sorted(g.vars)} for g in state.env_groups.values()
        ],
        "postgres": [
            {
                "id": p.id,
                "name": p.config.name,
                "mapped": p.config.dsn is not None,
                "status": p.status(state.now()),
                "exports": [{"id": e.id, "ready": e.ready} for e in p.exports],
            }
            for p in state.postgres.values()
        ],
        "deletedPostgres": list(state.deleted_postgres),  # e.g. recovery instances a drill removed
        "faults": _faults(sim),
    }


def _faults(sim: SimServer) -> list[dict[str, Any]]:
    return [{**f.model_dump(), "remaining": n} for f, n in sim.faults.active()]
