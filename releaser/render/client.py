"""RenderClient: the one place that talks HTTP to Render.

It returns typed models, pages through lists, retries reads (connection errors, 429, 5xx)
with exponential backoff and jitter, and never retries a write blindly: a write that may or
may not have happened raises WriteOutcomeUnknown so the caller can look before trying again.
"""

from __future__ import annotations

import difflib
import os
import random
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from releaser import __version__, timebase
from releaser.errors import (
    ApiError,
    EnvironmentProblem,
    NotFoundError,
    RequestRejected,
    UsageError,
    WriteOutcomeUnknown,
)
from releaser.redaction import redact
from releaser.render.models import (
    Deploy,
    EnvGroup,
    EnvVar,
    Event,
    Instance,
    Job,
    LogEntry,
    LogPage,
    Postgres,
    PostgresConnectionInfo,
    PostgresExport,
    RecoveryInfo,
    Service,
)

DEFAULT_API_URL = "https://api.render.com/v1"
PAGE_LIMIT = 100  # Render's maximum for list endpoints and /logs
SERVICE_ID = re.compile(r"^(srv|crn)-[a-z0-9]+$")
POSTGRES_ID = re.compile(r"^dpg-[a-z0-9-]+$")
DEPLOY_ID = re.compile(r"^dep-[a-z0-9]+$")

M = TypeVar("M", bound=BaseModel)


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


def _is_http_url(url: str) -> bool:
    """A URL httpx can use: scheme, a valid host, a port in range, no spaces or odd bytes."""
    if not re.match(r"^https?://[^\s/]+", url) or any(c.isspace() for c in url):
        return False
    try:
        parsed = httpx.URL(url)
        port = parsed.port
    except (httpx.InvalidURL, ValueError, UnicodeError):
        return False
    return bool(parsed.host) and (port is None or 0 < port < 65536)


def _error_message(response: httpx.Response) -> str:
    """Render's own words about an error, safe to print (it may echo what we sent)."""
    try:
        body = response.json()
    except ValueError:
        return redact(response.text.strip()[:200])
    if isinstance(body, dict):
        return redact(str(body.get("message") or body.get("error") or "").strip())
    return ""


def check_api_key(key: str) -> None:
    """An API key is one token of printable ASCII; anything else is refused, never shown.

    A newline or a space inside would otherwise split the Authorization header (or be sent
    as part of it): a pasted key with its neighbour's text is a usage error, not a request.
    """
    if not re.fullmatch(r"[\x21-\x7e]+", key):
        raise UsageError(
            "RENDER_API_KEY is not one printable token (it contains a space, a newline or "
            "another non-printable character)",
            'Export the key alone, e.g. RENDER_API_KEY="$(cat key-file)"; nothing was sent',
        )


def check_api_url(url: str) -> None:
    """https anywhere; plain http only to this machine (the simulator), never the network.

    Over plain http the API key travels in cleartext to whoever is on the path.
    """
    from ipaddress import ip_address
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        parts, host = None, ""
    if parts is None or parts.scheme not in ("http", "https") or not host or not _is_http_url(url):
        raise UsageError(
            f"RENDER_API_URL {redact(url)!r} is not an http(s) URL",
            f"Set it to a URL like {DEFAULT_API_URL}, or unset it",
        )
    if parts.username or parts.password:
        raise UsageError(
            "RENDER_API_URL carries a user name or password",
            "Remove it: the API key in RENDER_API_KEY is the only credential sent",
        )
    if parts.scheme == "http":
        try:
            address = ip_address(host)
            # 0.0.0.0 and :: reach this machine too ('sim serve --host 0.0.0.0' prints them).
            loopback = address.is_loopback or address.is_unspecified
        except ValueError:
            loopback = host.lower() == "localhost"
        if not loopback:
            raise UsageError(
                f"RENDER_API_URL uses plain http:// to {host}, which would send the API key "
                "in cleartext",
                "Use https://, or http:// only to 127.0.0.1, ::1 or localhost (the simulator)",
            )


def _refuse_connection_string(name: str, what: str) -> None:
    """A URL or connection string where a name belongs is a mistake, and may hold a
    password: refused before it is sent to Render as a name, and never repeated."""
    if "://" in name or "@" in name or re.search(r"(?i)password\s*=", name):
        raise UsageError(
            f"{what} looks like a URL or connection string, not a Render name or id",
            "Pass the name or id ('releaser services' lists them); the value is not shown",
        )


def _incomplete(service_id: str, why: str) -> ApiError:
    return ApiError(
        f"the env var listing of {service_id} looks incomplete ({why})",
        "Nothing was written; try again, and report this if it persists",
    )


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
        sleep: Callable[[float], None] = timebase.sleep,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.on_retry = on_retry  # told before a long wait, or after a slow answer
        self.owner_id = owner_id
        self.retry = retry or RetryPolicy()
        self.request_count = 0
        self._diagnosed = False
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
        check_api_key(key)
        url = os.environ.get("RENDER_API_URL", "").strip() or DEFAULT_API_URL
        check_api_url(url)
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
        self._clock_offset = server - timebase.wall()

    def server_now(self) -> datetime:
        """Now on the API server's clock (second resolution; our clock before any call)."""
        return datetime.fromtimestamp(timebase.wall() + self._clock_offset, UTC)

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
            except httpx.InvalidURL:
                # A name or id typed by the user with characters no URL can carry.
                raise UsageError(
                    f"{what} cannot be asked for: it contains characters a URL cannot carry",
                    "Check the name or id ('releaser services', 'releaser history SERVICE')",
                ) from None
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
                    asked = _parse_retry_after(response, timebase.wall())
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
                wait = min(wait, self.retry.max_wait)
                # Never 78 silent seconds: say so when Render asks us to wait or was slow
                # (short jittered backoffs stay quiet; errors are one line).
                if self.on_retry is not None and (wait >= 5.0 or "Timeout" in last_problem):
                    self.on_retry(
                        f"{last_problem}; retrying in {wait:.0f}s "
                        f"(attempt {attempt + 2} of {self.retry.attempts})"
                    )
                self._sleep(wait)
        raise ApiError(
            f"{last_problem}; gave up after {self.retry.attempts} attempts",
            "Check RENDER_API_URL, your network and https://status.render.com, then retry",
        )

    def _client_error(
        self, response: httpx.Response, method: str, path: str, what: str
    ) -> ApiError | NotFoundError | UsageError:
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
            misconfigured = self._diagnose_not_found(path)
            if misconfigured is not None:
                return misconfigured
            return NotFoundError(
                f"{what} not found ({method} {path})",
                "Check the id or name; 'releaser services' lists what this key can see",
            )
        return RequestRejected(
            f"Render rejected {method} {path} ({answer})",
            "Fix the request as the message says",
            status=status,
        )

    def _diagnose_not_found(self, path: str) -> UsageError | None:
        """After a 404: is the thing missing, or are RENDER_API_URL / RENDER_OWNER_ID wrong?

        Any valid key can list its workspaces on the real API, so when GET /owners fails too
        the server is not the Render API (a URL without /v1, another service). Once only.
        """
        if path == "/owners" or self._diagnosed:
            return None
        self._diagnosed = True
        try:
            response = self._http.get("/owners", params={"limit": PAGE_LIMIT})
            owners = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            owners = None
        if not isinstance(owners, list):
            hint = (
                "Render's API is at https://api.render.com/v1: the URL must end in /v1"
                if not self.base_url.endswith("/v1")
                else f"Set it to {DEFAULT_API_URL}, or to what 'releaser sim serve' prints"
            )
            return UsageError(
                f"RENDER_API_URL {self.base_url} does not answer like the Render API "
                f"(404 on {path}, and GET /owners failed)",
                hint,
            )
        ids = [o.get("owner", o).get("id") for o in owners if isinstance(o, dict)]
        if self.owner_id and self.owner_id not in ids:
            return UsageError(
                f"RENDER_OWNER_ID {self.owner_id} is not a workspace this API key can see "
                f"(it sees {', '.join(str(i) for i in ids) or 'none'})",
                "Fix RENDER_OWNER_ID, or unset it to use the service's own workspace",
            )
        return None

    def _get_json(self, path: str, params: dict[str, Any] | None = None, what: str = "") -> Any:
        response = self.request("GET", path, params=params, what=what or path)
        try:
            return response.json()
        except ValueError:
            raise ApiError(
                f"Render answered GET {path} with something that is not JSON",
                f"Check RENDER_API_URL ({self.base_url}) points at the Render API, "
                f"e.g. {DEFAULT_API_URL}",
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
        _refuse_connection_string(name_or_id, "SERVICE")
        if SERVICE_ID.match(name_or_id):
            return self.get_service(name_or_id)
        matches = [s for s in self.list_services(name=name_or_id) if s.name == name_or_id]
        if not matches:
            # One more read, on the error path only, for a "did you mean".
            names = sorted({s.name for s in self.list_services() if s.name})
            close = difflib.get_close_matches(name_or_id, names, n=3, cutoff=0.6)
            raise NotFoundError(
                f"no service named {name_or_id!r}",
                f"Did you mean {' or '.join(repr(c) for c in close)}? "
                "'releaser services' lists names and ids"
                if close
                else "Run 'releaser services' to list names and ids",
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
        if self.owner_id and service.owner_id and self.owner_id != service.owner_id:
            raise UsageError(
                f"RENDER_OWNER_ID {self.owner_id} is not the workspace of {service.label} "
                f"({service.owner_id})",
                "Fix RENDER_OWNER_ID, or unset it to use the service's own workspace",
            )
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

    # --- one-off jobs ------------------------------------------------------------------

    def create_job(self, service_id: str, start_command: str) -> Job:
        response = self.request(
            "POST",
            f"/services/{service_id}/jobs",
            json={"startCommand": start_command},
            what=f"service {service_id}",
        )
        return self._model(Job, response.json(), "POST /services/{id}/jobs")

    def get_job(self, service_id: str, job_id: str) -> Job:
        data = self._get_json(f"/services/{service_id}/jobs/{job_id}", what=f"job {job_id}")
        return self._model(Job, data, "GET /services/{id}/jobs/{id}")

    # --- env vars and groups ---------------------------------------------------------

    def list_env_vars(self, service_id: str) -> list[EnvVar]:
        """Every variable set on the service, read to the end.

        A page shorter than asked for is not taken as the end: reading goes on from the last
        cursor until Render answers an empty page. A cursor that does not move on, a page
        without cursors or a key seen twice means the listing cannot be trusted: ApiError
        (exit 3), never a short list that a write could act on.
        """
        path = f"/services/{service_id}/env-vars"
        found: list[EnvVar] = []
        seen: set[str] = set()
        cursor: str | None = None
        while True:
            page = self._get_json(path, {"limit": PAGE_LIMIT, "cursor": cursor})
            if not isinstance(page, list):
                raise ApiError(f"unexpected response from {path}: not a list", "Report this")
            if not page:
                return found
            for item in page:
                var = self._model(
                    EnvVar, item.get("envVar", item) if isinstance(item, dict) else item, path
                )
                if var.key in seen:
                    raise _incomplete(service_id, f"{var.key} came back twice")
                seen.add(var.key)
                found.append(var)
            last = page[-1].get("cursor") if isinstance(page[-1], dict) else None
            if not last or last == cursor:
                raise _incomplete(service_id, "the listing's pages do not chain")
            cursor = last

    def set_env_var(self, service_id: str, key: str, value: str) -> EnvVar | None:
        """PUT one variable (added or replaced); no other variable is touched."""
        response = self.request(
            "PUT",
            f"/services/{service_id}/env-vars/{quote(key, safe='')}",
            json={"value": value},
            what=f"service {service_id}",
        )
        if not response.content:
            return None
        return self._model(EnvVar, response.json(), "PUT /services/{id}/env-vars/{key}")

    def delete_env_var(self, service_id: str, key: str) -> None:
        """DELETE one variable; no other variable is touched."""
        self.request(
            "DELETE",
            f"/services/{service_id}/env-vars/{quote(key, safe='')}",
            what=f"env var {key} of service {service_id}",
        )

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
        _refuse_connection_string(name_or_id, "the database")
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

    # --- postgres exports and point-in-time recovery -----------------------------------

    def list_exports(self, postgres_id: str) -> list[PostgresExport]:
        """A bare array (no cursor wrapper, no pagination), newest first or not."""
        data = self._get_json(f"/postgres/{postgres_id}/export", what=f"postgres {postgres_id}")
        if not isinstance(data, list):
            raise ApiError(f"unexpected response from GET exports of {postgres_id}", "Report this")
        return [
            self._model(PostgresExport, item, "GET /postgres/{id}/export")
            for item in data
            if isinstance(item, dict)
        ]

    def create_export(self, postgres_id: str) -> None:
        """202 with no body and no id: find the export by listing afterwards."""
        self.request("POST", f"/postgres/{postgres_id}/export", what=f"postgres {postgres_id}")

    def recovery_info(self, postgres_id: str) -> RecoveryInfo:
        data = self._get_json(f"/postgres/{postgres_id}/recovery", what=f"postgres {postgres_id}")
        return self._model(RecoveryInfo, data, "GET /postgres/{id}/recovery")

    def create_recovery(self, postgres_id: str, body: dict[str, Any]) -> Postgres:
        """Point-in-time recovery into a NEW (billed) instance, which the answer describes."""
        response = self.request(
            "POST", f"/postgres/{postgres_id}/recovery", json=body, what=f"postgres {postgres_id}"
        )
        try:
            data = response.json()
        except ValueError:
            raise WriteOutcomeUnknown(
                f"POST /postgres/{postgres_id}/recovery answered without JSON"
            ) from None
        return self._model(Postgres, data, "POST /postgres/{id}/recovery")

    def delete_postgres(self, postgres_id: str) -> None:
        self.request("DELETE", f"/postgres/{postgres_id}", what=f"postgres {postgres_id}")
