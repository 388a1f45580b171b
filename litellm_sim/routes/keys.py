"""``/key/*``: virtual keys, stored by token (the SHA-256 of the raw key), as LiteLLM 1.106."""

from __future__ import annotations

import math
import re
import secrets

from flask import Blueprint, Response, jsonify, request

from litellm_sim.auth import caller, forbidden, presented_key
from litellm_sim.errors import (
    NOT_PREMIUM,
    SimError,
    proxy_error,
    validation_error,
    wrapped_http_error,
)
from litellm_sim.records import (
    MINIMUM_CUSTOM_KEY_LENGTH,
    PROXY_ADMIN_NAME,
    generate_key_response,
    iso,
    key_status,
    new_key_row,
    now,
    token_of,
    update_key_row,
)
from litellm_sim.state import SimState
from litellm_sim.web import (
    check_budget_duration,
    json_body,
    query_bool,
    query_int,
    sim_state,
    string_list,
)

_HASH = re.compile(r"[0-9a-f]{64}")

blueprint = Blueprint("keys", __name__)


@blueprint.post("/key/generate")
def generate() -> Response:
    body = json_body()
    state = sim_state()
    check_budget_duration(body)
    _check_max_budget(body.get("max_budget"))
    _check_enterprise_fields(body, state.config.premium)
    raw_key = body.get("key") or f"sk-{secrets.token_urlsafe(16)}"
    created_by = PROXY_ADMIN_NAME
    who = caller()
    if who is not None:  # an internal_user's own key minting another one, for itself
        body = {**body, "user_id": who["user_id"]}
        created_by = who["user_id"]
    with state.lock:
        _ensure_unique_alias(state, body.get("key_alias"), own_token=None)
        _check_custom_key(body.get("key"))
        row = new_key_row(body, raw_key, created_by=created_by)
        # LiteLLM upserts with an empty update: an existing token is left as it was.
        state.keys.setdefault(row["token"], row)
    return jsonify(generate_key_response(body, row, raw_key))


@blueprint.post("/key/update")
def update() -> Response:
    body = json_body()
    if body.get("key") is None and body.get("key_alias") is None:
        raise validation_error(["body"], "Value error, either key or key_alias must be provided",
                               "value_error")
    check_budget_duration(body)
    _check_max_budget(body.get("max_budget"))
    state = sim_state()
    with state.lock:
        row = _existing_key(state, body)
        _check_caller_may_update(row, body)
        if "key_alias" in body:
            _ensure_unique_alias(state, body["key_alias"], own_token=row["token"])
        update_key_row(row, body)
        return jsonify({"key": body.get("key") or row["token"], **row})


@blueprint.post("/key/delete")
def delete() -> Response:
    body = json_body()
    state = sim_state()
    with state.lock:
        if body.get("keys"):
            requested = string_list(body, "keys")
            tokens = [token_of(key) for key in requested]
        elif body.get("key_aliases"):
            requested = string_list(body, "key_aliases")
            tokens = [t for t, row in state.keys.items() if row["key_alias"] in requested]
        else:
            raise validation_error(["body"], "Value error, At least one of 'keys' or "
                                   "'key_aliases' must be provided.", "value_error")
        found = [token for token in tokens if token in state.keys
                 and _owned_by_caller(state.keys[token])]
        if not found:
            raise wrapped_http_error(404, {"error": "No keys found"})
        for token in found:
            state.archive_key(token)
    return jsonify({"deleted_keys": requested})


@blueprint.get("/key/info")
def info() -> Response:
    state = sim_state()
    key = request.args.get("key") or presented_key() or state.config.master_key
    with state.lock:
        token = token_of(key)
        row = state.keys.get(token) or state.deleted_keys.get(token)
        if row is None:
            raise proxy_error("Key not found in database", "not_found_error", "key", 404)
        if not _owned_by_caller(row):
            raise forbidden("You are not allowed to access this key's info. Your role="
                            f"{caller()['user_role']}")
        status = "deleted" if token not in state.keys else key_status(row)
        # /key/info answers the token row: no soft_budget (only /key/list joins it in, null)
        details = {name: value for name, value in row.items()
                   if name not in ("token", "soft_budget")}
        return jsonify({"key": key, "info": {**details, "status": status}})


@blueprint.get("/key/list")
def list_keys() -> Response:
    page, size = query_int("page", 1), query_int("size", 10, maximum=100)
    full = query_bool("return_full_object", False)
    filters = {name: request.args[arg] for name, arg in (
        ("user_id", "user_id"), ("team_id", "team_id"), ("key_alias", "key_alias"),
        ("token", "key_hash")) if request.args.get(arg)}
    if caller() is not None:  # a user's key lists that user's keys only
        filters["user_id"] = caller()["user_id"]
    state = sim_state()
    with state.lock:
        rows = [row for row in state.keys.values()
                if all(row.get(name) == value for name, value in filters.items())]
        rows.sort(key=lambda row: (row["created_at"], row["token"]), reverse=True)
        shown = rows[(page - 1) * size: page * size]
        return jsonify({
            "keys": [dict(row) if full else row["token"] for row in shown],
            "total_count": len(rows), "current_page": page,
            "total_pages": math.ceil(len(rows) / size),
        })


@blueprint.post("/key/block")
def block() -> Response:
    return _set_blocked(True)


@blueprint.post("/key/unblock")
def unblock() -> Response:
    return _set_blocked(False)


def _set_blocked(blocked: bool) -> Response:
    body = json_body()
    key = body.get("key")
    if not isinstance(key, str):
        raise validation_error(["body", "key"], "Field required", "missing")
    if not (key.startswith("sk-") or _HASH.fullmatch(key)):
        raise proxy_error("Invalid key format.", "bad_request_error", "key", 400)
    state = sim_state()
    with state.lock:
        row = state.keys.get(token_of(key))
        if row is None:
            raise proxy_error("Key not found.", "not_found_error", "key", 404)
        row.update(blocked=blocked, updated_at=iso(now()))
        return jsonify(row)


def _owned_by_caller(row: dict) -> bool:
    who = caller()
    return who is None or (who["user_id"] is not None and row.get("user_id") == who["user_id"])


def _check_caller_may_update(row: dict, body: dict) -> None:
    """An internal_user may edit its own keys, but not their budget or spend."""
    who = caller()
    if who is None:
        return
    if not _owned_by_caller(row):
        raise forbidden(f"{{'error': 'User={who['user_id']} not allowed to update this key'}}")
    if any(body.get(name) is not None for name in ("max_budget", "spend")):
        raise forbidden("{'error': 'Only proxy admins, team admins, or org admins can call "
                        f"/key/update (max_budget/spend). user_role={who['user_role']}, "
                        f"user_id={who['user_id']}'}}")


def _existing_key(state: SimState, body: dict) -> dict:
    if body.get("key") is not None:
        row = state.key_by(body["key"])
        if row is None:
            raise proxy_error("Key not found.", "not_found_error", "key", 404)
        return row
    alias = body["key_alias"]
    rows = [row for row in state.keys.values() if row["key_alias"] == alias]
    if not rows:
        raise proxy_error(f"Key not found. No key with key_alias='{alias}'.", "not_found_error",
                          "key_alias", 404)
    return rows[0]


def _ensure_unique_alias(state: SimState, alias: str | None, own_token: str | None) -> None:
    if alias is None:
        return
    if any(row["key_alias"] == alias and token != own_token for token, row in state.keys.items()):
        raise proxy_error(
            f"Key with alias '{alias}' already exists. Unique key aliases across all keys are "
            "required.", "bad_request_error", "key_alias", 400)


def _check_custom_key(key: str | None) -> None:
    if key is None:
        return
    if not key.startswith("sk-"):
        masked = f"{key[:4]}****{key[-4:]}" if len(key) > 8 else "****"
        raise wrapped_http_error(400, {"error": "Invalid key format. LiteLLM Virtual Key must "
                                       f"start with 'sk-'. Received: {masked}"})
    if len(key) < MINIMUM_CUSTOM_KEY_LENGTH:
        raise wrapped_http_error(400, {"error": "Invalid key format. LiteLLM Virtual Key must be "
                                       f"at least {MINIMUM_CUSTOM_KEY_LENGTH} characters long."})


def _check_max_budget(max_budget: float | None) -> None:
    if max_budget is not None and (not math.isfinite(max_budget) or max_budget < 0):
        raise wrapped_http_error(400, {"error": "max_budget must be a non-negative finite "
                                       f"number. Received: {max_budget}"})


def _check_enterprise_fields(body: dict, premium: bool) -> None:
    if premium:
        return
    if body.get("tags") is not None:
        raise _server_error(f"Only premium users can add tags to keys. {NOT_PREMIUM}")
    if body.get("model_max_budget"):
        raise _server_error(
            "Invalid model_max_budget: You must have an enterprise license to set "
            f"model_max_budget. {NOT_PREMIUM}. Example of valid model_max_budget: "
            "https://docs.litellm.ai/docs/proxy/users")


def _server_error(message: str) -> SimError:
    return proxy_error(message, "internal_server_error", None, 500)
