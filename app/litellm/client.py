"""The one HTTP client for LiteLLM's admin API (DESIGN §8).

One pooled ``requests.Session``. GETs are retried by urllib3 on connection errors and 502/503/504
with a small backoff; POSTs are retried only when the connection could not be opened (nothing was
sent). Everything else is left to the caller (Celery retries on ``LiteLLMError.retryable``).
Keys are sent to LiteLLM as their SHA-256 token wherever LiteLLM accepts one, so a raw key only
ever travels in the body of ``/key/generate``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import orjson
import requests
from requests.adapters import HTTPAdapter
from urllib3 import exceptions as urllib3_exceptions
from urllib3.util.retry import Retry

from app.litellm.errors import (
    LiteLLMInvalidResponse,
    LiteLLMUnavailable,
    error_for_status,
    redact,
)
from app.litellm.stream import MalformedBody, data_items

Timeout = float | tuple[float, float]
STREAM_CHUNK_BYTES = 1 << 20


def key_hash(raw_key: str) -> str:
    """The one key hash: LiteLLM's ``token`` for a key (the SHA-256 hex digest of the raw
    value), which is also LiteMaaS's ``api_keys.key_hash`` and the admin API keys' hash."""
    return hashlib.sha256(raw_key.encode()).hexdigest()


class LiteLLMClient:
    """The LiteLLM endpoints LiteMaaS uses; each method returns the parsed JSON answer."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout: Timeout = 10.0,
        retries: int = 2,
        pool_size: int = 10,
        on_call: Callable[[str, str, float, str], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._on_call = on_call  # (method, path, seconds, outcome) → metrics
        self._api_key = api_key
        self._timeout = timeout if isinstance(timeout, tuple) else (min(timeout, 5.0), timeout)
        self._session = _build_session(api_key, retries, pool_size)

    def __enter__(self) -> LiteLLMClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    hash_key = staticmethod(key_hash)

    # -- models and health -------------------------------------------------------------------

    def model_info(self) -> list[dict]:
        """``/model/info``'s entries, decoded as they arrive and without null fields (a
        10,000-model answer is ~70 MB: see ``app.litellm.stream``)."""
        return self._get_data_items("/model/info")

    def models(self) -> list[dict]:
        return _data_list(self._request("GET", "/v1/models"), "GET /v1/models")

    def health_liveliness(self) -> str:
        return _expect(self._request("GET", "/health/liveliness"), str, "GET /health/liveliness")

    def health_readiness(self) -> dict:
        return _expect(self._request("GET", "/health/readiness"), dict, "GET /health/readiness")

    # -- model management (LiteLLM needs STORE_MODEL_IN_DB=True) --------------------------------

    def model_new(self, model_name: str, litellm_params: dict[str, Any],
                  model_info: dict[str, Any]) -> dict:
        """``POST /model/new``: the stored row (``model_id`` is LiteLLM's id of the model)."""
        return self._post("/model/new", {"model_name": model_name,
                                         "litellm_params": litellm_params,
                                         "model_info": model_info})

    def model_patch(self, model_id: str, litellm_params: dict[str, Any] | None = None,
                    model_info: dict[str, Any] | None = None) -> dict:
        """``PATCH /model/{id}/update``: merges what is given into the stored model."""
        payload: dict[str, Any] = {}
        if litellm_params:
            payload["litellm_params"] = litellm_params
        if model_info:
            payload["model_info"] = model_info
        path = f"/model/{quote(model_id, safe='')}/update"
        return _expect(self._request("PATCH", path, json=payload), dict, "PATCH /model/update")

    def model_delete(self, model_id: str) -> dict:
        return self._post("/model/delete", {"id": model_id})

    def test_connection(self, litellm_params: dict[str, Any], mode: str = "chat",
                        timeout: float | None = None) -> dict:
        """``POST /health/test_connection``: LiteLLM calls the deployment once for real;
        ``{"status": "success"|"error", "result": {..., "error"}}``."""
        return _expect(self._request("POST", "/health/test_connection",
                                     json={"mode": mode, "litellm_params": litellm_params},
                                     timeout=timeout),
                       dict, "POST /health/test_connection")

    # -- keys -----------------------------------------------------------------------------------

    def key_generate(self, **payload: Any) -> dict:
        return self._post("/key/generate", payload)

    def key_update(self, **payload: Any) -> dict:
        if payload.get("key"):
            payload["key"] = _token(payload["key"])
        return self._post("/key/update", payload)

    def key_delete(self, keys: list[str]) -> dict:
        return self._post("/key/delete", {"keys": [_token(key) for key in keys]})

    def key_info(self, key: str) -> dict:
        return self._get("/key/info", {"key": _token(key)})

    def key_list(
        self,
        page: int = 1,
        size: int = 100,
        user_id: str | None = None,
        team_id: str | None = None,
        return_full_object: bool = True,
    ) -> dict:
        params = {"page": page, "size": size, "user_id": user_id, "team_id": team_id,
                  "return_full_object": return_full_object}
        return self._get("/key/list", params)

    def key_block(self, key: str) -> dict:
        return self._post("/key/block", {"key": _token(key)})

    def key_unblock(self, key: str) -> dict:
        return self._post("/key/unblock", {"key": _token(key)})

    # -- users ----------------------------------------------------------------------------------

    def user_new(self, **payload: Any) -> dict:
        return self._post("/user/new", payload)

    def user_info(self, user_id: str) -> dict:
        return self._get("/user/info", {"user_id": user_id})

    def user_update(self, **payload: Any) -> dict:
        return self._post("/user/update", payload)

    def user_delete(self, user_ids: list[str]) -> Any:
        """LiteLLM answers with the number of deleted users."""
        return self._request("POST", "/user/delete", json={"user_ids": list(user_ids)})

    # -- teams ----------------------------------------------------------------------------------

    def team_new(self, **payload: Any) -> dict:
        return self._post("/team/new", payload)

    def team_update(self, **payload: Any) -> dict:
        return self._post("/team/update", payload)

    def team_delete(self, team_ids: list[str]) -> dict:
        return self._post("/team/delete", {"team_ids": list(team_ids)})

    def team_info(self, team_id: str) -> dict:
        return self._get("/team/info", {"team_id": team_id})

    def team_member_add(self, team_id: str, member: dict) -> dict:
        return self._post("/team/member_add", {"team_id": team_id, "member": member})

    def team_member_delete(self, team_id: str, user_id: str) -> dict:
        return self._post("/team/member_delete", {"team_id": team_id, "user_id": user_id})

    # -- usage ----------------------------------------------------------------------------------

    def user_daily_activity(
        self,
        start_date: date | str,
        end_date: date | str,
        page: int = 1,
        page_size: int = 1000,
        user_id: str | None = None,
        api_key: str | None = None,
    ) -> dict:
        """One page of ``/user/daily/activity``; ``api_key`` is a raw key or its token."""
        params = {"start_date": _iso(start_date), "end_date": _iso(end_date), "page": page,
                  "page_size": page_size, "user_id": user_id,
                  "api_key": _token(api_key) if api_key else None}
        payload = self._get("/user/daily/activity", params)
        if not isinstance(payload.get("results"), list) or not isinstance(
            payload.get("metadata"), dict
        ):
            raise LiteLLMInvalidResponse("GET /user/daily/activity: no results/metadata", 200)
        return payload

    def iter_user_daily_activity(
        self,
        start_date: date | str,
        end_date: date | str,
        page_size: int = 1000,
        user_id: str | None = None,
        api_key: str | None = None,
    ) -> Iterator[dict]:
        """Yield every page, following ``metadata.has_more``.

        Totals in ``metadata`` are per page and one date may span two pages: sum, don't replace.
        """
        page = 1
        while True:
            payload = self.user_daily_activity(start_date, end_date, page, page_size,
                                               user_id, api_key)
            yield payload
            if not payload["metadata"].get("has_more"):
                return
            if not payload["results"]:
                raise LiteLLMInvalidResponse(f"daily activity page {page} is empty but has_more")
            page += 1

    # -- transport ------------------------------------------------------------------------------

    def _get(self, path: str, params: dict[str, Any]) -> dict:
        return _expect(self._request("GET", path, params=params), dict, f"GET {path}")

    def _post(self, path: str, payload: dict[str, Any]) -> dict:
        return _expect(self._request("POST", path, json=payload), dict, f"POST {path}")

    def _request(self, method: str, path: str, *, params: dict | None = None,
                 json: Any = None, timeout: float | None = None) -> Any:
        context = f"{method} {path}"
        started = time.perf_counter()
        outcome = "error"
        try:
            response = self._session.request(
                method, self.base_url + path, params=_query(params), json=json,
                timeout=timeout or self._timeout,
            )
            outcome = str(response.status_code)
        except requests.RequestException as exc:
            # No chaining: the cause's text holds the full URL, query string included.
            raise LiteLLMUnavailable(f"{context}: {_transport_failure(exc)}") from None
        finally:
            if self._on_call is not None:
                self._on_call(method, path, time.perf_counter() - started, outcome)
        return self._parse(response, context)

    def _get_data_items(self, path: str) -> list[dict]:
        """GET a ``{"data": [objects]}`` answer, streamed (same retries, errors and metrics
        as ``_request``; the latency observed includes reading the body)."""
        context = f"GET {path}"
        started = time.perf_counter()
        outcome = "error"
        try:
            try:
                response = self._session.get(self.base_url + path, timeout=self._timeout,
                                             stream=True)
            except requests.RequestException as exc:
                raise LiteLLMUnavailable(f"{context}: {_transport_failure(exc)}") from None
            with response:
                outcome = str(response.status_code)
                if response.status_code >= 400:
                    return self._parse(response, context)  # raises the typed error
                try:
                    return data_items(response.iter_content(STREAM_CHUNK_BYTES))
                except requests.RequestException as exc:
                    outcome = "error"
                    raise LiteLLMUnavailable(f"{context}: {_transport_failure(exc)}") from None
                except MalformedBody as exc:
                    message = redact(f"{context}: {exc}", (self._api_key,))
                    raise LiteLLMInvalidResponse(message, response.status_code) from None
        finally:
            if self._on_call is not None:
                self._on_call("GET", path, time.perf_counter() - started, outcome)

    def _parse(self, response: requests.Response, context: str) -> Any:
        if response.status_code >= 400:
            raise error_for_status(
                response.status_code, _body(response), context=context,
                retry_after=_retry_after(response.headers.get("Retry-After")),
                secrets=(self._api_key,),
            )
        try:
            # orjson: LiteLLM's activity pages are large, and the stdlib decoder took more time
            # than the rollup's own parsing of them.
            return orjson.loads(response.content)
        except ValueError:
            message = redact(f"{context}: answer is not JSON", (self._api_key,))
            raise LiteLLMInvalidResponse(message, response.status_code) from None


def _build_session(api_key: str | None, retries: int, pool_size: int) -> requests.Session:
    retry = Retry(
        total=retries, connect=retries, read=0, status=retries, other=0,
        allowed_methods=frozenset({"GET"}), status_forcelist=(502, 503, 504),
        backoff_factor=0.2, backoff_max=2.0, raise_on_status=False,
        respect_retry_after_header=True,
    )
    adapter = HTTPAdapter(pool_connections=2, pool_maxsize=pool_size, max_retries=retry)
    session = requests.Session()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["Accept"] = "application/json"
    if api_key:
        session.headers["Authorization"] = f"Bearer {api_key}"
    return session


def _transport_failure(exc: requests.RequestException) -> str:
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    if isinstance(exc, requests.Timeout) or isinstance(reason, urllib3_exceptions.TimeoutError):
        return "timed out"
    if isinstance(reason, urllib3_exceptions.NewConnectionError):
        return "connection refused"
    return f"connection failed ({type(reason or exc).__name__})"


def _token(key: str) -> str:
    return LiteLLMClient.hash_key(key) if key.startswith("sk-") else key


def _iso(value: date | str) -> str:
    return value.isoformat() if isinstance(value, date) else value


def _query(params: dict[str, Any] | None) -> dict[str, str] | None:
    if params is None:
        return None
    return {name: _query_value(value) for name, value in params.items() if value is not None}


def _query_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _body(response: requests.Response) -> Any:
    try:
        return orjson.loads(response.content)
    except ValueError:
        return response.text


def _retry_after(header: str | None) -> float | None:
    if not header:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _expect(payload: Any, kind: type, context: str) -> Any:
    if not isinstance(payload, kind):
        raise LiteLLMInvalidResponse(f"{context}: expected a JSON {kind.__name__}", 200)
    return payload


def _data_list(payload: Any, context: str) -> list[dict]:
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise LiteLLMInvalidResponse(f'{context}: expected {{"data": [objects]}}', 200)
    return data
