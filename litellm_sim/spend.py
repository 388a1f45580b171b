"""Spend: LiteLLM_DailyUserSpend rows (one per day, user, key and model), charged to the key, its
user and its team as LiteLLM does after each request. Callers hold the state lock."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from litellm_sim.records import now
from litellm_sim.state import SimState

_ROW_NAMESPACE = uuid.UUID("6f1c1d1e-3a8b-4c52-9d43-2b7c1f0e9a11")
FAILURE_RATE = 0.05


@dataclass(frozen=True)
class Usage:
    """One request's outcome."""

    prompt_tokens: int
    completion_tokens: int
    spend: float
    succeeded: bool
    response_ms: int


def request_cost(model: dict, prompt_tokens: int, completion_tokens: int) -> float:
    info = model["model_info"]
    return (prompt_tokens * (info.get("input_cost_per_token") or 0.0)
            + completion_tokens * (info.get("output_cost_per_token") or 0.0))


def record_usage(state: SimState, key: dict, model: dict, day: date, usage: Usage) -> None:
    """Add one request to the day's row for this key and model, and charge its spend."""
    row = state.spend_rows.get(_row_id(day, key, model)) or _new_row(day, key, model)
    _add(row, usage)
    state.spend_rows[row["id"]] = row
    charge(state, key, model["model_name"], usage.spend)


def charge(state: SimState, key: dict, model_name: str, amount: float) -> None:
    key["spend"] += amount
    key["model_spend"][model_name] = key["model_spend"].get(model_name, 0.0) + amount
    key["last_active"] = now().isoformat()
    for owner in (state.users.get(key["user_id"] or ""), state.teams.get(key["team_id"] or "")):
        if owner is not None:
            owner["spend"] += amount


def generate_activity(state: SimState, days: int, requests_per_key_per_day: int,
                      seed: int) -> dict:
    """Deterministic traffic for every live key over the last ``days`` days (today included).

    Each (day, key, model) row it writes replaces the previous one; spend is charged by the
    difference, so calling it twice with the same arguments changes nothing.
    """
    today = now().date()
    written = 0
    for token in sorted(state.keys):
        key = state.keys[token]
        models = _models_for(state, key, random.Random(f"{seed}:{token}"))
        for offset in range(days if models else 0):
            day = today - timedelta(days=offset)
            rng = random.Random(f"{seed}:{token}:{day.isoformat()}")
            written += _write_day(state, key, day, models, requests_per_key_per_day, rng)
    return {"rows": written, "keys": len(state.keys), "days": days}


def tick_activity(state: SimState, requests_per_key: int, tick: int, seed: int) -> int:
    """Live traffic: each live key makes ``requests_per_key`` requests now (deterministic by
    seed and tick), recorded in today's rows and charged; returns the requests made."""
    today, made = now().date(), 0
    for token in sorted(state.keys):
        key = state.keys[token]
        models = _models_for(state, key, random.Random(f"{seed}:{token}"))
        rng = random.Random(f"{seed}:tick:{tick}:{token}")
        for _ in range(requests_per_key if models else 0):
            model = rng.choice(models)
            record_usage(state, key, model, today, _random_usage(model, rng))
            made += 1
    return made


def _write_day(state: SimState, key: dict, day: date, models: list[dict], requests: int,
               rng: random.Random) -> int:
    usages: dict[str, list[Usage]] = {}
    by_name = {model["model_name"]: model for model in models}
    for _ in range(requests):
        model = rng.choice(models)
        usages.setdefault(model["model_name"], []).append(_random_usage(model, rng))
    for name, outcomes in usages.items():
        _replace_row(state, key, by_name[name], day, outcomes)
    return len(usages)


def _replace_row(state: SimState, key: dict, model: dict, day: date,
                 outcomes: list[Usage]) -> None:
    previous = state.spend_rows.get(_row_id(day, key, model))
    row = _new_row(day, key, model)
    for usage in outcomes:
        _add(row, usage)
    state.spend_rows[row["id"]] = row
    charge(state, key, model["model_name"], row["spend"] - (previous or {}).get("spend", 0.0))


def _models_for(state: SimState, key: dict, rng: random.Random) -> list[dict]:
    visible = state.catalog.visible()
    if key["models"]:
        return [model for model in visible if model["model_name"] in key["models"]]
    return rng.sample(visible, min(3, len(visible)))


def _random_usage(model: dict, rng: random.Random) -> Usage:
    if rng.random() < FAILURE_RATE:
        return Usage(0, 0, 0.0, False, rng.randint(50, 500))
    prompt, completion = rng.randint(20, 2000), rng.randint(10, 800)
    cost = request_cost(model, prompt, completion)
    return Usage(prompt, completion, cost, True, rng.randint(150, 4000))


def model_identity(model: dict) -> tuple[str, str, str]:
    """(model, model_group, provider) as LiteLLM writes them in its daily spend rows."""
    params, info = model["litellm_params"], model["model_info"]
    prefix, _, backend = params["model"].partition("/")
    provider = info.get("litellm_provider") or params.get("custom_llm_provider") or prefix
    return backend or prefix, model["model_name"], provider


def _row_id(day: date, key: dict, model: dict) -> str:
    name = "|".join((day.isoformat(), key["user_id"] or "", key["token"], model["model_name"]))
    return str(uuid.uuid5(_ROW_NAMESPACE, name))


def _new_row(day: date, key: dict, model: dict) -> dict:
    backend, group, provider = model_identity(model)
    return {
        "id": _row_id(day, key, model), "user_id": key["user_id"], "date": day.isoformat(),
        "api_key": key["token"], "model": backend, "model_group": group,
        "custom_llm_provider": provider, "prompt_tokens": 0, "completion_tokens": 0,
        "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0, "spend": 0.0,
        "api_requests": 0, "successful_requests": 0, "failed_requests": 0,
        "total_response_time_ms": 0, "timed_requests": 0,
    }


def _add(row: dict, usage: Usage) -> None:
    row["prompt_tokens"] += usage.prompt_tokens
    row["completion_tokens"] += usage.completion_tokens
    row["spend"] += usage.spend
    row["api_requests"] += 1
    row["successful_requests" if usage.succeeded else "failed_requests"] += 1
    row["total_response_time_ms"] += usage.response_ms
    row["timed_requests"] += 1
