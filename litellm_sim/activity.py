"""``/user/daily/activity``: daily spend rows paged and folded into SpendAnalyticsPaginatedResponse,
as ``common_daily_activity.get_daily_activity`` does it.

Pages cut through rows (ordered by date desc, then id), so one date can appear on two pages, and
``metadata`` totals cover the page only. Callers hold the state lock.
"""

from __future__ import annotations

import math
from datetime import date

from litellm_sim.state import SimState

_METRIC_FIELDS = (
    "spend", "flat_cost", "prompt_tokens", "completion_tokens", "cache_read_input_tokens",
    "cache_creation_input_tokens", "compression_saved_tokens", "compression_savings_spend",
    "prompt_caching_savings_spend", "gateway_injected_caching_savings_spend",
    "autorouter_savings_spend", "total_tokens", "successful_requests", "failed_requests",
    "api_requests", "total_response_time_ms", "timed_requests",
)
_FLOAT_METRICS = frozenset({"spend", "flat_cost", "compression_savings_spend",
                            "prompt_caching_savings_spend",
                            "gateway_injected_caching_savings_spend",
                            "autorouter_savings_spend"})
# DailySpendMetadata's totals, in its field order, and the metric each one sums.
_TOTALS = tuple(
    (f"total_{name}" if not name.startswith("total_") else name, name)
    for name in ("spend", "flat_cost", "prompt_tokens", "completion_tokens", "total_tokens",
                 "api_requests", "successful_requests", "failed_requests",
                 "cache_read_input_tokens", "cache_creation_input_tokens",
                 "compression_saved_tokens", "compression_savings_spend",
                 "prompt_caching_savings_spend", "gateway_injected_caching_savings_spend",
                 "autorouter_savings_spend", "total_response_time_ms", "timed_requests")
)
_BREAKDOWNS = ("mcp_servers", "models", "model_groups", "providers", "endpoints", "api_keys",
               "entities")


def daily_activity(state: SimState, start: date, end: date, page: int, page_size: int,
                   filters: dict[str, str]) -> dict:
    rows = _matching_rows(state, start, end, filters)
    page_rows = rows[(page - 1) * page_size: page * page_size]
    results, totals = _aggregate(state, page_rows)
    return {"results": results, "metadata": _metadata(totals, page, page_size, len(rows))}


def _matching_rows(state: SimState, start: date, end: date, filters: dict[str, str]) -> list:
    low, high = start.isoformat(), end.isoformat()
    rows = [row for row in state.spend_rows.values() if low <= row["date"] <= high
            and all(row.get(field) == value for field, value in filters.items())]
    rows.sort(key=lambda row: row["id"])
    rows.sort(key=lambda row: row["date"], reverse=True)
    return rows


def _aggregate(state: SimState, rows: list[dict]) -> tuple[list[dict], dict]:
    days: dict[str, dict] = {}
    totals = zero_metrics()
    for row in rows:
        day = days.setdefault(row["date"], _new_day(row["date"]))
        add_metrics(day["metrics"], row)
        _add_breakdown(state, day["breakdown"], row)
        add_metrics(totals, row)
    return sorted(days.values(), key=lambda day: day["date"], reverse=True), totals


def _new_day(day: str) -> dict:
    return {"date": day, "metrics": zero_metrics(),
            "breakdown": {name: {} for name in _BREAKDOWNS}}


def _add_breakdown(state: SimState, breakdown: dict, row: dict) -> None:
    key_metadata = _key_metadata(state, row["api_key"])
    user_id = row["user_id"] or "Unassigned"
    for name, bucket_key, metadata in (
        ("models", row["model"], {}),
        ("model_groups", row["model_group"], {}),
        ("providers", row["custom_llm_provider"] or "unknown", {}),
        ("entities", user_id, _user_metadata(state, user_id)),
    ):
        bucket = breakdown[name].setdefault(
            bucket_key, {"metrics": zero_metrics(), "metadata": metadata, "api_key_breakdown": {}})
        add_metrics(bucket["metrics"], row)
        _add_key_metrics(bucket["api_key_breakdown"], row, key_metadata)
    _add_key_metrics(breakdown["api_keys"], row, key_metadata)


def _add_key_metrics(buckets: dict, row: dict, key_metadata: dict) -> None:
    bucket = buckets.setdefault(row["api_key"],
                                {"metrics": zero_metrics(), "metadata": key_metadata})
    add_metrics(bucket["metrics"], row)


def _key_metadata(state: SimState, token: str) -> dict:
    key = state.keys.get(token) or state.deleted_keys.get(token)
    if key is None:
        return {"key_alias": None, "team_id": None, "user_id": None, "user_email": None,
                "key_exists": False}
    user = state.users.get(key["user_id"] or "") or {}
    return {"key_alias": key["key_alias"], "team_id": key["team_id"], "user_id": key["user_id"],
            "user_email": user.get("user_email"), "key_exists": token in state.keys}


def _user_metadata(state: SimState, user_id: str) -> dict:
    email = (state.users.get(user_id) or {}).get("user_email")
    return {"user_email": email} if email else {}


def zero_metrics() -> dict:
    return {name: 0.0 if name in _FLOAT_METRICS else 0 for name in _METRIC_FIELDS}


def add_metrics(metrics: dict, row: dict) -> None:
    for name in _METRIC_FIELDS:
        metrics[name] += row.get(name, 0)
    metrics["total_tokens"] += row["prompt_tokens"] + row["completion_tokens"]


def _metadata(totals: dict, page: int, page_size: int, total_rows: int) -> dict:
    return {
        **{total: totals[metric] for total, metric in _TOTALS},
        "page": page, "total_pages": math.ceil(total_rows / page_size),
        "has_more": page * page_size < total_rows,
        "api_key_limit": None, "total_api_keys": None, "entity_total_api_keys": None,
    }
