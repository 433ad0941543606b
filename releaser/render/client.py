"""RenderClient: the one place that talks HTTP to Render.

It returns typed models, pages through lists, retries reads (connection errors, 429, 5xx)
with exponential backoff and jitter, and never retries a write blindly: a write that may or
may not have happened raises WriteOutcomeUnknown so the caller can look before trying again.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from releaser import __version__
from releaser.errors import EXIT_USAGE, ApiError, EnvironmentProblem, NotFoundError, UsageError
from releaser.render.models import (
    Deploy,
    EnvGroup,
    EnvVar,
    Event,
    Instance,
    LogEntry,
    LogPage,
    Postgres,
    PostgresConnectionInfo,
    Service,
)

DEFAULT_API_URL = "https://api.render.com/v1"
PAGE_LIMIT = 100  # Render's maximum for list endpoints and /logs
SERVICE_ID = re.compile(r"^(srv|crn)-[a-z0-9]+$")
POSTGRES_ID = re.compile(r"^dpg-[a-z0-9-]+$")
DEPLOY_ID = re.compile(r"^dep-[a-z0-9]+$")

M = TypeVar("M", bound=BaseModel)


class WriteOutcomeUnknown(ApiError):
    """A write timed out or got a 5xx: it may have happened. Look before retrying."""

    def __init__(self, problem: str, status: int | None = None) -> None:
        super().__init__(
            f"{problem}; the request may or may not have been applied",
            "Check the current state before trying again",
            status=status,
        )


class RequestRejected(ApiError):
    """Render refused our input (a 4xx other than auth or 404): exit 2, not 3."""

    exit_code = EXIT_USAGE


class RetryPolicy(BaseModel):
    attempts: int = 5
    backoff_base: float = 0.5
    max_wait: float = 30.0  # the longest single wait we accept; longer means give up (exit 3)


def _parse_retry_after(response: httpx.Response, now: float) -> float | None:
    """Seconds to wait as the server asks: Retry-After (seconds or date) or Ratelimit-Reset.

    Ratelimit-Reset is documented as an epoch but has been seen as seconds-from-now, so a
    value that is plausibly an epoch is converted and anything else is taken as seconds.
    """
    retry_after = response.headers.get("Retry-After")
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            try:
                when = parsedate_to_datetime(retry_after)
                return max(0.0, when.timestamp() - now)
            except (TypeError, ValueError):
                pass
    reset = response.headers.get("Ratelimit-Reset")
    if reset:
        try:
            value = float(reset)
        except ValueError:
            return None
        if value > 1_000_000_000:
            return max(0.0, value - now)
        return max(0.0, value)
    return None


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:200]
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or "").strip()
    return ""


class RenderClient:
    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_API_URL,
        *,
        owner_id: str | None = None,
        timeout: float = 15.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.owner_id = owner_id
        self.retry = retry or RetryPolicy()
        self.request_count = 0
        self._clock_offset = 0.0
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={
                "Authorization": f"Bearer {api_key}",
                "Accept": "application/json",
                "User-Agent": f"releaser/{__version__}",
            },
            timeout=httpx.Timeout(timeout, connect=5.0),
            transport=transport,
        )

    @classmethod
    def from_env(cls, **kwargs: Any) -> RenderClient:
        key = os.environ.get("RENDER_API_KEY", "").strip()
        if not key:
            raise EnvironmentProblem(
                "RENDER_API_KEY is not set",
                "Create a key in the Render dashboard (Account Settings > API Keys) and "
                "export RENDER_API_KEY=..., or run 'releaser sim serve' and export what it prints",
            )
        url = os.environ.get("RENDER_API_URL", "").strip() or DEFAULT_API_URL
        if not re.match(r"^https?://[^\s/]+", url):
            raise UsageError(
                f"RENDER_API_URL {url!r} is not an http(s) URL",
                f"Set it to a URL like {DEFAULT_API_URL}, or unset it",
            )
        owner = os.environ.get("RENDER_OWNER_ID", "").strip() or None
        return cls(key, url, owner_id=owner, **kwargs)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RenderClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _learn_clock(self, response: httpx.Response) -> None:
        # Windows like "--since 15m" are computed on the server's clock, not ours: a
        # skewed laptop (or the simulator's scaled time) must not shift the window.
        date = response.headers.get("Date")
        if not date:
            return
        try:
            server = parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            return
        self._clock_offset = server - time.time()

    def server_now(self) -> datetime:
        """Now on the API server's clock (second resolution; our clock before any call)."""
        return datetime.fromtimestamp(time.time() + self._clock_offset, UTC)

    # --- transport -------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        # Full jitter: spreads out many releasers hitting the same limit at once.
        return random.uniform(0, self.retry.backoff_base * (2**attempt))

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        what: str = "resource",
    ) -> httpx.Response:
        """One API call with the retry rules; returns a 2xx response or raises a typed error."""
        is_read = method == "GET"
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        last_problem = ""
        for attempt in range(self.retry.attempts):
            self.request_count += 1
            try:
                response = self._http.request(method, path, params=clean, json=json)
            except httpx.ConnectError as exc:
                # Nothing reached the server, so even a write is safe to try again.
                last_problem = f"cannot connect to {self.base_url} ({exc.__class__.__name__})"
                wait = self._backoff(attempt)
            except (httpx.TimeoutException, httpx.RemoteProtocolError, httpx.ReadError) as exc:
                last_problem = f"{method} {path}: {exc.__class__.__name__}"
                if not is_read:
                    raise WriteOutcomeUnknown(last_problem) from None
                wait = self._backoff(attempt)
            else:
                self._learn_clock(response)
                if response.status_code < 400:
                    return response
                status = response.status_code
                if status == 429:
                    asked = _parse_retry_after(response, time.time())
                    last_problem = "rate limited by Render (429)"
                    if asked is not None and asked > self.retry.max_wait:
                        raise ApiError(
                            f"{last_problem} on {method} {path}; Render asks to wait {asked:.0f}s",
                            f"Retry after {asked:.0f}s, or run fewer releaser processes at once",
                            status=429,
                        )
                    wait = asked if asked is not None else self._backoff(attempt)
                elif status >= 500:
                    last_problem = f"Render answered {status} on {method} {path}"
                    if not is_read:
                        raise WriteOutcomeUnknown(last_problem, status=status)
                    wait = self._backoff(attempt)
                else:
                    raise self._client_error(response, method, path, what)
            if attempt + 1 < self.retry.attempts:
                self._sleep(min(wait, self.retry.max_wait))
        raise ApiError(
            f"{last_problem}; gave up after {self.retry.attempts} attempts",
            "Check RENDER_API_URL, your network and https://status.render.com, then retry",
        )

    def _client_error(
        self, response: httpx.Response, method: str, path: str, what: str
    ) -> ApiError | NotFoundError:
        status = response.status_code
        detail = _error_message(response)
        answer = f"{status}: {detail}" if detail else str(status)
        if status in (401, 403):
            return ApiError(
                f"Render refused the API key ({answer})",
                "Check RENDER_API_KEY: it must be a valid key for this workspace",
                status=status,
            )
        if status == 404:
            return NotFoundError(
                f"{what} not found ({method} {path})",
                "Check the id or name; 'releaser services' lists what this key can see",
            )
        return RequestRejected(
            f"Render rejected {method} {path} ({answer})",
            "Fix the request as the message says",
            status=status,
        )

    def _get_json(self, path: str, params: dict[str, Any] | None = None, what: str = "") -> Any:
        response = self.request("GET", path, params=params, what=what or path)
        try:
            return response.json()
        except ValueError:
            raise ApiError(
                f"Render answered GET {path} with something that is not JSON",
                "Check RENDER_API_URL points at the Render API",
            ) from None

    def _model(self, cls: type[M], data: Any, where: str) -> M:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ApiError(
                f"unexpected response from {where}: {exc.errors()[0]['msg']}",
                "Check RENDER_API_URL points at the Render API; report this if it does",
            ) from None

    def _paginate(
        self,
        path: str,
        key: str,
        cls: type[M],
        params: dict[str, Any] | None = None,
        max_items: int | None = None,
    ) -> Iterator[M]:
        """Cursor pagination: ``[{key: {...}, cursor}]`` pages of up to 100."""
        cursor: str | None = None
        seen = 0
        while True:
            size = PAGE_LIMIT if max_items is None else max(1, min(PAGE_LIMIT, max_items - seen))
            page_params = dict(params or {}, limit=size, cursor=cursor)
            page = self._get_json(path, page_params)
            if not isinstance(page, list):
                raise ApiError(f"unexpected response from {path}: not a list", "Report this")
            for item in page:
                if not isinstance(item, dict):
                    continue
                yield self._model(cls, item.get(key, item), path)
                seen += 1
                if max_items is not None and seen >= max_items:
                    return
            last = page[-1].get("cursor") if page and isinstance(page[-1], dict) else None
            if len(page) < size or not last or last == cursor:
                return
            cursor = last

    # --- owners and services ---------------------------------------------------------

    def list_services(self, name: str | None = None) -> list[Service]:
        params = {"name": name} if name else None
        return list(self._paginate("/services", "service", Service, params))

    def get_service(self, service_id: str) -> Service:
        data = self._get_json(f"/services/{service_id}", what=f"service {service_id}")
        return self._model(Service, data, "GET /services/{id}")

    def resolve_service(self, name_or_id: str) -> Service:
        """A service by id (``srv-…``) or exact name; a name matching two is an error."""
        if SERVICE_ID.match(name_or_id):
            return self.get_service(name_or_id)
        matches = [s for s in self.list_services(name=name_or_id) if s.name == name_or_id]
        if not matches:
            raise NotFoundError(
                f"no service named {name_or_id!r}",
                "Run 'releaser services' to list names and ids",
            )
        if len(matches) > 1:
            ids = ", ".join(s.id for s in matches)
            raise UsageError(
                f"the name {name_or_id!r} matches {len(matches)} services ({ids})",
                "Name the service by its id instead",
            )
        matches[0].mark_name_unique()
        return matches[0]

    def update_service(self, service_id: str, changes: dict[str, Any]) -> Service:
        response = self.request(
            "PATCH", f"/services/{service_id}", json=changes, what=f"service {service_id}"
        )
        return self._model(Service, response.json(), "PATCH /services/{id}")

    def owner_id_for(self, service: Service) -> str:
        owner = self.owner_id or service.owner_id
        if not owner:
            raise UsageError(
                "cannot tell which workspace owns this service",
                "Set RENDER_OWNER_ID to the workspace id (tea-… or usr-…)",
            )
        return owner

    # --- deploys ---------------------------------------------------------------------

    def list_deploys(
        self,
        service_id: str,
        *,
        limit: int | None = None,
        statuses: list[str] | None = None,
        created_after: datetime | None = None,
    ) -> list[Deploy]:
        params: dict[str, Any] = {}
        if statuses:
            params["status"] = statuses
        if created_after:
            params["createdAfter"] = created_after.isoformat()
        return list(
            self._paginate(
                f"/services/{service_id}/deploys", "deploy", Deploy, params, max_items=limit
            )
        )

    def get_deploy(self, service_id: str, deploy_id: str) -> Deploy:
        data = self._get_json(
            f"/services/{service_id}/deploys/{deploy_id}", what=f"deploy {deploy_id}"
        )
        return self._model(Deploy, data, "GET /services/{id}/deploys/{id}")

    def create_deploy(
        self,
        service_id: str,
        *,
        commit_id: str | None = None,
        image_url: str | None = None,
        clear_cache: bool = False,
        deploy_only: bool = False,
    ) -> Deploy | None:
        """Trigger a deploy. None means Render queued it (202, no body): find it by listing."""
        body: dict[str, Any] = {"clearCache": "clear" if clear_cache else "do_not_clear"}
        if commit_id:
            body["commitId"] = commit_id
        if image_url:
            body["imageUrl"] = image_url
        if deploy_only:
            body["deployMode"] = "deploy_only"
        response = self.request(
            "POST", f"/services/{service_id}/deploys", json=body, what=f"service {service_id}"
        )
        if response.status_code == 202 or not response.content:
            return None
        return self._model(Deploy, response.json(), "POST /services/{id}/deploys")

    def cancel_deploy(self, service_id: str, deploy_id: str) -> Deploy | None:
        response = self.request(
            "POST",
            f"/services/{service_id}/deploys/{deploy_id}/cancel",
            what=f"deploy {deploy_id}",
        )
        if not response.content:
            return None
        return self._model(Deploy, response.json(), "POST .../cancel")

    def rollback(self, service_id: str, deploy_id: str) -> Deploy | None:
        response = self.request(
            "POST",
            f"/services/{service_id}/rollback",
            json={"deployId": deploy_id},
            what=f"deploy {deploy_id}",
        )
        if not response.content:
            return None
        return self._model(Deploy, response.json(), "POST /services/{id}/rollback")

    # --- env vars and groups ---------------------------------------------------------

    def list_env_vars(self, service_id: str) -> list[EnvVar]:
        return list(self._paginate(f"/services/{service_id}/env-vars", "envVar", EnvVar))

    def replace_env_vars(self, service_id: str, env_vars: list[EnvVar]) -> list[EnvVar]:
        """PUT replaces ALL of a service's variables: callers must pass the full set."""
        body = [{"key": v.key, "value": v.value or ""} for v in env_vars]
        response = self.request(
            "PUT", f"/services/{service_id}/env-vars", json=body, what=f"service {service_id}"
        )
        data = response.json() if response.content else []
        return [self._model(EnvVar, item.get("envVar", item), "PUT env-vars") for item in data]

    def list_env_groups(self) -> list[EnvGroup]:
        # /env-groups returns a bare array, without the cursor wrapper of other lists.
        data = self._get_json("/env-groups", {"limit": PAGE_LIMIT})
        items = data if isinstance(data, list) else []
        return [self._model(EnvGroup, i.get("envGroup", i), "/env-groups") for i in items]

    def get_env_group(self, group_id: str) -> EnvGroup:
        data = self._get_json(f"/env-groups/{group_id}", what=f"env group {group_id}")
        return self._model(EnvGroup, data, "GET /env-groups/{id}")

    def linked_env_groups(self, service_id: str) -> list[EnvGroup]:
        """Env groups linked to the service, with their variables."""
        linked = [g for g in self.list_env_groups() if g.linked_to(service_id)]
        return [g if g.env_vars is not None else self.get_env_group(g.id) for g in linked]

    # --- events and logs -------------------------------------------------------------

    def list_events(
        self,
        service_id: str,
        *,
        start_time: datetime | None = None,
        types: list[str] | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        params: dict[str, Any] = {}
        if start_time:
            params["startTime"] = start_time.isoformat()
        if types:
            params["type"] = types
        return list(self._paginate(f"/services/{service_id}/events", "event", Event, params, limit))

    def list_instances(self, service_id: str) -> list[Instance]:
        """The service's running instances (a bare array, no cursor wrapper)."""
        data = self._get_json(f"/services/{service_id}/instances", what=f"service {service_id}")
        items = data if isinstance(data, list) else []
        return [self._model(Instance, i, "GET /services/{id}/instances") for i in items]

    def logs_page(
        self,
        owner_id: str,
        resource: str,
        *,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        direction: str = "backward",
        level: list[str] | None = None,
        log_type: list[str] | None = None,
        text: list[str] | None = None,
        instance: list[str] | None = None,
        limit: int = PAGE_LIMIT,
    ) -> LogPage:
        params: dict[str, Any] = {
            "ownerId": owner_id,
            "resource": [resource],
            "startTime": start_time.isoformat() if start_time else None,
            "endTime": end_time.isoformat() if end_time else None,
            "direction": direction,
            "level": level,
            "type": log_type,
            "text": text,
            "instance": instance,
            "limit": min(limit, PAGE_LIMIT),
        }
        return self._model(LogPage, self._get_json("/logs", params), "GET /logs")

    def iter_logs(
        self,
        owner_id: str,
        resource: str,
        *,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        direction: str = "forward",
        level: list[str] | None = None,
        log_type: list[str] | None = None,
        instance: list[str] | None = None,
        max_entries: int | None = None,
    ) -> Iterator[LogEntry]:
        """All log entries in the window, following hasMore/nextStartTime/nextEndTime."""
        seen = 0
        while True:
            page = self.logs_page(
                owner_id,
                resource,
                start_time=start_time,
                end_time=end_time,
                direction=direction,
                level=level,
                log_type=log_type,
                instance=instance,
            )
            for entry in page.logs:
                yield entry
                seen += 1
                if max_entries is not None and seen >= max_entries:
                    return
            if not page.has_more or (page.next_start_time is None and page.next_end_time is None):
                return
            if (page.next_start_time, page.next_end_time) == (start_time, end_time):
                return  # no progress: stop rather than loop forever
            start_time, end_time = page.next_start_time, page.next_end_time

    # --- postgres --------------------------------------------------------------------

    def list_postgres(self, name: str | None = None) -> list[Postgres]:
        params = {"name": name} if name else None
        return list(self._paginate("/postgres", "postgres", Postgres, params))

    def get_postgres(self, postgres_id: str) -> Postgres:
        data = self._get_json(f"/postgres/{postgres_id}", what=f"postgres {postgres_id}")
        return self._model(Postgres, data, "GET /postgres/{id}")

    def resolve_postgres(self, name_or_id: str) -> Postgres:
        if POSTGRES_ID.match(name_or_id):
            return self.get_postgres(name_or_id)
        matches = [p for p in self.list_postgres(name=name_or_id) if p.name == name_or_id]
        if not matches:
            raise NotFoundError(
                f"no Render Postgres named {name_or_id!r}",
                "Check the name, or pass the dpg-… id",
            )
        if len(matches) > 1:
            raise UsageError(
                f"the name {name_or_id!r} matches {len(matches)} databases",
                "Pass the dpg-… id instead",
            )
        return matches[0]

    def postgres_connection_info(self, postgres_id: str) -> PostgresConnectionInfo:
        data = self._get_json(
            f"/postgres/{postgres_id}/connection-info", what=f"postgres {postgres_id}"
        )
        return self._model(PostgresConnectionInfo, data, "GET connection-info")
