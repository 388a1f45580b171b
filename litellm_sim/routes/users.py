"""``/user/*``: internal users, as LiteLLM 1.106 (``/user/update`` upserts; ``/user/delete``
answers the number of users deleted and drops their keys)."""

from __future__ import annotations

import secrets
import uuid

from flask import Blueprint, Response, jsonify, request

from litellm_sim.auth import caller, forbidden
from litellm_sim.errors import detail_error, validation_error, wrapped_http_error
from litellm_sim.records import (
    GENERATE_RESPONSE_FIELDS,
    PROXY_ADMIN_NAME,
    USER_UPDATE_FIELDS,
    expires_for,
    iso,
    new_key_row,
    new_user_row,
    now,
)
from litellm_sim.routes.teams import add_member
from litellm_sim.state import SimState
from litellm_sim.web import check_budget_duration, json_body, sim_state, string_list

NEW_USER_RESPONSE_FIELDS = (*GENERATE_RESPONSE_FIELDS, "user_email", "user_role", "teams",
                            "user_alias")

blueprint = Blueprint("users", __name__)


@blueprint.post("/user/new")
def new_user() -> Response:
    body = json_body()
    check_budget_duration(body)
    state = sim_state()
    with state.lock:
        user_id = body.get("user_id") or str(uuid.uuid4())
        _ensure_new_user(state, user_id, body.get("user_email"))
        state.users[user_id] = new_user_row({**body, "user_id": user_id, "teams": []})
        for team_id in _team_ids(body.get("teams")):
            if team_id in state.teams:
                add_member(state, team_id, user_id, body.get("user_email"), "user")
        raw_key = _auto_key(state, body, user_id) if body.get("auto_create_key", True) else ""
        return jsonify(_new_user_response(body, state.users[user_id], raw_key))


@blueprint.get("/user/info")
def user_info() -> Response:
    user_id = request.args.get("user_id")
    who = caller()
    if who is not None:
        if user_id and user_id != who["user_id"]:
            raise forbidden(f"key not allowed to access this user's info. user_id={user_id}, "
                            f"key's user_id={who['user_id']}")
        user_id = who["user_id"]
    state = sim_state()
    with state.lock:
        user = state.users.get(user_id or "")
        if user is None:
            raise wrapped_http_error(404, f"User {user_id} not found")
        return jsonify({
            "user_id": user_id, "user_info": dict(user),
            "keys": [_with_team_alias(state, row) for row in state.keys.values()
                     if row["user_id"] == user_id],
            "teams": [state.teams[t] for t in user["teams"] if t in state.teams],
        })


@blueprint.post("/user/update")
def update_user() -> Response:
    body = json_body()
    if body.get("user_id") is None and body.get("user_email") is None:
        raise validation_error(["body"], "Value error, Either user id or user email must be "
                               "provided", "value_error")
    check_budget_duration(body)
    changes = {k: v for k, v in body.items() if k in USER_UPDATE_FIELDS}
    state = sim_state()
    with state.lock:
        user = _user_for_update(state, body)
        if user is None:
            user = new_user_row({**changes, "user_id": body.get("user_id") or str(uuid.uuid4())})
            state.users[user["user_id"]] = user
        else:
            user.update(changes, updated_at=iso(now()))
        return jsonify({"user_id": user["user_id"], "data": user})


@blueprint.post("/user/delete")
def delete_users() -> Response:
    user_ids = string_list(json_body(), "user_ids")
    state = sim_state()
    with state.lock:
        for user_id in user_ids:
            if user_id not in state.users:
                raise detail_error(404, {"error": f"User not found, passed user_id={user_id}"})
        for token in [t for t, row in state.keys.items() if row["user_id"] in user_ids]:
            del state.keys[token]
        for team in state.teams.values():
            team["members_with_roles"] = [m for m in team["members_with_roles"]
                                          if m["user_id"] not in user_ids]
        for user_id in user_ids:
            del state.users[user_id]
    return jsonify(len(user_ids))


def _ensure_new_user(state: SimState, user_id: str, email: str | None) -> None:
    if user_id in state.users:
        raise wrapped_http_error(409, {"error": f"User with id {user_id} already exists"})
    if email:
        for user in state.users.values():
            if (user["user_email"] or "").lower() == email.strip().lower():
                raise wrapped_http_error(
                    409, {"error": f"User with email {user['user_email']} already exists"})


def _user_for_update(state: SimState, body: dict) -> dict | None:
    if body.get("user_id"):
        return state.users.get(body["user_id"])
    email = body["user_email"].lower()
    return next((u for u in state.users.values() if (u["user_email"] or "").lower() == email),
                None)


def _team_ids(teams: list | None) -> list[str]:
    return [team if isinstance(team, str) else team.get("team_id") for team in teams or []]


def _auto_key(state: SimState, body: dict, user_id: str) -> str:
    """``/user/new`` makes a key for the user unless ``auto_create_key`` is false."""
    raw_key = f"sk-{secrets.token_urlsafe(16)}"
    key_fields = {k: body.get(k) for k in ("models", "duration", "metadata", "key_alias")}
    row = new_key_row({**key_fields, "user_id": user_id, "team_id": body.get("team_id")},
                      raw_key, created_by=PROXY_ADMIN_NAME)
    state.keys[row["token"]] = row
    return raw_key


def _new_user_response(body: dict, user: dict, raw_key: str) -> dict:
    source = {"models": [], "spend": 0, "metadata": {}, "allowed_cache_controls": [],
              "config": {}, "permissions": {}, "aliases": {}, "allowed_routes": [],
              **body, **user, "key": raw_key,
              "expires": expires_for(body.get("duration")) if raw_key else None}
    hidden = ("token", "token_id")  # LiteLLM leaves the hash out of /user/new answers
    return {name: None if name in hidden else source.get(name)
            for name in NEW_USER_RESPONSE_FIELDS}


def _with_team_alias(state: SimState, row: dict) -> dict:
    team = state.teams.get(row["team_id"] or "")
    alias = "None" if row["team_id"] is None else (team or {}).get("team_alias")
    return {**row, "team_alias": alias}
