"""Rows of LiteLLM's tables (LiteLLM_VerificationToken, LiteLLM_UserTable, LiteLLM_TeamTable) as
its admin endpoints return them, and the request fields each endpoint accepts."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

MINIMUM_CUSTOM_KEY_LENGTH = 16
PROXY_ADMIN_NAME = "default_user_id"  # LiteLLM's user_id for calls made with the master key

# Fields of GenerateRequestBase + KeyRequestBase, in declaration order (GenerateKeyResponse order).
KEY_REQUEST_FIELDS = (
    "key_alias", "duration", "models", "spend", "max_budget", "user_id", "team_id", "agent_id",
    "max_parallel_requests", "metadata", "tpm_limit", "rpm_limit", "budget_duration",
    "budget_limits", "allowed_cache_controls", "config", "permissions", "model_max_budget",
    "budget_fallbacks", "model_rpm_limit", "model_tpm_limit", "mcp_rpm_limit", "tag_rpm_limit",
    "guardrails", "policies", "prompts", "blocked", "aliases", "object_permission", "key",
    "tpd_limit", "default_estimated_output_tokens", "default_estimated_output_tokens_per_model",
    "budget_id", "end_user_budget_id", "tags", "disable_global_guardrails",
    "enable_prompt_caching", "throttle_on_budget_exceeded", "enforced_params", "allowed_routes",
    "allowed_passthrough_routes", "denied_passthrough_routes", "allowed_vector_store_indexes",
    "rpm_limit_type", "tpm_limit_type", "router_settings", "access_group_ids",
)
GENERATE_RESPONSE_FIELDS = (
    *KEY_REQUEST_FIELDS, "key_name", "key_type", "expires", "token_id", "organization_id",
    "project_id", "litellm_budget_table", "token", "created_by", "updated_by", "created_at",
    "updated_at",
)
_REQUEST_DEFAULTS = {
    "models": [], "spend": 0, "metadata": {}, "allowed_cache_controls": [], "config": {},
    "permissions": {}, "model_max_budget": {}, "aliases": {}, "allowed_routes": [],
    "key_type": "default",
}
# Request fields LiteLLM folds into the key's metadata instead of columns.
METADATA_FIELDS = ("model_rpm_limit", "model_tpm_limit", "mcp_rpm_limit", "tag_rpm_limit",
                   "guardrails", "policies", "prompts", "tags")
KEY_UPDATE_FIELDS = frozenset(KEY_REQUEST_FIELDS) | {"soft_budget", "spend"}

_KEY_COLUMNS: dict[str, Any] = {
    "token": None, "key_name": None, "key_alias": None, "soft_budget_cooldown": False,
    "spend": 0.0, "total_spend": 0.0, "expires": None, "models": [], "aliases": {}, "config": {},
    "router_settings": {}, "user_id": None, "team_id": None, "agent_id": None,
    "project_id": None, "permissions": {}, "max_parallel_requests": None, "metadata": {},
    "blocked": None, "tpm_limit": None, "rpm_limit": None, "tpd_limit": None,
    "max_budget": None, "soft_budget": None, "budget_duration": None, "budget_reset_at": None,
    "allowed_cache_controls": [], "allowed_routes": [], "key_type": "default", "policies": [],
    "access_group_ids": [], "model_spend": {}, "model_max_budget": {}, "budget_fallbacks": {},
    "budget_id": None, "organization_id": None, "object_permission_id": None,
    "created_at": None, "created_by": None, "updated_at": None, "updated_by": None,
    "settings_updated_at": None, "last_active": None, "rotation_count": 0,
    "auto_rotate": False, "rotation_interval": None, "last_rotation_at": None,
    "key_rotation_at": None, "budget_limits": None, "litellm_budget_table": None,
    "object_permission": None,
}
_USER_COLUMNS: dict[str, Any] = {
    "user_id": None, "user_alias": None, "team_id": None, "sso_user_id": None,
    "organization_id": None, "object_permission_id": None, "password_reset_required": None,
    "last_breach_check_at": None, "teams": [], "user_role": None, "max_budget": None,
    "spend": 0.0, "user_email": None, "models": [], "metadata": {},
    "max_parallel_requests": None, "tpm_limit": None, "rpm_limit": None,
    "budget_duration": None, "budget_reset_at": None, "allowed_cache_controls": [],
    "policies": [], "model_spend": {}, "model_max_budget": {}, "created_at": None,
    "updated_at": None, "object_permission": None,
}
_TEAM_COLUMNS: dict[str, Any] = {
    "team_id": None, "team_alias": None, "organization_id": None, "object_permission_id": None,
    "admins": [], "members": [], "members_with_roles": [], "metadata": {}, "max_budget": None,
    "soft_budget": None, "spend": 0.0, "models": [], "max_parallel_requests": None,
    "tpm_limit": None, "rpm_limit": None, "tpd_limit": None, "budget_duration": None,
    "budget_reset_at": None, "blocked": False, "created_at": None, "updated_at": None,
    "model_spend": {}, "model_max_budget": {}, "router_settings": {},
    "team_member_permissions": [], "access_group_ids": [], "policies": [],
    "default_team_member_models": [], "budget_limits": None, "model_id": None,
    "allow_team_guardrail_config": False, "litellm_model_table": None,
}
USER_UPDATE_FIELDS = frozenset(_USER_COLUMNS) - {"created_at", "updated_at", "object_permission"}
TEAM_UPDATE_FIELDS = frozenset(_TEAM_COLUMNS) - {"created_at", "updated_at", "team_id"}


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def token_of(key: str) -> str:
    """LiteLLM's ``hash_token_if_needed``: ``sk-`` keys are hashed, hashes pass through."""
    return hash_key(key) if key.startswith("sk-") else key


def abbreviate(raw_key: str) -> str:
    return "sk-..." if len(raw_key) < MINIMUM_CUSTOM_KEY_LENGTH else f"sk-...{raw_key[-4:]}"


def duration_seconds(duration: str) -> int:
    aliases = {"hourly": "1h", "daily": "24h", "weekly": "7d", "monthly": "30d"}
    match = re.match(r"(\d+)(mo|[smhdw]?)", aliases.get(duration.strip().lower(), duration))
    if not match:
        raise ValueError("Invalid duration format")
    value, unit = int(match.group(1)), match.group(2)
    scale = {"s": 1, "": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "mo": 2592000}
    return value * scale[unit]


def expires_for(duration: str | None) -> str | None:
    if duration is None or duration == "-1":
        return None
    return iso(now() + timedelta(seconds=duration_seconds(duration)))


def with_metadata_fields(metadata: dict | None, payload: dict) -> dict:
    folded = {name: payload[name] for name in METADATA_FIELDS if payload.get(name) is not None}
    return {**(metadata or {}), **folded}


def new_key_row(payload: dict, raw_key: str, created_by: str | None) -> dict:
    stamp = iso(now())
    row = {**_copy(_KEY_COLUMNS), **{k: v for k, v in payload.items() if k in _KEY_COLUMNS}}
    row.update(
        token=hash_key(raw_key), key_name=abbreviate(raw_key),
        expires=expires_for(payload.get("duration")), spend=float(payload.get("spend") or 0),
        metadata=with_metadata_fields(payload.get("metadata"), payload),
        budget_reset_at=_reset_at(payload.get("budget_duration")),
        created_at=stamp, updated_at=stamp, created_by=created_by, updated_by=created_by,
        # LiteLLM keeps soft_budget in the linked budget table; the key row's stays null.
        soft_budget=None, litellm_budget_table=_budget_table(payload.get("soft_budget")),
    )
    return row


def generate_key_response(payload: dict, row: dict, raw_key: str) -> dict:
    """GenerateKeyResponse: the request echoed, plus the stored key's identity and timestamps."""
    source = {**_REQUEST_DEFAULTS, **payload, **_identity(row), "key": raw_key}
    return {name: source.get(name) for name in GENERATE_RESPONSE_FIELDS}


def _identity(row: dict) -> dict:
    names = ("key_name", "expires", "metadata", "created_at", "updated_at", "created_by",
             "updated_by", "litellm_budget_table", "token")
    return {**{name: row[name] for name in names}, "token_id": row["token"]}


def update_key_row(row: dict, payload: dict) -> None:
    """Apply an UpdateKeyRequest: only fields LiteLLM declares; metadata is replaced, not merged."""
    changes = {k: v for k, v in payload.items() if k in KEY_UPDATE_FIELDS and k != "key"}
    if "duration" in changes:
        row["expires"] = expires_for(changes.pop("duration"))
    if "budget_duration" in changes:
        row["budget_reset_at"] = _reset_at(changes["budget_duration"])
    if "soft_budget" in changes:
        row["litellm_budget_table"] = _budget_table(changes.pop("soft_budget"))
    if any(name in changes for name in (*METADATA_FIELDS, "metadata")):
        changes["metadata"] = with_metadata_fields(changes.get("metadata", row["metadata"]),
                                                   changes)
    row.update({k: v for k, v in changes.items() if k in _KEY_COLUMNS})
    row["updated_at"] = iso(now())


def deleted_key_row(row: dict) -> dict:
    """A LiteLLM_DeletedVerificationToken row: the key as it was, plus who deleted it when."""
    return {**row, "deleted_at": iso(now()), "deleted_by": PROXY_ADMIN_NAME}


def key_status(row: dict) -> str:
    if row.get("blocked") is True:
        return "revoked"
    expires = row.get("expires")
    return "expired" if expires and datetime.fromisoformat(expires) < now() else "active"


def new_user_row(payload: dict) -> dict:
    stamp = iso(now())
    row = {**_copy(_USER_COLUMNS), **{k: v for k, v in payload.items() if k in _USER_COLUMNS}}
    row.update(spend=float(row["spend"] or 0), created_at=stamp, updated_at=stamp,
               budget_reset_at=_reset_at(payload.get("budget_duration")))
    return row


def new_team_row(payload: dict) -> dict:
    stamp = iso(now())
    row = {**_copy(_TEAM_COLUMNS), **{k: v for k, v in payload.items() if k in _TEAM_COLUMNS}}
    row.update(created_at=stamp, updated_at=stamp, spend=0.0,
               budget_reset_at=_reset_at(payload.get("budget_duration")))
    return row


def member(user_id: str | None, user_email: str | None, role: str) -> dict:
    return {"user_id": user_id, "user_email": user_email, "role": role}


def _reset_at(budget_duration: str | None) -> str | None:
    if not budget_duration:
        return None
    return iso(next_reset(budget_duration, now()))


def next_reset(budget_duration: str, current: datetime) -> datetime:
    """LiteLLM 1.108.7's ``get_next_standardized_reset_time`` in UTC at midnight: budgets reset
    on calendar boundaries (1d: next midnight, 7d: next Monday, 30d and 1mo: the 1st of the
    next month, Nh/Nm/Ns: the next multiple of N), other day counts N days after today's
    midnight. So two keys with one duration, made the same day, reset together."""
    aliases = {"hourly": "1h", "daily": "24h", "weekly": "7d", "monthly": "30d"}
    match = re.match(r"(\d+)([a-z]+)", aliases.get(budget_duration.strip().lower(),
                                                    budget_duration))
    midnight = current.replace(hour=0, minute=0, second=0, microsecond=0)
    if not match:
        return midnight + timedelta(days=1)
    value, unit = int(match.group(1)), match.group(2)
    if value == 0:
        return current
    if unit in ("d", "w"):
        days = value * 7 if unit == "w" else value
        if days == 1:
            return midnight + timedelta(days=1)
        if days == 7:
            monday = midnight + timedelta(days=(7 - current.weekday()) % 7)
            return monday if monday > current else monday + timedelta(days=7)
        if days == 30:
            return _first_of_next_month(midnight)
        return midnight + timedelta(days=days)
    if unit == "mo":
        first = midnight.replace(day=1)
        return first if first > current else _first_of_next_month(midnight)
    seconds = {"h": 3600, "m": 60, "s": 1}.get(unit)
    if seconds is None:
        return midnight + timedelta(days=1)
    step = value * seconds
    elapsed = int((current - midnight).total_seconds())
    return midnight + timedelta(seconds=(elapsed // step + 1) * step)


def _first_of_next_month(moment: datetime) -> datetime:
    first = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (first + timedelta(days=32)).replace(day=1)


def _budget_table(soft_budget: float | None) -> dict | None:
    if soft_budget is None:
        return None
    return {"soft_budget": soft_budget, "max_budget": None, "budget_duration": None,
            "tpm_limit": None, "rpm_limit": None, "max_parallel_requests": None}


def _copy(columns: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.copy() if isinstance(v, list | dict) else v) for k, v in columns.items()}
