"""``/team/*``: teams and their members, as LiteLLM 1.106 (adding a member upserts the user)."""

from __future__ import annotations

import math
import uuid

from flask import Blueprint, Response, jsonify, request

from litellm_sim.auth import caller, forbidden
from litellm_sim.errors import (
    NOT_PREMIUM,
    detail_error,
    missing_field,
    proxy_error,
    validation_error,
    wrapped_http_error,
)
from litellm_sim.records import (
    PROXY_ADMIN_NAME,
    TEAM_UPDATE_FIELDS,
    iso,
    member,
    new_team_row,
    new_user_row,
    now,
)
from litellm_sim.state import SimState
from litellm_sim.web import check_budget_duration, json_body, sim_state, string_list

blueprint = Blueprint("teams", __name__)


@blueprint.post("/team/new")
def new_team() -> Response:
    body = json_body()
    check_budget_duration(body)
    _check_budgets(body)
    state = sim_state()
    with state.lock:
        team_id = body.get("team_id") or str(uuid.uuid4())
        if team_id in state.teams:
            raise wrapped_http_error(400, {"error": f"Team id = {team_id} already exists. "
                                           "Please use a different team id."})
        members = [_member(item) for item in body.get("members_with_roles") or []]
        state.teams[team_id] = new_team_row({**body, "team_id": team_id,
                                             "members_with_roles": []})
        for item in members:
            add_member(state, team_id, item["user_id"], item["user_email"], item["role"])
        # LiteLLM adds the creator as a team admin: with the master key, the proxy admin
        state.teams[team_id]["members_with_roles"].append(member(PROXY_ADMIN_NAME, None, "admin"))
        return jsonify(state.teams[team_id])


@blueprint.post("/team/update")
def update_team() -> Response:
    body = json_body()
    if not body.get("team_id"):
        raise wrapped_http_error(400, {"error": "No team id passed in"})
    check_budget_duration(body)
    _check_budgets(body)
    state = sim_state()
    with state.lock:
        team = state.teams.get(body["team_id"])
        if team is None:
            raise wrapped_http_error(404, {"error": "Team not found, passed "
                                           f"team_id={body['team_id']}"})
        if not _caller_is_team_admin(team):
            raise proxy_error("You do not have access to this team", "internal_server_error",
                              None, 403)
        team.update({k: v for k, v in body.items() if k in TEAM_UPDATE_FIELDS},
                    updated_at=iso(now()))
        return jsonify({"team_id": team["team_id"], "data": team})


@blueprint.post("/team/delete")
def delete_teams() -> Response:
    team_ids = string_list(json_body(), "team_ids")
    state = sim_state()
    with state.lock:
        for team_id in team_ids:
            if team_id not in state.teams:
                raise detail_error(404, {"error": f"Team not found, passed team_id={team_id}"})
        for token in [t for t, row in state.keys.items() if row["team_id"] in team_ids]:
            state.archive_key(token)
        for user in state.users.values():
            user["teams"] = [t for t in user["teams"] if t not in team_ids]
        for team_id in team_ids:
            del state.teams[team_id]
    return jsonify({"deleted_teams": team_ids})


@blueprint.get("/team/info")
def team_info() -> Response:
    team_id = request.args.get("team_id")
    if not team_id:
        raise proxy_error(str({"message": "Malformed request. No team id passed in."}),
                          "auth_error", "None", 422)
    state = sim_state()
    with state.lock:
        team = state.teams.get(team_id)
        if team is None:
            raise proxy_error(str({"message": f"Team not found, passed team id: {team_id}."}),
                              "auth_error", "None", 404)
        who = caller()
        if who is not None and not _in_team(team, who["user_id"], None):
            raise forbidden(str({"error": f"User={who['user_id']} not authorized to access "
                                 f"this team={team_id}"}))
        keys = [row for row in state.keys.values() if row["team_id"] == team_id]
        return jsonify({"team_id": team_id, "team_info": team, "keys": keys,
                        "team_memberships": []})


@blueprint.post("/team/member_add")
def member_add() -> Response:
    body = json_body()
    team_id = _required(body, "team_id")
    raw = _required(body, "member")
    members = [_member(item) for item in (raw if isinstance(raw, list) else [raw])]
    state = sim_state()
    if not state.config.premium and any(m["role"] == "admin" for m in members):
        raise detail_error(400, {"error": f"Assigning team admins is a premium feature. "
                                 f"{NOT_PREMIUM}"})
    with state.lock:
        team = state.teams.get(team_id)
        if team is None:
            raise detail_error(404, {"error": f"Team not found for team_id={team_id}"})
        _require_team_admin(team, "/team/member_add")
        fresh = [m for m in members if not _in_team(team, m["user_id"], m["user_email"])]
        if not fresh:
            raise _already_in_team(team, members, single=not isinstance(raw, list))
        users = [add_member(state, team_id, m["user_id"], m["user_email"], m["role"])
                 for m in fresh]
        return jsonify({**team, "updated_users": users, "updated_team_memberships": []})


@blueprint.post("/team/member_delete")
def member_delete() -> Response:
    body = json_body()
    team_id = _required(body, "team_id")
    user_id, email = body.get("user_id"), body.get("user_email")
    if user_id is None and email is None:
        raise validation_error(["body"], "Value error, Either user id or user email must be "
                               "provided", "value_error")
    state = sim_state()
    with state.lock:
        team = state.teams.get(team_id)
        if team is None:
            raise detail_error(400, {"error": f"Team id={team_id} does not exist in db"})
        _require_team_admin(team, "/team/member_delete")
        if not _in_team(team, user_id, email):
            raise detail_error(400, {"error": "User not found in team"})
        removed = [m for m in team["members_with_roles"] if _matches(m, user_id, email)]
        team["members_with_roles"] = [m for m in team["members_with_roles"] if m not in removed]
        for gone in removed:
            user = state.users.get(gone["user_id"] or "")
            if user is not None:
                user["teams"] = [t for t in user["teams"] if t != team_id]
        team["updated_at"] = iso(now())
        return jsonify(team)


def add_member(state: SimState, team_id: str, user_id: str | None, email: str | None,
               role: str) -> dict:
    """Put a user in a team (creating the user, as LiteLLM does); returns the user row."""
    user = _find_user(state, user_id, email)
    if user is None:
        user = new_user_row({"user_id": user_id or str(uuid.uuid4()), "user_email": email})
        state.users[user["user_id"]] = user
    if team_id not in user["teams"]:
        user["teams"].append(team_id)
    team = state.teams[team_id]
    if not _in_team(team, user["user_id"], user["user_email"]):
        team["members_with_roles"].append(member(user["user_id"], user["user_email"], role))
    return user


def _caller_is_team_admin(team: dict) -> bool:
    who = caller()
    return who is None or any(m["user_id"] == who["user_id"] and m["role"] == "admin"
                              for m in team["members_with_roles"])


def _require_team_admin(team: dict, route: str) -> None:
    if not _caller_is_team_admin(team):
        raise detail_error(403, {"error": "Call not allowed. User not proxy admin OR team admin. "
                                 f"route={route}, team_id={team['team_id']}"})


def _find_user(state: SimState, user_id: str | None, email: str | None) -> dict | None:
    if user_id is not None:
        return state.users.get(user_id)
    return next((u for u in state.users.values() if u["user_email"] == email), None)


def _in_team(team: dict, user_id: str | None, email: str | None) -> bool:
    return any(_matches(m, user_id, email) for m in team["members_with_roles"])


def _matches(entry: dict, user_id: str | None, email: str | None) -> bool:
    return (user_id is not None and entry["user_id"] == user_id) or (
        email is not None and entry["user_email"] == email)


def _member(item: object) -> dict:
    if not isinstance(item, dict) or (item.get("user_id") is None
                                      and item.get("user_email") is None):
        raise validation_error(["body", "member"], "Value error, Either user id or user email "
                               "must be provided", "value_error")
    if item.get("role") not in ("admin", "user"):
        raise validation_error(["body", "member", "role"], "Input should be 'admin' or 'user'",
                               "literal_error")
    return member(item.get("user_id"), item.get("user_email"), item["role"])


def _already_in_team(team: dict, members: list[dict], single: bool) -> Exception:
    existing = "[" + ", ".join(
        f"Member(user_id={m['user_id']!r}, user_email={m['user_email']!r}, role={m['role']!r})"
        for m in team["members_with_roles"]) + "]"
    if single:
        first = members[0]
        message = (f"User already in team. Member: user_id={first['user_id']}, "
                   f"user_email={first['user_email']}. Existing members={existing}")
    else:
        message = f"All users are already in team. Existing members={existing}"
    return proxy_error(message, "team_member_already_in_team", "member", 400)


def _required(body: dict, name: str) -> object:
    if body.get(name) is None:
        raise missing_field(name)
    return body[name]


def _check_budgets(body: dict) -> None:
    for name in ("max_budget", "soft_budget"):
        value = body.get(name)
        if value is not None and (not math.isfinite(value) or value < 0):
            raise wrapped_http_error(400, {"error": f"{name} must be a non-negative finite "
                                           f"number. Received: {value}"})
