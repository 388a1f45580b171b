"""``/chat/completions`` with a virtual key: LiteLLM's auth checks in its order (blocked, model
access, expiry, key budget, then the budget of the key's team or, for a personal key, its
user), then an OpenAI-shaped answer whose cost is charged to the key, its user and team."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import datetime

from flask import Blueprint, Response, jsonify

from litellm_sim.auth import virtual_key
from litellm_sim.errors import SimError, proxy_error
from litellm_sim.records import now
from litellm_sim.spend import Usage, record_usage, request_cost
from litellm_sim.web import json_body, sim_state

MODEL_ACCESS_DENIED = (
    "The requested model '{model}' is not available for this API key, or the model name is "
    "invalid. Check the models available to you and try again."
)
_MASKED_KEY_NAME = re.compile(r"sk-\.\.\.(?:[^\s\x00-\x1f\x7f-\x9f]{4})?")
DEFAULT_COMPLETION_TOKENS = 16

blueprint = Blueprint("chat", __name__)


@blueprint.post("/chat/completions")
@blueprint.post("/v1/chat/completions")
def chat_completions() -> Response:
    body = json_body()
    model_name, messages = body.get("model"), body.get("messages")
    state = sim_state()
    with state.lock:
        key = virtual_key(state)
        if key is not None:
            _check_key_may_call(key, model_name, state.config.budget_exceeded_status)
            _check_owner_budgets(state, key)
        if not isinstance(model_name, str) or not isinstance(messages, list):
            raise proxy_error("Invalid request format: model and messages are required",
                              "invalid_request_error", None, 400)
        model = state.catalog.find(model_name)
        if model is None:
            raise proxy_error(str({"error": f"/chat/completions: Invalid model name passed in "
                                   f"model={model_name}. Call `/v1/models` to view available "
                                   "models for your key."}), "invalid_request_error", None, 400)
        usage = _usage(model, messages, body.get("max_tokens"))
        if key is not None:
            record_usage(state, key, model, now().date(), usage)
        if body.get("stream") is True:
            include_usage = (body.get("stream_options") or {}).get("include_usage") is True
            response = Response(_stream(model_name, usage, include_usage),
                                mimetype="text/event-stream")
        else:
            response = jsonify(_completion(model_name, usage))
        response.headers["x-litellm-response-cost"] = repr(usage.spend)
        response.headers["x-litellm-model-id"] = model["model_info"]["id"]
        return response


def _check_key_may_call(key: dict, model_name: object, budget_status: int) -> None:
    allowed = key["models"]
    if allowed and "all-proxy-models" not in allowed and model_name not in allowed:
        raise proxy_error(MODEL_ACCESS_DENIED.format(model=model_name),
                          "key_model_access_denied", "model", 403)
    if key["expires"]:
        expiry = datetime.fromisoformat(key["expires"])
        current = now()
        if expiry < current:
            raise proxy_error(f"Authentication Error - Expired Key. Key Expiry time {expiry} "
                              f"and current time {current}", "expired_key",
                              f"sk-...{key['token'][-4:]}", 401)
    if key["max_budget"] is not None and key["spend"] >= key["max_budget"]:
        raise _budget_exceeded(key, budget_status)


def _check_owner_budgets(state, key: dict) -> None:
    """LiteLLM's common checks: a team key is held to its team's budget, a personal key to its
    user's (``ExceededBudget`` messages of ``auth_checks.py``)."""
    status = state.config.budget_exceeded_status
    team = state.teams.get(key["team_id"] or "")
    if team is not None:
        if team["max_budget"] is not None and team["spend"] >= team["max_budget"]:
            raise proxy_error(f"ExceededBudget: Team={team['team_id']} over budget. Spend="
                              f"{team['spend']}, Budget={team['max_budget']}", "budget_exceeded",
                              None, status)
        return
    user = state.users.get(key["user_id"] or "")
    if user is not None and user["max_budget"] is not None and user["spend"] >= user[
            "max_budget"]:
        raise proxy_error(f"ExceededBudget: User={user['user_id']} over budget. Spend="
                          f"{user['spend']}, Budget={user['max_budget']}", "budget_exceeded",
                          None, status)


def _budget_exceeded(key: dict, status: int) -> SimError:
    label = key["key_alias"] or "key"
    masked = key["key_name"] and _MASKED_KEY_NAME.fullmatch(key["key_name"])
    descriptor = f"{label} ({key['key_name']})" if masked else label
    # litellm.budget_exceeded_status_code is 422 in 1.106 (the budget_exceeded_status knob).
    return proxy_error(f"Budget has been exceeded! Key={descriptor} Current cost: "
                       f"{key['spend']}, Max budget: {key['max_budget']}", "budget_exceeded",
                       None, status)


def _usage(model: dict, messages: list, max_tokens: int | None) -> Usage:
    text = " ".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))
    prompt_tokens = max(1, len(text) // 4) + 3 * len(messages)
    completion_tokens = min(max_tokens or DEFAULT_COMPLETION_TOKENS, DEFAULT_COMPLETION_TOKENS)
    cost = request_cost(model, prompt_tokens, completion_tokens)
    return Usage(prompt_tokens, completion_tokens, cost, True, 5)


def _completion(model_name: str, usage: Usage) -> dict:
    return {
        "id": f"chatcmpl-{uuid.uuid4()}", "created": int(time.time()), "model": model_name,
        "object": "chat.completion", "system_fingerprint": None,
        "choices": [{"finish_reason": "stop", "index": 0, "message": {
            "content": _answer(model_name), "role": "assistant",
            "tool_calls": None, "function_call": None}}],
        "usage": {"completion_tokens": usage.completion_tokens,
                  "prompt_tokens": usage.prompt_tokens,
                  "total_tokens": usage.prompt_tokens + usage.completion_tokens},
    }


def _stream(model_name: str, usage: Usage, include_usage: bool) -> Iterator[str]:
    """OpenAI's server-sent events as LiteLLM relays them: a role chunk, one chunk per word,
    a chunk with finish_reason, the usage chunk when asked for, then ``[DONE]``."""
    ident, created = f"chatcmpl-{uuid.uuid4()}", int(time.time())

    def chunk(delta: dict, finish: str | None = None, **extra) -> str:
        body = {"id": ident, "created": created, "model": model_name,
                "object": "chat.completion.chunk", "system_fingerprint": None,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(body)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    words = _answer(model_name).split(" ")
    for index, word in enumerate(words):
        yield chunk({"content": word if index == 0 else f" {word}"})
    yield chunk({}, "stop")
    if include_usage:
        body = json.loads(chunk({})[6:])
        body["choices"] = []
        body["usage"] = {"completion_tokens": usage.completion_tokens,
                         "prompt_tokens": usage.prompt_tokens,
                         "total_tokens": usage.prompt_tokens + usage.completion_tokens}
        yield f"data: {json.dumps(body)}\n\n"
    yield "data: [DONE]\n\n"


def _answer(model_name: str) -> str:
    return f"This is a simulated answer from {model_name}."
