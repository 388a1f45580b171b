"""Defaults and maximums for the API keys users create: one place, read by
``GET /api/v1/config/api-key-defaults`` (what the UI pre-fills and caps) and by key create/edit
(what the server enforces). Values come from the ``API_KEY_DEFAULT_*`` / ``API_KEY_MAX_*``
settings; unset means no default / no maximum.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from flask import current_app

from app.errors import ValidationError

DEFAULT_SETTINGS = {
    "max_budget": "API_KEY_DEFAULT_MAX_BUDGET",
    "tpm_limit": "API_KEY_DEFAULT_TPM_LIMIT",
    "rpm_limit": "API_KEY_DEFAULT_RPM_LIMIT",
    "budget_duration": "API_KEY_DEFAULT_BUDGET_DURATION",
    "soft_budget": "API_KEY_DEFAULT_SOFT_BUDGET",
    "expiration_days": "API_KEY_DEFAULT_EXPIRATION_DAYS",
}
MAXIMUM_SETTINGS = {
    "max_budget": "API_KEY_MAX_BUDGET",
    "tpm_limit": "API_KEY_MAX_TPM_LIMIT",
    "rpm_limit": "API_KEY_MAX_RPM_LIMIT",
    "expiration_days": "API_KEY_MAX_EXPIRATION_DAYS",
}
LIMITED_FIELDS = ("max_budget", "tpm_limit", "rpm_limit")
WIRE_NAMES = {"max_budget": "maxBudget", "tpm_limit": "tpmLimit", "rpm_limit": "rpmLimit",
              "expires_at": "expiresAt"}


def api_key_defaults() -> dict[str, dict[str, Any]]:
    """``{"defaults": {...}, "maximums": {...}}`` (snake_case; None: no default / no cap)."""
    config = current_app.config
    return {"defaults": {name: config[s] for name, s in DEFAULT_SETTINGS.items()},
            "maximums": {name: config[s] for name, s in MAXIMUM_SETTINGS.items()}}


def apply_api_key_limits(data: dict[str, Any], *, creating: bool,
                         now: datetime | None = None) -> dict[str, Any]:
    """The key fields a create/edit request gives (snake_case, validated), with the defaults
    filled in (create only) and the maximums enforced (400 ``KEY_LIMIT_EXCEEDED``).

    A field left unlimited (null) while a maximum is set exceeds the maximum too."""
    quota = api_key_defaults()
    defaults, maximums = quota["defaults"], quota["maximums"]
    now = now or datetime.now(UTC)
    result = dict(data)
    if creating:
        for name in ("max_budget", "tpm_limit", "rpm_limit", "budget_duration", "soft_budget"):
            if name not in result and defaults[name] is not None:
                result[name] = (Decimal(str(defaults[name]))
                                if name in ("max_budget", "soft_budget") else defaults[name])
        if "expires_at" not in result and defaults["expiration_days"] is not None:
            result["expires_at"] = now + timedelta(days=defaults["expiration_days"])
    problems = {}
    for name in LIMITED_FIELDS:
        cap = maximums[name]
        if cap is None or (name not in result and not creating):
            continue
        value = result.get(name)
        if value is None or Decimal(str(value)) > Decimal(str(cap)):
            problems[WIRE_NAMES[name]] = {"maximum": cap, "given": _plain(value)}
    max_days = maximums["expiration_days"]
    if max_days is not None and (creating or "expires_at" in result):
        expires_at = result.get("expires_at")
        if expires_at is None or expires_at > now + timedelta(days=max_days, minutes=5):
            problems["expiresAt"] = {"maximumDays": max_days,
                                     "given": expires_at.isoformat() if expires_at else None}
    if problems:
        raise ValidationError("Over the platform's maximum for API keys", problems,
                              code="KEY_LIMIT_EXCEEDED")
    return result


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value
