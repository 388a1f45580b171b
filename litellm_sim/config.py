"""The simulator's knobs: keyword arguments win over the environment, which wins over defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

DEFAULT_MASTER_KEY = "sk-sim-master-key"
GARBAGE_MODES = ("invalid_json", "wrong_shape")

_ENV_NAMES = {
    "models": "SIM_MODELS",
    "seed": "SIM_SEED",
    "latency_ms": "SIM_LATENCY_MS",
    "error_rate": "SIM_ERROR_RATE",
    "down": "SIM_DOWN",
    "premium": "SIM_PREMIUM",
    "activity_auto": "SIM_ACTIVITY_AUTO",
    "activity_interval": "SIM_ACTIVITY_INTERVAL",
    "activity_requests": "SIM_ACTIVITY_REQUESTS",
    "budget_exceeded_status": "SIM_BUDGET_EXCEEDED_STATUS",
    "master_key": "LITELLM_MASTER_KEY",
    "store_model_in_db": "STORE_MODEL_IN_DB",
}


@dataclass(frozen=True)
class SimConfig:
    models: int = 50
    seed: int = 42
    latency_ms: int = 0
    error_rate: float = 0.0
    down: bool = False
    garbage: str | None = None  # "invalid_json" or "wrong_shape" for /model/info
    premium: bool = False  # an Enterprise licence: tags and model_max_budget accepted on keys
    # litellm_settings.budget_exceeded_status_code: 422 since LiteLLM 1.104, 429 before.
    budget_exceeded_status: int = 422
    master_key: str = DEFAULT_MASTER_KEY
    # /user/daily/activity answers 500 for this page number (0: never), to crash a rollup
    # part-way through a user's activity.
    activity_fail_page: int = 0
    # ``python -m litellm_sim`` only: every activity_interval seconds, each live key makes
    # activity_requests requests (deterministic by seed) recorded in today's daily activity.
    activity_auto: bool = False
    activity_interval: float = 10.0
    activity_requests: int = 5
    # LiteLLM's STORE_MODEL_IN_DB: /model/new, /model/{id}/update and /model/delete work only
    # with it (LiteLLM answers 500 otherwise).
    store_model_in_db: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **knobs: Any) -> SimConfig:
        env = os.environ if env is None else env
        values = {name: env[var] for name, var in _ENV_NAMES.items() if env.get(var)}
        return cls().updated(**{**values, **knobs})

    def updated(self, **changes: Any) -> SimConfig:
        """A copy with ``changes`` applied, coerced to each field's type; unknown names raise."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown simulator knobs: {sorted(unknown)}")
        return replace(self, **{name: _coerce(name, value) for name, value in changes.items()})

    def public(self) -> dict[str, Any]:
        return {name: value for name, value in asdict(self).items() if name != "master_key"}


def _coerce(name: str, value: Any) -> Any:
    if name == "budget_exceeded_status":
        status = int(value)
        if not 400 <= status <= 499:
            raise ValueError("budget_exceeded_status must be a 4xx status")
        return status
    if name in ("models", "seed", "latency_ms", "activity_fail_page", "activity_requests"):
        number = int(value)
        if number < 0:
            raise ValueError(f"{name} must be >= 0")
        return number
    if name == "error_rate":
        rate = float(value)
        if not 0.0 <= rate <= 1.0:
            raise ValueError("error_rate must be between 0 and 1")
        return rate
    if name == "activity_interval":
        seconds = float(value)
        if seconds <= 0:
            raise ValueError("activity_interval must be > 0")
        return seconds
    if name in ("down", "premium", "activity_auto", "store_model_in_db"):
        return _as_bool(value)
    if name == "garbage":
        return _garbage_mode(value)
    return str(value)


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _garbage_mode(value: Any) -> str | None:
    if value in (None, False, "", "false", "off"):
        return None
    if value is True or value in ("true", "on"):
        return GARBAGE_MODES[0]
    if value not in GARBAGE_MODES:
        raise ValueError(f"garbage must be one of {GARBAGE_MODES} or a boolean")
    return value
