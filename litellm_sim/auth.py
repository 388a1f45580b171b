"""Who is calling: the master key for admin routes, a virtual key for LLM routes, and what a
virtual key may do on admin routes. Messages and statuses are LiteLLM 1.108.7's
(``user_api_key_auth`` and ``RouteChecks.non_proxy_admin_allowed_routes_check``).

A virtual key acts with its user's ``user_role``: ``internal_user`` may call the key-management
routes itself (``/key/generate`` included); ``internal_user_viewer`` and users without a role
may not (401 "Only proxy admin can ..."). Read routes and the team routes LiteLLM lets every
role reach are answered by their handlers, which scope them to the caller (``caller()``).
"""

from __future__ import annotations

import hmac

from flask import g, request

from litellm_sim.errors import SimError, auth_error, proxy_error
from litellm_sim.records import token_of
from litellm_sim.state import SimState

INTERNAL_USER = "internal_user"
# What a non-admin key gets past the route check; the handler then scopes it to the caller.
SCOPED_READ_ROUTES = frozenset({"/key/info", "/key/list", "/user/info", "/team/info",
                                "/user/daily/activity", "/model/info", "/v1/model/info",
                                "/v1/models", "/models"})
TEAM_SELF_MANAGED_ROUTES = frozenset({"/team/update", "/team/member_add", "/team/member_delete"})
# LiteLLM's key_management_routes, open to internal_user (not to internal_user_viewer).
INTERNAL_USER_KEY_ROUTES = frozenset({"/key/generate", "/key/update", "/key/delete"})


def presented_key() -> str | None:
    """The key from ``x-litellm-api-key`` or ``Authorization: Bearer``; None when absent."""
    header = request.headers.get("x-litellm-api-key")
    if header:
        return header.removeprefix("Bearer ").strip()
    authorization = request.headers.get("Authorization")
    if authorization is None:
        return None
    if not authorization.startswith("Bearer "):
        raise auth_error("Malformed API Key passed in. Ensure Key has `Bearer ` prefix.")
    return authorization.removeprefix("Bearer ").strip()


def is_master(state: SimState, key: str) -> bool:
    return hmac.compare_digest(key.encode(), state.config.master_key.encode())


def require_master_key(state: SimState) -> None:
    key = presented_key()
    if key is None:
        raise auth_error("No api key passed in.")
    if not is_master(state, key):
        raise invalid_token(key)


def virtual_key(state: SimState) -> dict | None:
    """The live, unblocked key row for this request; None when the master key was used."""
    key = presented_key()
    if key is None:
        raise auth_error("No api key passed in.")
    if is_master(state, key):
        return None
    row = state.keys.get(token_of(key))
    if row is None:
        raise invalid_token(key)
    if row["blocked"] is True:
        raise auth_error("Key is blocked. Update via `/key/unblock` if you're an admin.")
    return row


def authorize_admin_route(state: SimState, path: str) -> None:
    """The master key passes; a virtual key passes where its user's role lets it (the row
    is then ``caller()``), else LiteLLM's 401 "Only proxy admin can ..."."""
    with state.lock:
        row = virtual_key(state)
        if row is None:
            return
        user = state.users.get(row["user_id"] or "")
        role = (user or {}).get("user_role")
        if (path in SCOPED_READ_ROUTES or path in TEAM_SELF_MANAGED_ROUTES
                or (role == INTERNAL_USER and path in INTERNAL_USER_KEY_ROUTES)):
            g.sim_caller = {**row, "user_role": role}
            return
        raise admin_only(path, user)


def caller() -> dict | None:
    """The virtual key (with its user's role) calling an admin route; None for the master key."""
    return g.get("sim_caller")


def admin_only(path: str, user: dict | None) -> SimError:
    role = (user or {}).get("user_role") or "unknown"
    user_id = (user or {}).get("user_id") or "unknown"
    return auth_error("Only proxy admin can be used to generate, delete, update info for new "
                      f"keys/users/teams. Route={path}. Your role={role}. "
                      f"Your user_id={_mask(user_id, 6, 2)}")


def forbidden(message: str) -> SimError:
    """A handler's refusal of a caller it let through (403, as LiteLLM's ProxyException)."""
    return proxy_error(message, "auth_error", "None", 403)


def invalid_token(key: str) -> SimError:
    if not key.startswith("sk-"):
        masked = f"{key[:4]}****{key[-4:]}" if len(key) > 8 else "****"
        return proxy_error(f"LiteLLM Virtual Key expected. Received={masked}, "
                           "expected to start with 'sk-'.", "auth_error", "None", 401)
    return proxy_error("Authentication Error, Invalid API key provided.",
                       "token_not_found_in_db", "key", 401)


def _mask(value: str, prefix: int, suffix: int) -> str:
    if len(value) <= prefix + suffix:
        return "*" * len(value)
    return f"{value[:prefix]}{'*' * (len(value) - prefix - suffix)}{value[-suffix:]}"
