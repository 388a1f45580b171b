"""Typed errors for calls to LiteLLM, built from the error bodies LiteLLM answers with.

LiteLLM answers errors in three shapes:
``{"error": {"message", "type", "param", "code"}}`` (ProxyException; the message is sometimes a
Python repr such as ``"{'error': 'No keys found'}"``), ``{"detail": "..."}`` or
``{"detail": {"error": "..."}}`` (a bare FastAPI HTTPException), and FastAPI's 422
``{"detail": [{"loc", "msg", "type"}]}``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

_SK_KEY = re.compile(r"sk-[A-Za-z0-9_-]+")
# LiteLLM answers 500 when a free proxy is asked for an Enterprise feature (tags,
# model_max_budget on keys): permanent, whatever the status says.
_ENTERPRISE_MARKERS = ("LiteLLM Enterprise user", "enterprise license")
REDACTED_KEY = "sk-\u2026"


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Hide every ``sk-`` key value and each given secret (e.g. a master key without the prefix)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED_KEY)
    return _SK_KEY.sub(REDACTED_KEY, text)


class LiteLLMError(Exception):
    """A failed LiteLLM call; ``retryable`` tells a task whether trying again can help."""

    retryable = False

    def __init__(
        self,
        message: str,
        status: int | None = None,
        *,
        error_type: str | None = None,
        param: str | None = None,
    ) -> None:
        self.message = redact(message)
        self.status = status
        self.error_type = error_type
        self.param = param
        super().__init__(self.message)


class LiteLLMUnavailable(LiteLLMError):
    """Connection refused or reset, timeout, or a 5xx answer."""

    retryable = True


class LiteLLMRateLimited(LiteLLMError):
    """429; ``retry_after`` is in seconds when LiteLLM said so."""

    retryable = True

    def __init__(self, message: str, status: int | None = 429, *,
                 retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, status, **kwargs)
        self.retry_after = retry_after


class LiteLLMNotFound(LiteLLMError):
    """404: the key, user or team does not exist in LiteLLM."""


class LiteLLMBadRequest(LiteLLMError):
    """400 or 422: LiteLLM refused the payload (including a budget-exceeded 422)."""


class LiteLLMConflict(LiteLLMBadRequest):
    """409: the object already exists (``/user/new`` with a known user_id or email)."""


class LiteLLMEnterpriseRequired(LiteLLMBadRequest):
    """The proxy has no Enterprise licence for a field that was sent; drop it and try again."""


class LiteLLMAuthError(LiteLLMError):
    """401 or 403: wrong master key, or a key that may not do this."""


class LiteLLMInvalidResponse(LiteLLMError):
    """The answer is not JSON, or not the shape the endpoint documents."""


@dataclass(frozen=True)
class ErrorBody:
    message: str
    error_type: str | None = None
    param: str | None = None


def parse_error_body(body: Any) -> ErrorBody:
    """Read message, type and param from any of LiteLLM's error shapes."""
    if isinstance(body, dict) and "error" in body:
        return _from_error_field(body["error"])
    if isinstance(body, dict) and "detail" in body:
        return ErrorBody(_detail_message(body["detail"]))
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return ErrorBody(body["message"])
    if isinstance(body, str) and body.strip():
        return ErrorBody(body.strip()[:300])
    return ErrorBody("no error message")


def _from_error_field(error: Any) -> ErrorBody:
    if not isinstance(error, dict):
        return ErrorBody(_unwrap_repr(str(error)))
    param = error.get("param")
    return ErrorBody(
        _unwrap_repr(str(error.get("message", ""))),
        error_type=error.get("type"),
        param=None if param in (None, "None") else str(param),
    )


def _detail_message(detail: Any) -> str:
    if isinstance(detail, list):
        return "; ".join(_validation_item(item) for item in detail) or "validation error"
    if isinstance(detail, dict):
        inner = detail.get("error", detail.get("message", detail))
        return inner if isinstance(inner, str) else str(inner)
    return str(detail)


def _validation_item(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    location = ".".join(str(part) for part in item.get("loc", ()))
    return f"{location}: {item.get('msg', '')}" if location else str(item.get("msg", ""))


def _unwrap_repr(message: str) -> str:
    """LiteLLM wraps HTTPException details with ``str(dict)``: keep the inner text only."""
    if not (message.startswith("{") and message.endswith("}")):
        return message
    try:
        value = ast.literal_eval(message)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return message
    if isinstance(value, dict):
        inner = value.get("error", value.get("message"))
        if isinstance(inner, str):
            return inner
    return message


def error_for_status(
    status: int,
    body: Any,
    *,
    context: str,
    retry_after: float | None = None,
    secrets: Iterable[str | None] = (),
) -> LiteLLMError:
    """The typed error for an HTTP error answer; ``context`` is e.g. ``"POST /key/generate"``."""
    parsed = parse_error_body(body)
    message = redact(f"{context} -> {status}: {parsed.message}", secrets)
    details = {"error_type": parsed.error_type, "param": parsed.param}
    if status == 429:
        return LiteLLMRateLimited(message, status, retry_after=retry_after, **details)
    if any(marker in parsed.message for marker in _ENTERPRISE_MARKERS):
        return LiteLLMEnterpriseRequired(message, status, **details)
    return _class_for_status(status)(message, status, **details)


def _class_for_status(status: int) -> type[LiteLLMError]:
    if status in (401, 403):
        return LiteLLMAuthError
    if status == 404:
        return LiteLLMNotFound
    if status == 409:
        return LiteLLMConflict
    if status in (400, 422):
        return LiteLLMBadRequest
    if status == 408 or status >= 500:
        return LiteLLMUnavailable
    return LiteLLMError
