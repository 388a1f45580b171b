"""API key defaults and maximums: the one place that holds them. An admin sets them at run
time (``/admin/settings/api-key-defaults``, kept by ``app.services.settings``); until then the
``API_KEY_DEFAULT_*`` and ``API_KEY_MAX_*`` environment settings apply. ``/config/api-key-defaults``
answers ``api_key_defaults()`` so the web UI pre-fills and checks its form; the key service
applies the defaults to a new key and enforces the maximums on create and edit (the owner's
and an admin's alike), so a client that skips the UI gets the same limits.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from flask import current_app

from app.errors import ValidationError
from app.extensions import db
from app.services import settings

# key field -> environment setting, for the defaults and the maximums (expiration_days
# becomes expires_at)
DEFAULTS = {
    "max_budget": "API_KEY_DEFAULT_MAX_BUDGET",
    "tpm_limit": "API_KEY_DEFAULT_TPM_LIMIT",
    "rpm_limit": "API_KEY_DEFAULT_RPM_LIMIT",
    "budget_duration": "API_KEY_DEFAULT_BUDGET_DURATION",
    "soft_budget": "API_KEY_DEFAULT_SOFT_BUDGET",
    "expiration_days": "API_KEY_DEFAULT_EXPIRATION_DAYS",
}
MAXIMUMS = {
    "max_budget": "API_KEY_MAX_BUDGET",
    "tpm_limit": "API_KEY_MAX_TPM_LIMIT",
    "rpm_limit": "API_KEY_MAX_RPM_LIMIT",
    "expiration_days": "API_KEY_MAX_EXPIRATION_DAYS",
}
_WIRE = {"max_budget": "maxBudget", "tpm_limit": "tpmLimit", "rpm_limit": "rpmLimit"}


def api_key_defaults() -> dict[str, dict[str, Any]]:
    """``{"defaults": {...}, "maximums": {...}}`` by key field (None: unset): what an admin
    saved, else the environment settings; the route's schema gives them camelCase names."""
    stored = settings.get(settings.API_KEY_DEFAULTS)
    if stored is None:
        return env_api_key_defaults()
    return {"defaults": {f: stored["defaults"].get(f) for f in DEFAULTS},
            "maximums": {f: stored["maximums"].get(f) for f in MAXIMUMS}}


def env_api_key_defaults() -> dict[str, dict[str, Any]]:
    config = current_app.config

    def value(setting: str) -> Any:
        found = config.get(setting)
        return None if found == "" else found  # an empty duration setting means none

    return {"defaults": {name: value(setting) for name, setting in DEFAULTS.items()},
            "maximums": {name: value(setting) for name, setting in MAXIMUMS.items()}}


def update(data: dict[str, dict[str, Any]], actor) -> dict[str, dict[str, Any]]:
    """Replace the defaults and maximums (every field; null: none), from now on for every key
    created or edited; keys that exist keep their limits. One commit."""
    defaults = {f: settings.plain(data.get("defaults", {}).get(f)) for f in DEFAULTS}
    maximums = {f: settings.plain(data.get("maximums", {}).get(f)) for f in MAXIMUMS}
    problems = {}
    for field, ceiling in maximums.items():
        default = defaults[field]
        if default is not None and ceiling is not None and default > ceiling:
            problems[f"defaults.{_camel(field)}"] = [f"Must not exceed the maximum of {ceiling}."]
    soft, hard = defaults["soft_budget"], defaults["max_budget"]
    if soft is not None and hard is not None and soft > hard:
        problems["defaults.softBudget"] = ["Must not exceed the default maxBudget."]
    if problems:
        raise settings.invalid(problems)
    value = {"defaults": defaults, "maximums": maximums}
    settings.put(settings.API_KEY_DEFAULTS, value, actor, "SETTINGS_API_KEY_DEFAULTS_UPDATED",
                 api_key_defaults())
    db.session.commit()
    return value


def _camel(field: str) -> str:
    head, *rest = field.split("_")
    return head + "".join(part.title() for part in rest)


def with_defaults(data: dict[str, Any]) -> dict[str, Any]:
    """A new key's fields with the configured defaults filling what the caller left unset."""
    defaults = api_key_defaults()["defaults"]
    filled = dict(data)
    for field, value in defaults.items():
        if field != "expiration_days" and filled.get(field) is None and value is not None:
            filled[field] = Decimal(str(value)) if field in ("max_budget", "soft_budget") else value
    days = defaults["expiration_days"]
    if filled.get("expires_at") is None and days is not None:
        filled["expires_at"] = datetime.now(UTC) + timedelta(days=days)
    return filled


def check_maximums(values: dict[str, Any], *, expiry_given: bool) -> None:
    """Refuse (400, per field) limits above the configured maximums and per-model limits above
    the key's own. ``values`` are the key's fields after the change; ``expiry_given`` says
    whether the caller set the expiry (a maximum lifetime refuses "never")."""
    maximums = api_key_defaults()["maximums"]
    problems: dict[str, list[str]] = {}
    for field, wire in _WIRE.items():
        value, ceiling = values.get(field), maximums[field]
        if value is not None and ceiling is not None and value > Decimal(str(ceiling)):
            problems[wire] = [f"Must not exceed the maximum of {ceiling}."]
    days = maximums["expiration_days"]
    if days is not None and expiry_given:
        expires_at = values.get("expires_at")
        if expires_at is None:
            problems["expiresAt"] = [f"Keys must expire within {days} days; 'never' is not "
                                     "allowed."]
        elif expires_at > datetime.now(UTC) + timedelta(days=days, minutes=5):
            problems["expiresAt"] = [f"Must be within {days} days."]
    problems.update(_per_model_problems(values, maximums))
    if problems:
        raise ValidationError("Request validation failed", {"fields": problems})


def _per_model_problems(values: dict[str, Any], maximums: dict[str, Any]) -> dict[str, list]:
    problems: dict[str, list[str]] = {}
    checks = (("modelMaxBudget", "model_max_budget", "max_budget", "max_budget"),
              ("modelRpmLimit", "model_rpm_limit", "rpm_limit", "rpm_limit"),
              ("modelTpmLimit", "model_tpm_limit", "tpm_limit", "tpm_limit"))
    models = set(values.get("model_ids") or ())
    for wire, field, key_field, maximum in checks:
        limits = values.get(field) or {}
        key_limit, ceiling = values.get(key_field), maximums[maximum]
        for model_id, limit in limits.items():
            amount = limit["budget_limit"] if isinstance(limit, dict) else limit
            if model_id not in models:
                problems.setdefault(wire, []).append(f"{model_id}: not one of the key's models.")
            elif key_limit is not None and Decimal(str(amount)) > Decimal(str(key_limit)):
                problems.setdefault(wire, []).append(
                    f"{model_id}: must not exceed the key's limit of {key_limit}.")
            elif ceiling is not None and Decimal(str(amount)) > Decimal(str(ceiling)):
                problems.setdefault(wire, []).append(
                    f"{model_id}: must not exceed the maximum of {ceiling}.")
    return problems
