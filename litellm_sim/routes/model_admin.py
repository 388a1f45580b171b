"""Model management as LiteLLM 1.108.7 answers it with ``STORE_MODEL_IN_DB=True``:
``/model/new``, ``PATCH /model/{id}/update``, ``POST /model/update``, ``/model/delete``, and
``/health/test_connection`` (a real call to the deployment's ``api_base``).

Captured from the real proxy (``../shared/litellm-real``):

- ``/model/new`` answers 200 with the stored row: ``model_id`` (a uuid), ``model_name``,
  ``litellm_params`` with every string value encrypted (the provider key is never echoed in
  clear), ``model_info`` (``id`` = ``model_id``, ``db_model: true``), ``blocked``,
  ``created_at/by``, ``updated_at/by``. A second model with the same name is accepted (load
  balancing). ``/model/info`` then lists it with ``api_base`` in clear and no ``api_key``.
- Without ``STORE_MODEL_IN_DB``: 500 ``{"error": {"message": "{'error': \"Set
  `'STORE_MODEL_IN_DB='True'` in your env to enable this feature.\"}", "type": "auth_error"}}``.
- ``PATCH /model/{id}/update`` merges ``litellm_params`` and ``model_info``; an unknown id is
  404 ``not_found_error`` "Model X not found on proxy."; a model of the config file is 400
  "Cannot edit config-based model. Store model in DB via /model/new first.".
- ``/model/delete {"id"}`` answers ``{"message": "Model: <id> deleted successfully"}``; an id
  not in the database is 400 ``{'error': 'Model with id=<id> not found in db'}``.
- ``/health/test_connection {"mode", "litellm_params"}`` always answers 200 with
  ``{"status": "success"|"error", "result": {"model", "api_base", ["error"]}}``; the error is
  LiteLLM's exception text (``litellm.AuthenticationError: …``, ``litellm.BadRequestError: …
  Invalid model name …``, ``litellm.InternalServerError: … Connection error.``). A body without
  ``litellm_params.model`` is 500 ``{"detail": {"error": "Failed to test connection: 'model'"}}``.
"""

from __future__ import annotations

import base64
import os
import uuid
from typing import Any

import requests
from flask import Blueprint, Response, jsonify

from litellm_sim.errors import SimError, detail_error, proxy_error
from litellm_sim.records import now
from litellm_sim.web import json_body, sim_state

blueprint = Blueprint("model_admin", __name__)

STORE_MODEL_IN_DB_ERROR = "Set `'STORE_MODEL_IN_DB='True'` in your env to enable this feature."
TEST_TIMEOUT_SECONDS = 10.0
_PARAM_DEFAULTS = {"use_xai_oauth": False, "use_litellm_proxy": False,
                   "use_in_pass_through": False, "allow_client_keepalive_override": False,
                   "merge_reasoning_content_in_choices": False}


def _wrapped(message: Any, code: int) -> SimError:
    """An HTTPException re-raised by the model routes as a ProxyException (type auth_error)."""
    return proxy_error(str(message), "auth_error", "None", code)


def _require_db() -> None:
    if not sim_state().config.store_model_in_db:
        raise _wrapped({"error": STORE_MODEL_IN_DB_ERROR}, 500)


def _encrypted(value: Any) -> Any:
    """LiteLLM answers the stored row with string params encrypted (nacl + base64)."""
    if not isinstance(value, str):
        return value
    return base64.urlsafe_b64encode(os.urandom(24 + len(value))).decode()


def _row(entry: dict, secret_params: dict) -> dict:
    stamp = now().isoformat().replace("+00:00", "Z")
    params = {**entry["litellm_params"], **secret_params}
    return {
        "model_id": entry["model_info"]["id"], "model_name": entry["model_name"],
        "litellm_params": {key: _encrypted(value) for key, value in params.items()},
        "model_info": dict(entry["model_info"]), "blocked": False,
        "created_at": entry.get("_created_at", stamp), "created_by": "default_user_id",
        "updated_at": stamp, "updated_by": "default_user_id",
    }


def _split_secret(params: dict) -> tuple[dict, dict]:
    """(what /model/info shows, what it never shows: the provider key)."""
    public = {k: v for k, v in params.items() if k != "api_key"}
    secret = {k: v for k, v in params.items() if k == "api_key"}
    return public, secret


@blueprint.post("/model/new")
def model_new() -> Response:
    body = json_body()
    _require_db()
    name, params = body.get("model_name"), body.get("litellm_params")
    if not isinstance(name, str) or not isinstance(params, dict) or not isinstance(
            params.get("model"), str):
        raise SimError(500, {"error": {"message": "Internal server error",
                                       "type": "internal_server_error"}})
    info = body.get("model_info") if isinstance(body.get("model_info"), dict) else {}
    model_id = str(uuid.uuid4())
    public, secret = _split_secret(params)
    entry = {
        "model_name": name,
        "litellm_params": {**{k: v for k, v in public.items() if v is not None},
                           **_PARAM_DEFAULTS},
        "model_info": {**{k: v for k, v in info.items() if v is not None}, "id": model_id,
                       "db_model": True, "member_auto_router": False},
        "_secret": secret, "_created_at": now().isoformat().replace("+00:00", "Z"),
    }
    state = sim_state()
    with state.lock:
        state.catalog.add(entry)
    return jsonify(_row(entry, secret))


def _stored(model_id: str) -> dict:
    state = sim_state()
    model = state.catalog.by_id(model_id)
    if model is None:
        raise proxy_error(f"Model {model_id} not found on proxy.", "not_found_error", None, 404)
    if not model["model_info"].get("db_model"):
        raise proxy_error("Cannot edit config-based model. Store model in DB via /model/new "
                          "first.", "validation_error", None, 400)
    return model


def _merge(model: dict, body: dict) -> None:
    params = body.get("litellm_params")
    if isinstance(params, dict):
        public, secret = _split_secret({k: v for k, v in params.items() if v is not None})
        model["litellm_params"].update(public)
        model.setdefault("_secret", {}).update(secret)
    info = body.get("model_info")
    if isinstance(info, dict):
        model["model_info"].update({k: v for k, v in info.items()
                                    if v is not None and k not in ("id", "db_model")})
    if isinstance(body.get("model_name"), str):
        model["model_name"] = body["model_name"]


@blueprint.patch("/model/<model_id>/update")
def model_patch(model_id: str) -> Response:
    body = json_body()
    _require_db()
    return _update(model_id, body)


@blueprint.post("/model/update")
def model_update() -> Response:
    body = json_body()
    _require_db()
    info = body.get("model_info") if isinstance(body.get("model_info"), dict) else {}
    model_id = info.get("id")
    if not isinstance(model_id, str):
        raise _wrapped({"error": "No model id passed in model_info"}, 400)
    return _update(model_id, body)


def _update(model_id: str, body: dict) -> Response:
    """Both update routes: merge the body into the stored model, answer its row."""
    state = sim_state()
    with state.lock:
        model = _stored(model_id)
        _merge(model, body)
        state.catalog.changed()
        return jsonify(_row(model, model.get("_secret", {})))


@blueprint.post("/model/delete")
def model_delete() -> Response:
    body = json_body()
    model_id = body.get("id")
    if not isinstance(model_id, str):
        from litellm_sim.errors import missing_field

        raise missing_field("id")
    state = sim_state()
    with state.lock:
        model = state.catalog.by_id(model_id)
        if model is None or not model["model_info"].get("db_model"):
            raise _wrapped({"error": f"Model with id={model_id} not found in db"}, 400)
        _require_db()
        state.catalog.drop(model_id)
    return jsonify({"message": f"Model: {model_id} deleted successfully"})


@blueprint.post("/health/test_connection")
def test_connection() -> Response:
    body = json_body()
    params = body.get("litellm_params") if isinstance(body.get("litellm_params"), dict) else {}
    model = params.get("model")
    if not isinstance(model, str):
        raise detail_error(500, {"error": "Failed to test connection: 'model'"})
    api_base = params.get("api_base")
    result = {"model": model, "api_base": api_base}
    error = _probe(model, api_base, params.get("api_key"), body.get("mode") or "chat")
    if error is not None:
        result["error"] = error
    return jsonify({"status": "error" if error else "success", "result": result})


def _probe(model: str, api_base: Any, api_key: Any, mode: str) -> str | None:
    """What LiteLLM's health check does for an OpenAI-compatible deployment: one small real
    request to ``api_base``; None when it worked, else LiteLLM's exception text."""
    if not isinstance(api_base, str) or not api_base.startswith(("http://", "https://")):
        return ("litellm.BadRequestError: LLM Provider NOT provided. Pass in the LLM provider "
                f"you are trying to call. You passed model={model}")
    backend = model.partition("/")[2] or model
    path = "/embeddings" if mode == "embedding" else "/chat/completions"
    payload: dict[str, Any] = ({"model": backend, "input": ["test from litellm"]}
                               if mode == "embedding" else
                               {"model": backend, "max_tokens": 16,
                                "messages": [{"role": "user", "content": "What's 1 + 1?"}]})
    headers = {"Authorization": f"Bearer {api_key}"} if isinstance(api_key, str) else {}
    try:
        answer = requests.post(api_base.rstrip("/") + path, json=payload, headers=headers,
                               timeout=TEST_TIMEOUT_SECONDS)
    except requests.Timeout:
        return "litellm.Timeout: Connection timed out. Timeout passed=10.0, time taken=10.0 seconds"
    except requests.RequestException:
        return ("litellm.InternalServerError: InternalServerError: OpenAIException - "
                "Connection error.")
    if answer.status_code < 400:
        return None
    message = _upstream_message(answer)
    if answer.status_code == 401:
        return ("litellm.AuthenticationError: AuthenticationError: OpenAIException - "
                f"{message}")
    if answer.status_code == 404:
        return f"litellm.NotFoundError: NotFoundError: OpenAIException - {message}"
    if answer.status_code in (400, 422):
        return f"litellm.BadRequestError: OpenAIException - {message}"
    return (f"litellm.APIError: APIError: OpenAIException - Error code: {answer.status_code} "
            f"- {message}")


def _upstream_message(answer: requests.Response) -> str:
    try:
        body = answer.json()
    except ValueError:
        return answer.text[:200]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"]
    return str(body)[:200]
