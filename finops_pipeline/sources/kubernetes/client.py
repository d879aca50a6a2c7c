"""HTTP client for the OpenCost allocation API: one UTC day per request, retries on 5xx, no secrets in messages.

Query (OpenCost `/allocation`, see `data/opencost/swagger.json` for `/allocation/compute` and reference §1.7,
§1.9): `window=<start RFC3339>,<end RFC3339>` (one UTC day, `[00:00Z, next 00:00Z)`), `aggregate`,
`accumulate=false`, `step=1d`, and `resolution` only when given.

`aggregate` defaults to `cluster,node,namespace,pod,container` — OpenCost's own default key, one allocation per
container of each pod, with every property (node, providerID, controller, labels) kept. `aggregate=container`
would *not* give container granularity: OpenCost keys that aggregation by the container *name* alone and merges
same-named containers across pods and namespaces (dropping the properties they do not share).

Authentication: headers are read from environment variables at request time — `bearer_token_env` names the
variable holding a bearer token, `headers_from_env` maps header name → variable name (e.g. a tenant header of a
multi-tenant Prometheus proxy). Values never appear in logs or error messages; errors carry the URL (which holds
no credential) and the HTTP status.
"""

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from typing import Any
from urllib.parse import urlencode

import requests

logger = logging.getLogger(__name__)

DEFAULT_AGGREGATE = "cluster,node,namespace,pod,container"
RETRYABLE_STATUS = frozenset({500, 502, 503, 504})


class OpenCostApiError(RuntimeError):
    """The OpenCost API could not be read: says which URL, and the HTTP status when there was one."""

    def __init__(self, url: str, message: str, *, status: int | None = None):
        self.url, self.status = url, status
        super().__init__(f"{url}: {message}" + (f" (HTTP {status})" if status is not None else ""))


class OpenCostClient:
    def __init__(
        self,
        base_url: str,
        timeout: float = 120.0,
        headers_from_env: Mapping[str, str] | None = None,
        *,
        bearer_token_env: str | None = None,
        allocation_path: str = "/allocation",
        max_attempts: int = 5,
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 60.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        """`base_url` e.g. `http://opencost.opencost:9003` (the API port; the UI proxies it under `…:9090/model`).

        `allocation_path` is `/allocation`; the older API documented in `swagger.json` has `/allocation/compute`
        with the same parameters and response.
        Retries: up to `max_attempts` tries on connection errors, timeouts and HTTP 500/502/503/504, waiting
        `backoff_seconds * 2**attempt` (or the server's `Retry-After` seconds), at most `max_backoff_seconds`.
        """
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.headers_from_env = dict(headers_from_env or {})
        self.bearer_token_env = bearer_token_env
        self.allocation_path = "/" + allocation_path.strip("/")
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self._session = session or requests.Session()
        self._sleep = sleep

    def allocation_url(
        self,
        day: date,
        *,
        aggregate: str = DEFAULT_AGGREGATE,
        step: str = "1d",
        resolution: str | None = None,
        include_idle: bool | None = None,
    ) -> str:
        """The request URL for one UTC day (also what rows record as `x_SourceFile`)."""
        start = datetime.combine(day, dt_time(0), tzinfo=UTC)
        end = start + timedelta(days=1)
        params: dict[str, str] = {
            "window": f"{_rfc3339(start)},{_rfc3339(end)}",
            "aggregate": aggregate,
            "accumulate": "false",
            "step": step,
        }
        if resolution is not None:
            params["resolution"] = resolution
        if include_idle is not None:
            params["includeIdle"] = "true" if include_idle else "false"
        return f"{self.base_url}{self.allocation_path}?{urlencode(params, safe=',:')}"

    def fetch_allocation(
        self,
        day: date,
        *,
        aggregate: str = DEFAULT_AGGREGATE,
        step: str = "1d",
        resolution: str | None = None,
        include_idle: bool | None = None,
    ) -> dict[str, Any]:
        """The allocation response for one UTC day, as parsed JSON (`{"code": 200, "data": [...]}`)."""
        url = self.allocation_url(day, aggregate=aggregate, step=step, resolution=resolution, include_idle=include_idle)
        return self._get_json(url)

    def iter_allocations(self, days: Iterable[date], **query: Any) -> Iterator[tuple[date, str, dict[str, Any]]]:
        """(day, url, payload) for each day, one request per day (paging by day keeps responses bounded)."""
        for day in days:
            url = self.allocation_url(day, **query)
            yield day, url, self._get_json(url)

    # ------------------------------------------------------------------------------------------------------

    def _headers(self, url: str) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        for header, variable in self.headers_from_env.items():
            headers[header] = _from_env(variable, header, url)
        if self.bearer_token_env:
            headers["Authorization"] = "Bearer " + _from_env(self.bearer_token_env, "Authorization", url)
        return headers

    def _get_json(self, url: str) -> dict[str, Any]:
        headers = self._headers(url)
        last_problem, last_status, last_retry_after = "no attempt made", None, None
        for attempt in range(self.max_attempts):
            if attempt:
                delay = self._delay(attempt, last_retry_after)
                logger.warning(
                    "OpenCost %s: %s; retry %d/%d in %.1fs", url, last_problem, attempt, self.max_attempts - 1, delay
                )
                self._sleep(delay)
            last_retry_after = None
            try:
                response = self._session.get(url, headers=headers, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as error:
                last_problem, last_status = f"{type(error).__name__}: {_first_line(error)}", None
                continue
            except requests.RequestException as error:
                raise OpenCostApiError(url, f"request failed: {type(error).__name__}") from error
            if response.status_code in RETRYABLE_STATUS:
                last_problem, last_status = f"server error: {_excerpt(response.text)}", response.status_code
                last_retry_after = response.headers.get("Retry-After")
                continue
            if response.status_code != 200:
                raise OpenCostApiError(url, f"request rejected: {_excerpt(response.text)}", status=response.status_code)
            return self._payload(url, response)
        raise OpenCostApiError(
            url, f"gave up after {self.max_attempts} attempts; last: {last_problem}", status=last_status
        )

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        delay = self.backoff_seconds * 2 ** (attempt - 1)
        if retry_after is not None:
            with contextlib.suppress(ValueError):  # an HTTP date instead of seconds: keep our own backoff
                delay = max(delay, float(retry_after))
        return min(delay, self.max_backoff_seconds)

    @staticmethod
    def _payload(url: str, response: requests.Response) -> dict[str, Any]:
        try:
            payload = response.json()
        except ValueError as error:
            raise OpenCostApiError(url, f"response is not JSON: {_excerpt(response.text)}", status=200) from error
        if not isinstance(payload, dict):
            raise OpenCostApiError(url, f"response is a JSON {type(payload).__name__}, not an object", status=200)
        code = payload.get("code", 200)
        if code != 200:
            raise OpenCostApiError(url, f"OpenCost answered code {code}: {payload.get('message', '')}", status=200)
        return payload


def _from_env(variable: str, header: str, url: str) -> str:
    value = os.environ.get(variable)
    if not value:
        raise OpenCostApiError(url, f"environment variable {variable} (for header {header}) is not set")
    return value


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _excerpt(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0][:300] if str(error) else ""
