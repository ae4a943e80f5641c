"""The HTTP layer every vendor client shares: calls through Airflow's ``HttpHook``
with the retry rules every integration needs, and the functions that read answers.

* 429: wait what ``Retry-After`` asks (capped), then retry;
* 5xx, connection errors, timeouts and garbled (non-JSON) bodies: retry with
  exponential backoff;
* any other 4xx: fail at once with the API's own error text, because retrying a
  request the API has refused only repeats the refusal.

A create without an idempotency key (Jira's ``POST /issue``) is never re-sent
blindly: when its answer is lost (a timeout, a dropped connection, a 5xx from a
gateway, a cut-off body) the vendor may have committed it, so the client raises
at once (``ApiError.maybe_committed``) and the caller
(:mod:`include.onboarding.setup_steps`) looks the object up, for as long as
the vendor's search may lag behind, before it sends again.  Only
a 429, answered before the request reaches the vendor's application, or a
connection that was never made, is retried at once.

Tokens: if the Airflow connection has a password and no login, it is sent as
``Authorization: Bearer <password>`` (HubSpot private apps, Jira and SCIM tokens).

A vendor answer that parses but lacks a field its API documents (a create
without its id, a search without its result list) is not a success:
:func:`require_field` raises an :class:`ApiError` naming the field, so nobody
reads a ``KeyError`` in a task log.  Each vendor's client
(:class:`VendorClient`) owns its request and answer shapes; this module knows
none of them.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from include.onboarding.exceptions import ApiError as ApiError

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Outbound:
    """One request, as data: a create is built once, stored with its idempotency key and re-sent unchanged."""

    method: str
    endpoint: str
    json: Any = None
    form: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "endpoint": self.endpoint, "json": self.json, "form": self.form,
                "headers": self.headers}  # fmt: skip

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Outbound:
        return cls(raw["method"], raw["endpoint"], raw.get("json"), raw.get("form"), dict(raw.get("headers") or {}))


class Created(NamedTuple):
    """The object a create made or a look-up found: its id, and its URL where the vendor gives one."""

    id: str
    url: str | None = None


def dig(body: Any, path: str) -> Any:
    """The value at a dotted ``path`` (``meta.location``, ``issues.0.key``), or None where the path breaks off."""
    for part in path.split("."):
        if isinstance(body, dict):
            body = body.get(part)
        elif isinstance(body, list) and part.isdigit() and int(part) < len(body):
            body = body[int(part)]
        else:
            return None
    return body


def require_field(system: str, body: Any, path: str, *, where: str | None = None) -> Any:
    """The value at ``path``; an answer without it raises an :class:`ApiError` naming the field.

    Retryable: a vendor that answered half a document usually answers the whole
    one next time, and every create that reads an id is safe to retry (keyed,
    unique, or looked up first).
    """
    found = dig(body, path)
    if found is None or found == "":
        raise ApiError(system, f"{where or system} answered without {path!r}: {str(body)[:200]!r}", retryable=True)
    return found


def require_list(system: str, body: Any, path: str, *, where: str | None = None) -> list[Any]:
    """The list at ``path`` (empty is fine); anything else raises an :class:`ApiError` naming the field."""
    found = dig(body, path)
    if not isinstance(found, list):
        raise ApiError(
            system, f"{where or system} answered without a {path!r} list: {str(body)[:200]!r}", retryable=True
        )
    return found


def _error_text(response: requests.Response) -> str:
    """The API's own explanation, from whichever field the vendor uses."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or response.reason
    if isinstance(body, dict):
        for key in ("message", "detail", "error", "errorMessages", "errors"):
            value = body.get(key)
            if isinstance(value, dict) and "message" in value:  # Stripe: {"error": {"message": ...}}
                return str(value["message"])
            if value:
                return str(value)
    return json.dumps(body)[:500]


def _retry_after_seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, moment.timestamp() - time.time())


def _never_connected(exc: requests.ConnectionError) -> bool:
    """Whether the connection failed before anything was sent (refused, unresolvable)."""
    from urllib3.exceptions import NewConnectionError

    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError) or isinstance(exc.args[0] if exc.args else None, NewConnectionError)


def _cause(exc: BaseException) -> str:
    text = str(exc)
    return f"{exc.__class__.__name__}: {text[:160]}" if text else exc.__class__.__name__


def bearer_header(conn: Any) -> dict[str, str]:
    """``Authorization: Bearer <password>`` for a connection with a token and no login (basic auth otherwise)."""
    return {"Authorization": f"Bearer {conn.password}"} if conn.password and not conn.login else {}


class ApiClient:
    """One external system behind one Airflow HTTP connection."""

    def __init__(
        self,
        conn_id: str,
        *,
        system: str,
        max_attempts: int = 6,
        max_retry_after: float = 120.0,
        timeout: float = 30.0,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.conn_id = conn_id
        self.system = system
        self.max_attempts = max_attempts
        self.max_retry_after = max_retry_after
        self.timeout = timeout
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._sleep = sleep
        self._auth_header: dict[str, str] | None = None

    # -- public -------------------------------------------------------------------------

    def request(
        self,
        method: str,
        endpoint: str,
        *,
        json_body: Any = None,
        form_body: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        ok_statuses: tuple[int, ...] = (),
        resend_safe: bool = True,
    ) -> ApiResponse:
        """Send one logical request, retrying transient failures.

        ``json_body`` is sent as JSON, ``form_body`` form-encoded (Stripe).
        Statuses in ``ok_statuses`` (for example 409 for "already exists") are
        returned to the caller instead of raised.  ``resend_safe=False`` (a
        create without an idempotency key) retries only failures that cannot
        have reached the vendor; the rest raise with ``maybe_committed`` set.
        """

        def should_retry(exc: BaseException) -> bool:
            if not isinstance(exc, ApiError) or not exc.retryable:
                return False
            return resend_safe or not exc.maybe_committed

        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=retry_if_exception(should_retry),
            before_sleep=self._log_retry,
            sleep=self._sleep,
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                return self._send(method, endpoint, json_body, form_body, params, headers, ok_statuses)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    def look_up_after(
        self,
        look_up: Callable[[], T | None],
        sent_at: float | None,
        search_lag: float,
        wall: Callable[[], float] = time.time,
    ) -> T | None:
        """Look an object up; after a create sent at ``sent_at`` (epoch seconds) whose answer was
        lost, keep looking until the vendor's search lag since that send has passed."""
        while True:
            found = look_up()
            if found is not None or sent_at is None:
                return found
            remaining = sent_at + search_lag - wall()
            if remaining <= 0:
                return None
            log.info("%s: not found yet; looking again (search may lag %.0fs behind a create)", self.system, search_lag)
            self._sleep(min(remaining, max(0.25, search_lag / 10)))

    def send(self, outbound: Outbound, *, ok_statuses: tuple[int, ...] = (), resend_safe: bool = True) -> ApiResponse:
        """Send a request built earlier (see :meth:`request` for the retry rules)."""
        return self.request(
            outbound.method,
            outbound.endpoint,
            json_body=outbound.json,
            form_body=outbound.form,
            headers=outbound.headers,
            ok_statuses=ok_statuses,
            resend_safe=resend_safe,
        )

    # -- internals ----------------------------------------------------------------------

    def _hook(self, method: str) -> Any:
        from airflow.providers.http.hooks.http import HttpHook

        return HttpHook(method=method, http_conn_id=self.conn_id)

    def _bearer(self, hook: Any) -> dict[str, str]:
        if self._auth_header is None:
            self._auth_header = bearer_header(hook.get_connection(self.conn_id))
        return self._auth_header

    def _send(
        self,
        method: str,
        endpoint: str,
        json_body: Any,
        form_body: Mapping[str, str] | None,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        ok_statuses: tuple[int, ...],
    ) -> ApiResponse:
        hook = self._hook(method)
        all_headers = {"Accept": "application/json", **self._bearer(hook), **(headers or {})}
        kwargs: dict[str, Any] = {}
        if json_body is not None:
            kwargs["json"] = json_body
        if params and method.upper() != "GET":
            kwargs["params"] = dict(params)
        where = f"{self.system} {method.upper()} {endpoint}"
        if method.upper() == "GET":
            data: Any = dict(params) if params else None
        else:
            data = dict(form_body) if form_body is not None else None
        try:
            response: requests.Response = hook.run(
                endpoint,
                data=data,
                headers=all_headers,
                extra_options={"check_response": False, "timeout": self.timeout},
                **kwargs,
            )
        except requests.ConnectTimeout as exc:
            raise ApiError(self.system, f"{where}: cannot connect within {self.timeout:g}s", retryable=True) from exc
        except requests.Timeout as exc:
            raise ApiError(
                self.system, f"{where}: no answer within {self.timeout:g}s", retryable=True, maybe_committed=True
            ) from exc
        except requests.ConnectionError as exc:
            sent = not _never_connected(exc)
            what = "connection lost before the answer" if sent else "cannot connect"
            raise ApiError(
                self.system, f"{where}: {what} ({_cause(exc)})", retryable=True, maybe_committed=sent
            ) from exc
        except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as exc:
            raise ApiError(
                self.system,
                f"{where}: the answer was cut off ({_cause(exc)})",
                retryable=True,
                maybe_committed=True,
            ) from exc

        status = response.status_code
        if status == 429:
            wait = _retry_after_seconds(response.headers.get("Retry-After"))
            raise ApiError(
                self.system,
                f"{where}: rate limited (429): {_error_text(response)}",
                status=status,
                retryable=True,
                retry_after=wait,
            )
        if status >= 500:
            raise ApiError(
                self.system,
                f"{where}: server error {status}: {_error_text(response)}",
                status=status,
                retryable=True,
                maybe_committed=True,
            )
        if status >= 400 and status not in ok_statuses:
            raise ApiError(self.system, f"{where}: refused with {status}: {_error_text(response)}", status=status)
        if not response.content:
            return ApiResponse(status, None, dict(response.headers))
        try:
            body = response.json()
        except ValueError as exc:
            snippet = response.text[:120].replace("\n", " ")
            raise ApiError(
                self.system,
                f"{where}: answered {status} with a body that is not valid JSON: {snippet!r}",
                status=status,
                retryable=True,
                maybe_committed=True,
            ) from exc
        return ApiResponse(status, body, dict(response.headers))

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, ApiError) and exc.retry_after is not None:
            return float(min(exc.retry_after, self.max_retry_after))
        backoff = self.backoff_base * (2 ** (state.attempt_number - 1))
        return float(min(self.backoff_max, backoff) * (0.8 + 0.4 * random.random()))

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0
        log.warning("%s (attempt %d of %d); retrying in %.1fs", exc, state.attempt_number, self.max_attempts, wait)


ClientFor = Callable[[str], ApiClient]
"""Returns the API client for an Airflow connection id."""


class VendorClient:
    """One vendor's API over an :class:`ApiClient`: its request and answer shapes, paging and errors.

    Subclasses build requests as :class:`Outbound` (so a create can be frozen
    with its key before it is sent), read answers with :meth:`require`, and
    look objects up.  ``search_lag_seconds`` is how long the vendor's search may
    not yet show an object just created: a create whose answer was lost is
    looked up for that long (:meth:`look_up_after`) before it is sent again.
    """

    def __init__(self, api: ApiClient, *, search_lag_seconds: float = 0.0):
        self.api = api
        self.search_lag_seconds = search_lag_seconds

    @property
    def system(self) -> str:
        return self.api.system

    def require(self, body: Any, path: str, *, where: str | None = None) -> Any:
        """The value at ``path`` of an answer, or an :class:`ApiError` naming what is missing."""
        return require_field(self.system, body, path, where=where)

    def look_up_after(
        self, look_up: Callable[[], T | None], *, sent_at: float | None, wall: Callable[[], float] = time.time
    ) -> T | None:
        """``look_up()``, repeated until this vendor's search lag since ``sent_at`` has passed (see ApiClient)."""
        return self.api.look_up_after(look_up, sent_at, self.search_lag_seconds, wall)
