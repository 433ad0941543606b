"""Every operation the simulator serves, called for real and validated against Render's spec.

Where recorded real Render answers break the spec (nulls, missing fields), the simulator
follows Render; REAL_RENDER_EXCEPTIONS names each such deviation, and the response is checked
against the spec with only those undone.

The official OpenAPI document has two `oneOf`s no JSON can satisfy: a web service's
`serviceDetails` also matches privateServiceDetails and backgroundWorkerDetails (each a subset
of the other's required fields, no discriminator), and event `details` include several
`{"type": "object"}` variants that match anything. For those two we validate `anyOf` against
the whole document AND check the object strictly against the one variant its `type` names.
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import demo
import httpx
import pytest
from simsupport import ENV_GROUP, LIVE_WEB_DEPLOY, MAIN_DB, OWNER, WEB, StartSim

from releaser.sim import ManualClock, SimServer, load_scenario
from releaser.sim.api import _ROUTES

REPO = Path(__file__).resolve().parents[2]
SERVICE_DETAILS = "#/components/schemas/service/properties/serviceDetails"
EVENT_DETAILS = "#/components/schemas/serviceEventWithCursor/properties/event/properties/details"
DETAILS_BY_TYPE = {
    "web_service": "webServiceDetails",
    "private_service": "privateServiceDetails",
    "background_worker": "backgroundWorkerDetails",
    "static_site": "staticSiteDetails",
    "cron_job": "cronJobDetails",
}


def spec_path() -> Path | None:
    for candidate in (
        REPO.parent / "shared" / "render-openapi.json",
        os.environ.get("RELEASER_OPENAPI_SPEC"),
    ):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def spec_document() -> dict[str, Any]:
    path = spec_path()
    if path is None:
        pytest.skip(
            "SPEC CONFORMANCE NOT CHECKED: render-openapi.json not found at ../shared/ "
            "(set RELEASER_OPENAPI_SPEC to its path)"
        )
    return dict(json.loads(path.read_text(encoding="utf-8")))


@pytest.fixture(scope="session")
def openapi(spec_document: dict[str, Any]) -> Any:
    """The spec, loaded once (it is 560 KB and slow to build), with the two oneOfs relaxed."""
    from openapi_core import OpenAPI

    text = json.dumps(spec_document)
    for pointer in (SERVICE_DETAILS, EVENT_DETAILS):
        # The spec's own $refs point into these oneOf lists: move them along.
        text = text.replace(f"{pointer}/oneOf/", f"{pointer}/anyOf/")
    relaxed = json.loads(text)
    for pointer in (SERVICE_DETAILS, EVENT_DETAILS):
        node = _resolve(relaxed, pointer)
        node["anyOf"] = node.pop("oneOf")
    return OpenAPI.from_dict(relaxed)


def _resolve(document: dict[str, Any], pointer: str) -> Any:
    """The node itself (not a copy), so the caller can patch it."""
    node: Any = document
    for part in pointer.lstrip("#/").split("/"):
        node = node[part]
    return node


class Exchanges:
    """httpx hooks that keep every request/response pair for validation."""

    def __init__(self) -> None:
        self.pairs: list[tuple[httpx.Request, httpx.Response]] = []

    def hook(self, response: httpx.Response) -> None:
        response.read()
        self.pairs.append((response.request, response))


ALL_TYPES = """\
[scenario]
extends = "demo"
name = "all-types"

[[services]]
id = "srv-hjtl316kyssqmyi4ywa3"
name = "web"
repo = "https://github.com/acme/web"
env = { A = "1" }
env_groups = ["shared-secrets"]
deploys = [
    { id = "dep-hhbxptc0n1q2lqvefl9w", status = "live", commit = "902ba3cd", created_at = "-2h" },
    { id = "dep-8e0q7djmgonospezikj5", status = "deactivated", commit = "c1d", created_at = "-2d" },
]

[[services]]
id = "srv-ti5dbf051xm8voph0xct"
name = "worker"
type = "background_worker"
image = "ghcr.io/acme/worker:1.0.0"
deploys = [{ id = "dep-w1", status = "live", created_at = "-1d" }]

[[services]]
id = "srv-pserv"
name = "internal"
type = "private_service"
runtime = "docker"

[[services]]
id = "srv-static"
name = "site"
type = "static_site"
runtime = "node"

[[services]]
id = "srv-cron"
name = "nightly"
type = "cron_job"
schedule = "0 3 * * *"
"""


@pytest.fixture
def recorded(
    start_sim: StartSim, clock: ManualClock, tmp_path: Path
) -> Iterator[tuple[SimServer, httpx.Client, Exchanges]]:
    path = tmp_path / "all-types.toml"
    path.write_text(textwrap.dedent(ALL_TYPES), encoding="utf-8")
    server = start_sim(load_scenario(str(path)), rate_limits=True)
    exchanges = Exchanges()
    client = httpx.Client(
        base_url=server.url,
        headers={"Authorization": f"Bearer {server.api_key}"},
        event_hooks={"response": [exchanges.hook]},
    )
    with client:
        yield server, client, exchanges


def tour(server: SimServer, api: httpx.Client, clock: ManualClock) -> None:
    """Call every served operation, with successes, empty answers and errors."""
    api.get("/owners")
    api.get("/owners", params={"limit": 1})
    api.get(f"/owners/{OWNER}")
    api.get("/owners/tea-missing")
    api.get("/services", params={"limit": 100, "ownerId": OWNER})
    api.get("/services", params={"type": ["web_service", "cron_job"], "name": "web"})
    for service in (
        demo.WEB,
        demo.WORKER,
        "srv-pserv",
        "srv-static",
        "srv-cron",
    ):
        api.get(f"/services/{service}")
    api.get("/services/srv-missing")
    api.patch(f"/services/{WEB}", json={"autoDeploy": "no"})
    api.get(f"/services/{WEB}/env-vars")
    api.put(
        f"/services/{WEB}/env-vars",
        json=[{"key": "A", "value": "2"}, {"key": "B", "generateValue": True}],
    )
    api.get(f"/services/{WEB}/env-vars/A")
    api.put(f"/services/{WEB}/env-vars/C", json={"value": "3"})
    api.delete(f"/services/{WEB}/env-vars/C")
    api.get(f"/services/{WEB}/env-vars/C")
    api.get("/env-groups")
    api.get(f"/env-groups/{ENV_GROUP}")
    api.get("/env-groups/evg-missing")

    server.queue_behaviour("web", "crash_loop", fail_after=120)
    created = api.post(
        f"/services/{WEB}/deploys", json={"clearCache": "clear", "commitId": "a" * 40}
    ).json()
    clock.advance(100)
    api.get(f"/services/{WEB}/deploys/{created['id']}")
    api.post(f"/services/{WEB}/deploys/{created['id']}/cancel")
    api.post(f"/services/{WEB}/deploys/{created['id']}/cancel")  # 400: finished
    api.post(f"/services/{WEB}/rollback", json={"deployId": demo.PREVIOUS})
    api.post(f"/services/{WEB}/rollback", json={"deployId": "dep-missing"})
    clock.advance(60)
    server.add_fault(method="POST", path="/services/*/deploys", queued_202=True, count=1)
    api.post(f"/services/{WEB}/deploys", json={"deployMode": "deploy_only"})
    api.post(f"/services/{demo.WORKER}/deploys", json={"imageUrl": "ghcr.io/acme/worker:1.1.0"})
    server.queue_behaviour("web", "unhealthy_after_live", unhealthy_after=10)
    api.post(f"/services/{WEB}/deploys", json={})
    server.queue_behaviour("web", "build_failed")
    clock.advance(300)
    api.post(f"/services/{WEB}/deploys", json={})
    clock.advance(300)
    api.get(f"/services/{WEB}/deploys", params={"limit": 100})
    api.get(f"/services/{WEB}/deploys", params={"status": ["live", "deactivated"], "limit": 2})
    api.get(f"/services/{WEB}/deploys/{LIVE_WEB_DEPLOY}")
    api.get(f"/services/{demo.WORKER}/deploys")
    job = api.post(f"/services/{WEB}/jobs", json={"startCommand": "python -m app.migrate"}).json()
    api.get(f"/services/{WEB}/jobs/{job['id']}")
    server.queue_job("web", succeeds=False, seconds=5)
    failing = api.post(f"/services/{WEB}/jobs", json={"startCommand": "false"}).json()
    clock.advance(30)
    api.get(f"/services/{WEB}/jobs/{failing['id']}")
    api.get(f"/services/{WEB}/jobs/job-{'0' * 20}")  # 404
    api.post(f"/services/{WEB}/restart")
    api.post(f"/services/{WEB}/suspend")
    api.post(f"/services/{WEB}/resume")
    api.get(f"/services/{WEB}/events", params={"limit": 100})
    api.get(f"/services/{WEB}/events", params={"type": "deploy_ended"})
    api.get(f"/services/{WEB}/instances")

    now = clock.now()
    window = {"startTime": (now - timedelta(days=30)).isoformat(), "endTime": now.isoformat()}
    api.get("/logs", params={"ownerId": OWNER, "resource": [WEB], "limit": 100, **window})
    api.get(
        "/logs",
        params={
            "ownerId": OWNER,
            "resource": WEB,
            "direction": "forward",
            "type": "build",
            **window,
        },
    )
    api.get(
        "/logs", params={"ownerId": OWNER, "resource": WEB, "level": "error", "text": "KeyError"}
    )
    api.get("/logs", params={"ownerId": OWNER})  # 400: resource missing

    api.get("/postgres")
    api.get(f"/postgres/{MAIN_DB}")
    api.get(f"/postgres/{MAIN_DB}/connection-info")
    api.post(f"/postgres/{MAIN_DB}/export")
    api.get(f"/postgres/{MAIN_DB}/export")
    api.get(f"/postgres/{MAIN_DB}/recovery")
    restore = (now - timedelta(hours=2)).isoformat()
    copy = api.post(
        f"/postgres/{MAIN_DB}/recovery", json={"restoreTime": restore, "restoreName": "copy"}
    )
    api.delete(f"/postgres/{copy.json()['id']}")  # 204: a recovery instance is deleted
    api.post(
        f"/postgres/{MAIN_DB}/recovery", json={"restoreTime": now.isoformat()}
    )  # 400: too recent
    api.get("/postgres/dpg-missing")

    api.get("/services", headers={"Authorization": "Bearer rnd_wrong"})  # 401
    server.add_fault(method="GET", path="/owners", status=429, count=1)
    api.get("/owners")  # a 429 fault
    server.add_fault(method="GET", path="/owners", status=503, count=1)
    api.get("/owners")


def test_every_response_validates_against_the_render_spec(
    recorded: tuple[SimServer, httpx.Client, Exchanges],
    openapi: Any,
    spec_document: dict[str, Any],
    clock: ManualClock,
) -> None:
    """Requests and responses of every served operation conform to render-openapi.json."""
    server, api, exchanges = recorded
    tour(server, api, clock)
    problems, covered, _ = validate(exchanges, openapi, spec_document)
    assert not problems, "\n".join(problems)
    served = {(method, regex.pattern) for method, regex, _ in _ROUTES}
    assert served <= covered, f"operations never exercised: {sorted(served - covered)}"
    statuses = {response.status_code for _, response in exchanges.pairs}
    assert {200, 201, 202, 204, 400, 401, 404, 429, 503} <= statuses


def test_real_render_shapes_deviate_from_the_spec_only_where_named(
    start_sim: StartSim, clock: ManualClock, openapi: Any, spec_document: dict[str, Any]
) -> None:
    """render-shapes answers like recorded real Render; each deviation from the spec is one
    of REAL_RENDER_EXCEPTIONS, and each of those is really produced (the list cannot rot)."""
    server = start_sim("render-shapes")
    exchanges = Exchanges()
    with httpx.Client(
        base_url=server.url,
        headers={"Authorization": f"Bearer {server.api_key}"},
        event_hooks={"response": [exchanges.hook]},
    ) as api:
        services = [item["service"] for item in api.get("/services", params={"limit": 100}).json()]
        for service in services:
            api.get(f"/services/{service['id']}")
            api.get(f"/services/{service['id']}/deploys", params={"limit": 100})
            api.get(f"/services/{service['id']}/events", params={"limit": 100})
        proxy = "srv-sh4p3s1m4g30000001"
        api.post(f"/services/{proxy}/deploys", json={})
        clock.advance(30)
        api.get(f"/services/{proxy}/deploys", params={"status": "live", "limit": 5})
        api.patch(f"/services/{services[0]['id']}", json={"autoDeploy": "no"})
        api.get("/postgres", params={"limit": 100})
        for pg in ("dpg-sh4p3sdb00000000001-a", "dpg-sh4p3sdb00000000002-a"):
            api.get(f"/postgres/{pg}")
    problems, _, seen = validate(exchanges, openapi, spec_document)
    assert not problems, "\n".join(problems)
    assert seen == set(REAL_RENDER_EXCEPTIONS), (
        f"never produced: {set(REAL_RENDER_EXCEPTIONS) - seen}"
    )
    types = {s["type"] for s in services}
    assert types == set(DETAILS_BY_TYPE), types


# Where recorded real Render answers break the spec, the simulator follows Render. Each entry:
# name -> how to turn the real shape into the spec's, so the rest is still validated.
def _drop_null(key: str) -> Any:
    def fix(item: dict[str, Any]) -> bool:
        if key in item and item[key] is None:
            del item[key]
            return True
        return False

    return fix


def _fill(key: str, value: Any, when: str | None = None) -> Any:
    def fix(item: dict[str, Any]) -> bool:
        if (when is None or when in item) and item.get(key, "missing") in (None, "missing"):
            item[key] = value
            return True
        return False

    return fix


REAL_RENDER_EXCEPTIONS: dict[str, tuple[str, Any]] = {
    "deploy commit: null (image deploys)": ("dep-", _drop_null("commit")),
    "deploy finishedAt: null (unfinished and some image deploys)": (
        "dep-",
        _drop_null("finishedAt"),
    ),
    "postgres ipAllowList: null": ("dpg-", _fill("ipAllowList", [], when="ipAllowList")),
    "postgres detail without project": ("dpg-", _fill("project", {}, when="parameterOverrides")),
    "postgres without diskAutoscalingEnabled": (
        "dpg-",
        _fill("diskAutoscalingEnabled", False, when="databaseName"),
    ),
}


def _to_spec_shape(body: Any, seen: set[str]) -> Any:
    """The body with each named real-Render deviation undone (recorded in ``seen``)."""
    if isinstance(body, list):
        return [_to_spec_shape(item, seen) for item in body]
    if not isinstance(body, dict):
        return body
    item = {key: _to_spec_shape(value, seen) for key, value in body.items()}
    item_id = item.get("id")
    for name, (prefix, fix) in REAL_RENDER_EXCEPTIONS.items():
        if isinstance(item_id, str) and item_id.startswith(prefix) and fix(item):
            seen.add(name)
    return item


def validate(
    exchanges: Exchanges, openapi: Any, spec_document: dict[str, Any]
) -> tuple[list[str], set[tuple[str, str]], set[str]]:
    """(problems, operations covered, named exceptions seen) for the recorded exchanges."""
    from openapi_core.testing import MockRequest, MockResponse

    problems: list[str] = []
    covered: set[tuple[str, str]] = set()
    seen: set[str] = set()
    for request, response in exchanges.pairs:
        query = request.url.query.decode()
        label = f"{request.method} {request.url.path}?{query} -> {response.status_code}"
        mock_request = MockRequest(
            "https://api.render.com",
            request.method.lower(),
            request.url.path,
            # lists, so a repeated parameter (?type=a&type=b) keeps every value
            args={key: request.url.params.get_list(key) for key in request.url.params},
            headers=dict(request.headers),
            data=request.content or None,
            content_type=request.headers.get("Content-Type", "application/json"),
        )
        if response.status_code not in (400, 401):  # those requests are wrong on purpose
            try:
                openapi.validate_request(mock_request)
            except Exception as exc:  # report them all, not just the first
                problems.append(f"REQUEST {label}: {_explain(exc)}")
        content = response.content
        if content and response.headers.get("Content-Type", "").startswith("application/json"):
            content = json.dumps(_to_spec_shape(response.json(), seen)).encode()
        mock_response = MockResponse(
            content,
            status_code=response.status_code,
            headers=dict(response.headers),
            content_type=response.headers.get("Content-Type", "").split(";")[0],
        )
        try:
            openapi.validate_response(mock_request, mock_response)
        except Exception as exc:
            problems.append(f"RESPONSE {label}: {_explain(exc)}")
        problems += _strict_variants(spec_document, request, response)
        covered |= _operation(request)
    return problems, covered, seen


def _operation(request: httpx.Request) -> set[tuple[str, str]]:
    path = request.url.path.removeprefix("/v1")
    return {
        (m, regex.pattern) for m, regex, _ in _ROUTES if m == request.method and regex.match(path)
    }


def _explain(exc: Exception) -> str:
    cause = exc.__cause__
    details = [getattr(e, "message", str(e)) for e in getattr(cause, "schema_errors", [])]
    return f"{exc!r} {cause!r} {details}"[:1500]


def _strict_variants(
    spec: dict[str, Any], request: httpx.Request, response: httpx.Response
) -> list[str]:
    """The relaxed oneOfs: each object must match the variant its type names."""
    from openapi_schema_validator import OAS30Validator

    if response.status_code >= 300 or not response.content:
        return []
    body = response.json()
    items = body if isinstance(body, list) else [body]
    problems = []
    for item in items:
        if not isinstance(item, dict):
            continue
        service = item.get("service", item if "serviceDetails" in item else None)
        if isinstance(service, dict) and "serviceDetails" in service:
            ref = f"#/components/schemas/{DETAILS_BY_TYPE[service['type']]}"
            problems += _check(
                OAS30Validator, spec, ref, service["serviceDetails"], service["type"]
            )
        event = item.get("event")
        if isinstance(event, dict):
            variants = _resolve(spec, EVENT_DETAILS)["oneOf"]
            index = next(
                i
                for i, v in enumerate(variants)
                if v["title"].lower().replace(" ", "_") == event["type"]
            )
            problems += _check(
                OAS30Validator,
                spec,
                f"{EVENT_DETAILS}/oneOf/{index}",
                event["details"],
                event["type"],
            )
    return problems


def _check(validator: Any, spec: dict[str, Any], ref: str, value: Any, what: str) -> list[str]:
    schema = {"$ref": ref, "components": spec["components"], "paths": spec["paths"]}
    return [f"VARIANT {what}: {error.message}" for error in validator(schema).iter_errors(value)]
