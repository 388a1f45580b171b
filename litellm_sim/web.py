"""Request helpers shared by the simulator's routes."""

from __future__ import annotations

import re
from typing import Any

from flask import current_app, request

from litellm_sim.errors import SimError, validation_error, wrapped_http_error
from litellm_sim.state import SimState


def sim_state() -> SimState:
    return current_app.extensions["litellm_sim"]


def json_body() -> dict[str, Any]:
    """The JSON object sent, or FastAPI's 422 for anything else."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise validation_error(["body"], "Input should be a valid dictionary", "dict_type")
    return body


def query_int(name: str, default: int, minimum: int = 1, maximum: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise validation_error(["query", name], "Input should be a valid integer, unable to "
                               "parse string as an integer", "int_parsing") from None
    if value < minimum:
        raise validation_error(["query", name], f"Input should be greater than or equal to "
                               f"{minimum}", "greater_than_equal")
    if maximum is not None and value > maximum:
        raise validation_error(["query", name], f"Input should be less than or equal to "
                               f"{maximum}", "less_than_equal")
    return value


def query_bool(name: str, default: bool) -> bool:
    raw = request.args.get(name)
    return default if raw is None else raw.strip().lower() in ("1", "true", "yes", "on")


def string_list(body: dict[str, Any], name: str) -> list[str]:
    """A required list of strings in the body (FastAPI's 422 when missing or wrong)."""
    value = body.get(name)
    if name not in body:
        raise validation_error(["body", name], "Field required", "missing")
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise validation_error(["body", name], "Input should be a valid list", "list_type")
    return value


_BUDGET_DURATION = re.compile(r"^([1-9][0-9]*(s|m|h|d|w)|1mo)$")
_BUDGET_WORDS = ("hourly", "daily", "weekly", "monthly")


def check_budget_duration(body: dict[str, Any]) -> None:
    """LiteLLM 1.108.7 refuses a budget_duration it cannot reset on (``2mo``, ``0d``, ``1y``)."""
    value = body.get("budget_duration")
    if value is None:
        return
    if not isinstance(value, str) or not (value.strip().lower() in _BUDGET_WORDS
                                          or _BUDGET_DURATION.match(value)):
        raise wrapped_http_error(400, {"error": f"Invalid budget_duration {value!r}. Use a "
                                       "format like '1h', '24h', '7d', or '30d'."})


def answer_error(error: SimError):
    response = current_app.json.response(error.body)
    response.status_code = error.status
    response.headers.update(error.headers)
    return response
