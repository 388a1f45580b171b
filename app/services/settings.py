"""Runtime settings: values admins change while the service runs (API key defaults and
maximums, new-user defaults, the currency), kept in the ``settings`` table and read through a
per-process cache.

The cache follows the ``settings`` version token (``cache_versions``, bumped by a statement
trigger in the same transaction as any write to the table, migration 0007): a read takes the
token first, then the rows on a miss, so no process serves a value older than the last commit.
Without a token (never written, or the table was truncated) nothing is cached.

Each ``update_*`` is one admin action: validated, written, audited, one commit. A setting never
written falls back to the deployment's environment settings (``config/settings.py``).
"""

from __future__ import annotations

import os
import threading
from decimal import Decimal
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from app.errors import ValidationError
from app.extensions import db
from app.models import Setting
from app.services import audit, read_cache

SCOPE = "settings"
API_KEY_DEFAULTS = "api_key_defaults"
USER_DEFAULTS = "user_defaults"
CURRENCY = "currency"
RUNTIME_KEYS = (API_KEY_DEFAULTS, USER_DEFAULTS, CURRENCY)

USD = {"code": "USD", "symbol": "$", "name": "US Dollar"}
SUPPORTED_CURRENCIES = [
    USD,
    {"code": "EUR", "symbol": "€", "name": "Euro"},
    {"code": "GBP", "symbol": "£", "name": "British Pound"},
    {"code": "JPY", "symbol": "¥", "name": "Japanese Yen"},
    {"code": "CNY", "symbol": "¥", "name": "Chinese Yuan"},
    {"code": "CAD", "symbol": "CA$", "name": "Canadian Dollar"},
    {"code": "AUD", "symbol": "A$", "name": "Australian Dollar"},
    {"code": "CHF", "symbol": "CHF", "name": "Swiss Franc"},
    {"code": "INR", "symbol": "₹", "name": "Indian Rupee"},
    {"code": "KRW", "symbol": "₩", "name": "South Korean Won"},
    {"code": "BRL", "symbol": "R$", "name": "Brazilian Real"},
    {"code": "MXN", "symbol": "MX$", "name": "Mexican Peso"},
    {"code": "SGD", "symbol": "S$", "name": "Singapore Dollar"},
    {"code": "HKD", "symbol": "HK$", "name": "Hong Kong Dollar"},
    {"code": "NZD", "symbol": "NZ$", "name": "New Zealand Dollar"},
    {"code": "SEK", "symbol": "kr", "name": "Swedish Krona"},
    {"code": "NOK", "symbol": "kr", "name": "Norwegian Krone"},
    {"code": "DKK", "symbol": "kr", "name": "Danish Krone"},
    {"code": "PLN", "symbol": "zł", "name": "Polish Zloty"},
    {"code": "ZAR", "symbol": "R", "name": "South African Rand"},
    {"code": "TRY", "symbol": "₺", "name": "Turkish Lira"},
    {"code": "THB", "symbol": "฿", "name": "Thai Baht"},
    {"code": "AED", "symbol": "د.إ", "name": "UAE Dirham"},
    {"code": "SAR", "symbol": "﷼", "name": "Saudi Riyal"},
    {"code": "ILS", "symbol": "₪", "name": "Israeli Shekel"},
]
CURRENCIES = {c["code"]: c for c in SUPPORTED_CURRENCIES}

USER_DEFAULT_FIELDS = ("max_budget", "tpm_limit", "rpm_limit")


# -- the store --------------------------------------------------------------------------------


class _Cache:
    """The runtime settings of one token, per process (threads share it)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.token: str | None = None
        self.values: dict[str, Any] = {}


def _cache() -> _Cache:
    app = current_app._get_current_object()
    entry = app.extensions.get("runtime_settings")
    if entry is None or entry[0] != os.getpid():
        entry = (os.getpid(), _Cache())
        app.extensions["runtime_settings"] = entry
    return entry[1]


def _load() -> dict[str, Any]:
    rows = db.session.execute(select(Setting.key, Setting.value)
                              .where(Setting.key.in_(RUNTIME_KEYS)))
    return dict(rows.all())


def get(key: str) -> Any:
    """The stored value of a runtime setting, or None when it was never written."""
    token = read_cache.version_token(SCOPE)
    if token is None:
        return _load().get(key)
    cache = _cache()
    with cache.lock:
        if cache.token == token:
            return cache.values.get(key)
    values = _load()  # read after the token: never older than what the token describes
    with cache.lock:
        cache.token, cache.values = token, values
    return values.get(key)


def _put(key: str, value: Any, actor) -> None:
    """Write a setting in the caller's unit of work."""
    stmt = insert(Setting).values(key=key, value=value, updated_by=getattr(actor, "user_id",
                                                                         None))
    db.session.execute(stmt.on_conflict_do_update(
        index_elements=[Setting.key],
        set_={"value": stmt.excluded.value, "updated_by": stmt.excluded.updated_by,
              "updated_at": stmt.excluded.updated_at}))


def plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def invalid(fields: dict[str, list[str]]) -> ValidationError:
    return ValidationError("Request validation failed", {"fields": fields})


def put(key: str, value: Any, actor, action: str, before: Any) -> None:
    """Write a runtime setting and its audit row in the caller's unit of work."""
    _put(key, value, actor)
    audit.record(action, "settings", key, details={"before": before, "after": value})


# -- new-user defaults ------------------------------------------------------------------------


def user_defaults() -> dict[str, Any]:
    """What an admin set for new users (None: the environment default applies)."""
    stored = get(USER_DEFAULTS) or {}
    return {f: stored.get(f) for f in USER_DEFAULT_FIELDS}


def env_user_defaults() -> dict[str, Any]:
    config = current_app.config
    return {f: config[f"DEFAULT_USER_{f.upper()}"] for f in USER_DEFAULT_FIELDS}


def update_user_defaults(data: dict[str, Any], actor) -> dict[str, Any]:
    """Replace the new-user defaults (null: the environment default); one commit."""
    value = {f: plain(data.get(f)) for f in USER_DEFAULT_FIELDS}
    put(USER_DEFAULTS, value, actor, "SETTINGS_USER_DEFAULTS_UPDATED", user_defaults())
    db.session.commit()
    return value


def apply_user_defaults(user) -> None:
    """Give a new user the admin-set defaults (fields an admin left unset stay None, so the
    environment default applies); provisioning then pushes them to LiteLLM."""
    for field, value in user_defaults().items():
        if value is not None and getattr(user, field) is None:
            setattr(user, field, Decimal(str(value)) if field == "max_budget" else value)


# -- currency ---------------------------------------------------------------------------------


def currency() -> dict[str, str]:
    stored = get(CURRENCY)
    return dict(stored) if stored else dict(USD)


def update_currency(data: dict[str, str], actor) -> dict[str, str]:
    """Set the currency the web UI shows money in (one of ``SUPPORTED_CURRENCIES``; the
    symbol and name may be customised); one commit."""
    code = data["code"].upper()
    if code not in CURRENCIES:
        raise invalid({"code": [f"Unsupported currency {code!r}; see "
                                 "/admin/settings/currency/supported."]})
    value = {"code": code, "symbol": data.get("symbol") or CURRENCIES[code]["symbol"],
             "name": data.get("name") or CURRENCIES[code]["name"]}
    put(CURRENCY, value, actor, "SETTINGS_CURRENCY_UPDATED", currency())
    db.session.commit()
    return value
