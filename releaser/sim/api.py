"""The Render API endpoints the simulator serves: request in, (status, JSON) out.

Transport, auth, faults and rate limits live in server.py; this module is the API's meaning.
Paths here are without the /v1 prefix. The caller holds `state.lock`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar, get_args

from releaser.sim import views
from releaser.sim.logs import LogQuery
from releaser.sim.scenario import DeployStatus
from releaser.sim.state import ApiProblem, SimState

T = TypeVar("T")
JSON = Any

DEPLOY_STATUSES: frozenset[str] = frozenset(get_args(DeployStatus))


@dataclass
class Request:
    method: str
    path: str  # without /v1
    query: dict[str, list[str]]
    body: Any
    base_url: str  # http://host:port, for the URLs the simulator itself serves


@dataclass
class Response:
    status: int
    body: Any = None  # None: no body
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[["RenderApi", Request, dict[str, str]], Response]
_ROUTES: list[tuple[str, re.Pattern[str], Handler]] = []


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "/?$")

    def register(handler: Handler) -> Handler:
        _ROUTES.append((method, regex, handler))
        return handler

    return register


class RenderApi:
    def __init__(self, state: SimState) -> None:
        self.state = state

    def handle(self, request: Request) -> Response:
        allowed = False
        for method, regex, handler in _ROUTES:
            match = regex.match(request.path)
            if match:
                allowed = True
                if method == request.method:
                    try:
                        self.state.advance()
                        return handler(self, request, match.groupdict())
                    except ApiProblem as problem:
                        return error(problem.status, problem.message)
        if allowed:
            return error(405, f"method {request.method} not allowed on {request.path}")
        return error(404, f"no such endpoint: {request.path}")


def error(status: int, message: str) -> Response:
    ids = {
        400: "bad_request",
        401: "unauthorized",
        404: "not_found",
        405: "method_not_allowed",
        409: "conflict",
        429: "rate_limited",
    }
    return Response(status, {"id": ids.get(status, "error"), "message": message})


# --- query helpers ---------------------------------------------------------------------------


def values(request: Request, name: str) -> list[str]:
    """Array parameters arrive repeated (a=1&a=2) or comma-separated (a=1,2): accept both."""
    return [v for raw in request.query.get(name, []) for v in raw.split(",") if v]


def one(request: Request, name: str) -> str | None:
    found = request.query.get(name)
    return found[-1] if found else None


def when(request: Request, name: str) -> datetime | None:
    raw = one(request, name)
    if raw is None:
        return None
    # A bare "+" in a query string decodes to a space; put the UTC offset back.
    return rfc3339(name, raw.strip().replace(" ", "+"))


def rfc3339(name: str, raw: str) -> datetime:
    """A date-time with a UTC offset, or a 400 that names the parameter."""
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ApiProblem(400, f"{name} is not an RFC 3339 date-time: {raw!r}") from None
    if moment.tzinfo is None:
        raise ApiProblem(400, f"{name} needs a UTC offset: {raw!r}")
    return moment


def limit_of(request: Request) -> int:
    raw = one(request, "limit")
    if raw is None:
        return 20
    if not raw.isdigit() or not 1 <= int(raw) <= 100:
        raise ApiProblem(400, f"limit must be an integer from 1 to 100, got {raw!r}")
    return int(raw)


def page(request: Request, items: Sequence[T], cursor_of: Callable[[T], str]) -> list[T]:
    """Cursor pagination: the cursor is the last item's cursor from the previous page."""
    start = 0
    cursor = one(request, "cursor")
    if cursor:
        positions = [i for i, item in enumerate(items) if cursor_of(item) == cursor]
        if not positions:
            raise ApiProblem(400, f"invalid cursor {cursor!r}")
        start = positions[0] + 1
    return list(items[start : start + limit_of(request)])


def wrapped(
    name: str, items: list[T], cursor_of: Callable[[T], str], render: Callable[[T], JSON]
) -> Response:
    return Response(200, [{name: render(item), "cursor": cursor_of(item)} for item in items])


def in_range(moment: datetime, request: Request, before: str, after: str) -> bool:
    upper, lower = when(request, before), when(request, after)
    return (upper is None or moment < upper) and (lower is None or moment > lower)


def json_object(request: Request) -> dict[str, Any]:
    if not isinstance(request.body, dict):
        raise ApiProblem(400, "request body must be a JSON object")
    return request.body


# --- owners ----------------------------------------------------------------------------------


@route("GET", "/owners")
def list_owners(api: RenderApi, request: Request, _: dict[str, str]) -> Response:
    owners = [api.state.owner]
    names, emails = values(request, "name"), values(request, "email")
    owners = [
        o for o in owners if (not names or o.name in names) and (not emails or o.email in emails)
    ]
    chosen = page(request, owners, lambda o: o.id)
    return wrapped("owner", chosen, lambda o: o.id, lambda o: views.owner(api.state))


@route("GET", "/owners/{owner_id}")
def get_owner(api: RenderApi, request: Request, p: dict[str, str]) -> Response:
    if p["owner_id"] != api.state.owner.id:
        raise ApiProblem(404, f"owner {p['owner_id']} not found")
    return Response(200, views.owner(api.state))


# --- services --------------------------------------------------------------------------------


@route("GET", "/services")
def list_services(api: RenderApi, request: Request, _: dict[str, str]) -> Response:
    state = api.state
    names, types, owners = (
        values(request, "name"),
        values(request, "type"),
        values(request, "ownerId"),
    )
    regions, runtimes, suspended = (
        values(request, "region"),
        values(request, "env"),
        values(request, "suspended"),
    )
    services = [
        s
        for s in sorted(state.services.values(), key=lambda s: (s.created_at, s.id), reverse=True)
        if (not names or s.name in names)
        and (not types or s.config.type in types)
        and (not owners or state.owner.id in owners)
        and (not regions or s.config.region in regions)
        and (not runtimes or s.config.runtime in runtimes)
        and (not suspended or ("suspended" if s.config.suspended else "not_suspended") in suspended)
        and in_range(s.created_at, request, "createdBefore", "createdAfter")
        and in_range(s.updated_at, request, "updatedBefore", "updatedAfter")
    ]
    chosen = page(request, services, lambda s: s.id)
    return wrapped(
        "service", chosen, lambda s: s.id, lambda s: views.service(state, s, request.base_url)
    )


@route("GET", "/services/{service_id}")
def get_service(api: RenderApi, request: Request, p: dict[str, str]) -> Response:
    svc = api.state.service(p["service_id"])
    return Response(200, views.service(api.state, svc, request.base_url))


@route("PATCH", "/services/{service_id}")
def patch_service(api: RenderApi, request: Request, p: dict[str, str]) -> Response:
    svc = api.state.patch_service(p["service_id"], json_object(request))
    return Response(200, views.service(api.state, svc, request.base_url))


@route("POST", "/services/{service_id}/jobs")
def create_job(api: RenderApi, request: Request, p: dict[str, str]) -> Response:
    body = json_object(request)
    command, plan = body.get("startCommand"), body.get("planId")
    if not isinstance(command, str) or not command.strip():
        raise ApiProblem(400, "startCommand must be a non-empty string")
    if plan is not None and not isinstance(plan, str):
        raise ApiProblem(400, "planId must be a string")
    job = api.state.create_job(p["service_id"], command, plan)
    return Response(201, views.job(api.state, job))


@route("GET", "/services/{service_id}/jobs/{job_id}")
def get_job(api: RenderApi, request: Request, p: dict[str, str]) -> Response:
    api.state.advance()
    return Response(200, views.job(api.state, api.state.job(p["service_id"], p["job_id"])))


@route("POST", "/services/{service_id}/restart")
def restart(api: RenderApi, request: Request, p: dict[str, str]) -> Response:
    api.state.restart(p["service_id"])
    return Response(200)


@route("POST", "/services/{service_id}/suspend")
def suspend(api: RenderApi, request: Request, p: dict[str, str]) -> Response:
    api.state.set_suspended(p["service_id"], True)
    return Response(202)


@route("POST", "/services/{service_id}/resume")
def resume(api: RenderApi, request: Request, p: dict[str, str]) -> Response:
    api.state.set_suspended(p["service_id"], False)
    return Response(202)


# --- env vars and env groups -----------------------------------------------------------------


def _env_vars(keys: list[str], env: dict[str, str]) -> Response:
    return wrapped("envVar", keys, lambda k: k, lambda k: {"key": k, "value": env[k]})


@route("GET", "/services/{service_id}/env-vars")
def list_env(api: RenderApi, request: Request, p: dict[str, str]) -> Response:
    env = api.state.service(p["service_id"]).env
    return _env_vars(page(request, list(env), lambda k: k), env)


@route("PUT", "/services/{service_id}/env-vars")
def replace_env(api: RenderApi, request: Request, p: dict[str, str]) -> Response:
    if not isinstance(request.body, list):
        raise ApiProblem(400, "request body must be a JSON array of {key, value}")
    env = api.state.replace_env(p["service_id"], request.body)
    return _env_vars(list(env), env)


@route("GET", "/services/{service_id}/env-vars/{key}")
def get_env(api: RenderApi, request: Request, p: dict[str, str]) -> Response:
    env = api.state.service(p["service_id"]).env
    if p["key"] not in env:
        raise ApiProblem(404, f"env var {p['key']} not found")
    return Response(200, {"key": p["key"], "value": env[p["key"]]})


@route("PUT", "/services/{service_id}/env-vars/{key}")
def set_env(api: RenderApi, request: Request, p: dict[str, str]) -> Response:
    value = api.state.set_env(p["service_id"], p["key"], json_object(request))
    return Response(200, {"key": p["key"], "value": value})


@route("DELETE", "/services/{service_id}/env-vars/{key}")
def delete_env(api: RenderApi, request: Request, p: dict[str, str]) -> Response:
    api.state.delete_env(p["service_id"], p["key"])
    return Response(204)


@route("GET", "/env-groups")
def list_env_groups(api: RenderApi, request: Request, _: dict[str, str]) -> Response:
    state = api.state
    names, owners = values(request, "name"), values(request, "ownerId")
    groups = [
        g
        for g in state.env_groups.values()
        if (not names or g.name in names)
        and (not owners or state.owner.id in owners)
        and in_range(g.created_at, request, "createdBefore", "createdAfter")
        and in_range(g.updated_at, request, "updatedBefore", "updatedAfter")
    ]
    # Real Render answers a bare array here, without the {envGroup, cursor} wrapper.
    return Response(
        200,
        [views.env_group(state, g, with_vars=False) for g in page(request, groups, lambda g: g.id)],
    )


@route("GET", "/env-groups/{group_id}")
def get_env_group(api: RenderApi, request: Request, p: dict[str, str]) -> Response:
    return Response(
        200, views.env_group(api.state, api.state.env_group(p["group_id"]), with_vars=True)
    )


# --- deploys ---------------------------------------------------------------------------------


@route("GET", "/services/{service_id}/deploys")
def list_deploys(api: RenderApi, request: Request, p: dict[str, str]) -> Response:
    svc = api.state.service(p["service_id"])
    statuses = values(request, "status")
    unknown = set(statuses) - DEPLOY_STATUSES
    if unknown:
        raise ApiProblem(400, f"unknown deploy status {sorted(unknown)[0]!r}")
    by_finish = (
        one(request, "finishedBefore") is not None or one(request, "finishedAfter") is not None
    )
    if "deploys_status_filter_ignored" in api.state.scenario.quirks:
        statuses = []  # the quirk: answers as if no status was asked for
    deploys = [
        d
        for d in sorted(svc.deploys, key=lambda d: (d.created_at, d.id), reverse=True)
        if (not statuses or d.status in statuses)
        and in_range(d.created_at, request, "createdBefore", "createdAfter")
        and in_range(d.updated_at, request, "updatedBefore", "updatedAfter")
        and (not by_finish or _finished_in_range(d.finished_at, request))
    ]
    chosen = page(request, deploys, lambda d: d.id)
    return wrapped("deploy", chosen, lambda d: d.id, views.deploy)


def _finished_in_range(finished: datetime | None, request: Request) -> bool:
    return finished is not None and in_range(finished, request, "finishedBefore", "finishedAfter")


@route("GET", "/services/{service_id}/deploys/{deploy_id}")
def get_deploy(api: RenderApi, request: Request, p: dict[str, str]) -> Response:
    svc = api.state.service(p["service_id"])
    return Response(200, views.deploy(api.state.deploy(svc, p["deploy_id"])))


@route("POST", "/services/{service_id}/deploys")
def create_deploy(api: RenderApi, request: Request, p: dict[str, str]) -> Response:
    body = request.body if request.body is not None else {}
    if not isinstance(body, dict):
        raise ApiProblem(400, "request body must be a JSON object")
    clear = body.get("clearCache", "do_not_clear")
    mode = body.get("deployMode", "build_and_deploy")
    if clear not in ("clear", "do_not_clear"):
        raise ApiProblem(400, 'clearCache must be "clear" or "do_not_clear"')
    if mode not in ("deploy_only", "build_and_deploy"):
        raise ApiProblem(400, 'deployMode must be "deploy_only" or "build_and_deploy"')
    for key in ("commitId", "imageUrl"):
        if key in body and not isinstance(body[key], str):
            raise ApiProblem(400, f"{key} must be a string")
    deploy = api.state.create_deploy(
        p["service_id"],
        commit_id=body.get("commitId") or None,
        image_url=body.get("imageUrl") or None,
        clear_cache=clear == "clear",
        deploy_only=mode == "deploy_only",
    )
    return Response(201, views.deploy(deploy))


@route("POST", "/services/{service_id}/deploys/{deploy_id}/cancel")
def cancel_deploy(api: RenderApi, request: Request, p: dict[str, str]) -> Response:
    return Response(200, views.deploy(api.state.cancel(p["service_id"], p["deploy_id"])))


@route("POST", "/services/{service_id}/rollback")
def rollback(api: RenderApi, request: Request, p: dict[str, str]) -> Response:
    target = json_object(request).get("deployId")
    if not isinstance(target, str) or not target:
        raise ApiProblem(400, "deployId is required")
    return Response(201, views.deploy(api.state.rollback(p["service_id"], target)))


@route("GET", "/services/{service_id}/events")
def list_events(api: RenderApi, request: Request, p: dict[str, str]) -> Response:
    svc = api.state.service(p["service_id"])
    types = values(request, "type")
    start, end = when(request, "startTime"), when(request, "endTime")
    events = [
        e
        for e in sorted(svc.events, key=lambda e: (e.timestamp, e.id), reverse=True)
        if (not types or e.type in types)
        and (start is None or e.timestamp >= start)
        and (end is None or e.timestamp <= end)
    ]
    chosen = page(request, events, lambda e: e.id)
    return wrapped("event", chosen, lambda e: e.id, views.event)


@route("GET", "/services/{service_id}/instances")
def list_instances(api: RenderApi, request: Request, p: dict[str, str]) -> Response:
    """The running instances: the live deploy's, and a deploy's being started (update)."""
    svc = api.state.service(p["service_id"])
    starting = [d for d in svc.deploys if d.status == "update_in_progress" and d.instance]
    running = [] if (starting and svc.config.disk) else [d for d in [svc.live()] if d]
    return Response(
        200,
        [
            {"id": d.instance, "createdAt": views.iso(d.started_at or d.created_at)}
            for d in running + starting
            if d.instance
        ],
    )


# --- logs ------------------------------------------------------------------------------------


@route("GET", "/logs")
def list_logs(api: RenderApi, request: Request, _: dict[str, str]) -> Response:
    state = api.state
    owner_id = one(request, "ownerId")
    resources = values(request, "resource")
    if not owner_id:
        raise ApiProblem(400, "ownerId is required")
    if not resources:
        raise ApiProblem(400, "resource is required")
    if owner_id != state.owner.id:
        raise ApiProblem(404, f"owner {owner_id} not found")
    direction = one(request, "direction") or "backward"
    if direction not in ("forward", "backward"):
        raise ApiProblem(400, 'direction must be "forward" or "backward"')
    end = when(request, "endTime") or state.now()
    start = when(request, "startTime") or end - timedelta(hours=1)
    result = state.logs.query(
        LogQuery(
            resources=resources,
            start=start,
            end=end,
            direction="forward" if direction == "forward" else "backward",
            limit=limit_of(request),
            levels=values(request, "level"),
            types=values(request, "type"),
            texts=request.query.get("text", []),
            instances=values(request, "instance"),
        )
    )
    return Response(
        200,
        {
            "hasMore": result.has_more,
            "nextStartTime": views.iso(result.next_start),
            "nextEndTime": views.iso(result.next_end),
            "logs": [views.log(entry) for entry in result.logs],
        },
    )


# --- postgres --------------------------------------------------------------------------------


@route("GET", "/postgres")
def list_postgres(api: RenderApi, request: Request, _: dict[str, str]) -> Response:
    state = api.state
    names, owners, regions = (
        values(request, "name"),
        values(request, "ownerId"),
        values(request, "region"),
    )
    found = [
        pg
        for pg in sorted(
            state.postgres.values(), key=lambda pg: (pg.created_at, pg.id), reverse=True
        )
        if (not names or pg.config.name in names)
        and (not owners or state.owner.id in owners)
        and (not regions or pg.config.region in regions)
        and in_range(pg.created_at, request, "createdBefore", "createdAfter")
    ]
    chosen = page(request, found, lambda pg: pg.id)
    return wrapped(
        "postgres", chosen, lambda pg: pg.id, lambda pg: views.postgres(state, pg, detail=False)
    )


@route("GET", "/postgres/{pg_id}")
def get_postgres(api: RenderApi, request: Request, p: dict[str, str]) -> Response:
    return Response(200, views.postgres(api.state, api.state.pg(p["pg_id"]), detail=True))


@route("GET", "/postgres/{pg_id}/connection-info")
def connection_info(api: RenderApi, request: Request, p: dict[str, str]) -> Response:
    return Response(200, views.connection_info(api.state.pg(p["pg_id"])))


@route("GET", "/postgres/{pg_id}/export")
def list_exports(api: RenderApi, request: Request, p: dict[str, str]) -> Response:
    pg = api.state.pg(p["pg_id"])
    api.state.advance()
    listed: list[dict[str, Any]] = []
    for e in sorted(pg.exports, key=lambda e: e.created_at, reverse=True):
        item = {"id": e.id, "createdAt": views.iso(e.created_at)}
        if e.ready:  # no status field: an export in progress simply has no URL yet
            item["url"] = api.state.export_url(request.base_url, pg, e)
        listed.append(item)
    return Response(200, listed)


@route("POST", "/postgres/{pg_id}/export")
def create_export(api: RenderApi, request: Request, p: dict[str, str]) -> Response:
    api.state.export(p["pg_id"])
    return Response(202)


@route("DELETE", "/postgres/{pg_id}")
def delete_postgres(api: RenderApi, request: Request, p: dict[str, str]) -> Response:
    api.state.delete_postgres(p["pg_id"])
    return Response(204)


@route("GET", "/postgres/{pg_id}/recovery")
def recovery_info(api: RenderApi, request: Request, p: dict[str, str]) -> Response:
    pg = api.state.pg(p["pg_id"])
    body: dict[str, Any] = {"recoveryStatus": pg.config.recovery}
    if pg.config.recovery == "AVAILABLE":
        body["startsAt"] = views.iso(api.state.recovery_start(pg))
    return Response(200, body)


@route("POST", "/postgres/{pg_id}/recovery")
def recover(api: RenderApi, request: Request, p: dict[str, str]) -> Response:
    body = json_object(request)
    raw = body.get("restoreTime")
    if not isinstance(raw, str):
        raise ApiProblem(400, "restoreTime is required (RFC 3339)")
    restore_time = rfc3339("restoreTime", raw)
    name = body.get("restoreName")
    state = api.state.recover(
        p["pg_id"], restore_time, name if isinstance(name, str) and name else None
    )
    return Response(200, views.postgres(api.state, state, detail=True))
