"""Who is calling: the master key for admin routes, a virtual key for LLM routes. Messages are
LiteLLM's (``user_api_key_auth``), including its echo of the key hash."""

from __future__ import annotations

import hmac

from flask import request

from litellm_sim.errors import SimError, auth_error
from litellm_sim.records import abbreviate, token_of
from litellm_sim.state import SimState


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


def invalid_token(key: str) -> SimError:
    return auth_error(
        f"Invalid proxy server token passed. Received API Key = {abbreviate(key)}, "
        f"Key Hash (Token) ={token_of(key)}. Unable to find token in cache or "
        "`LiteLLM_VerificationTokenTable`"
    )
