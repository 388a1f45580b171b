"""LiteLLM's error bodies, built as LiteLLM 1.106 builds them (``ProxyException`` in
``litellm/proxy/_types.py``, ``handle_exception_on_proxy`` in ``litellm/proxy/utils.py``)."""

from __future__ import annotations

from typing import Any

NOT_PREMIUM = (
    "You must be a LiteLLM Enterprise user to use this feature. If you have a license please set "
    "`LITELLM_LICENSE` in your env. Get a 7 day trial key here: "
    "https://www.litellm.ai/enterprise#trial. \nPricing: https://www.litellm.ai/#pricing"
)


class SimError(Exception):
    """Raised by a route; the app answers ``body`` with ``status``."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def proxy_error(message: str, error_type: str, param: str | None, code: int) -> SimError:
    """A ProxyException: ``{"error": {message, type, param, code}}`` with code as a string."""
    body = {"error": {"message": message, "type": error_type, "param": param, "code": str(code)}}
    return SimError(code, body)


def wrapped_http_error(code: int, detail: Any) -> SimError:
    """An HTTPException that went through ``handle_exception_on_proxy`` (message = str(detail))."""
    return proxy_error(str(detail), "internal_server_error", None, code)


def detail_error(code: int, detail: Any) -> SimError:
    """An HTTPException FastAPI answered itself: ``{"detail": ...}``."""
    return SimError(code, {"detail": detail})


def validation_error(location: list[str | int], message: str, error_type: str) -> SimError:
    """FastAPI's 422 as LiteLLM trims it: type, loc and msg only."""
    return SimError(422, {"detail": [{"type": error_type, "loc": location, "msg": message}]})


def missing_field(name: str) -> SimError:
    return validation_error(["body", name], "Field required", "missing")


def auth_error(reason: str, param: str | None = "None") -> SimError:
    return proxy_error(f"Authentication Error, {reason}", "auth_error", param, 401)


def unhandled_error() -> SimError:
    """What LiteLLM answers for an exception nothing else caught."""
    return SimError(500, {"error": {"message": "Internal server error",
                                    "type": "internal_server_error"}})
