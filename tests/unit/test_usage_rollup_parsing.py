"""Reading LiteLLM's daily activity: pure functions of app/services/usage_rollup.py."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from app.services import usage_rollup

Q = Decimal("0.00000001")  # usage_daily keeps spend to 8 decimal places


def test_to_money_keeps_litellm_float_spend_as_printed():
    assert usage_rollup.to_money(0.1 + 0.2) == Decimal("0.30000000")
    assert usage_rollup.to_money(1.23456789123) == Decimal("1.23456789")
    assert usage_rollup.to_money(2.5e-05) == Decimal("0.00002500")
    assert usage_rollup.to_money(0) == Decimal(0).quantize(Q)


def test_parse_results_reads_model_groups_and_falls_back_to_models():
    day = {"date": "2026-03-01", "breakdown": {"models": {"openai/gpt-4o": {
        "api_key_breakdown": {"tok": {"metrics": {
            "api_requests": 2, "successful_requests": 1, "failed_requests": 1,
            "prompt_tokens": 10, "completion_tokens": 5, "spend": 0.5},
            "metadata": {"team_id": "t1"}}}}}}}

    days, teams = usage_rollup.parse_results([day])

    values = days[date(2026, 3, 1)][("tok", "openai/gpt-4o")]
    assert values == (2, 1, 1, 10, 5, 15, Decimal("0.50000000"))
    assert teams == {"tok": "t1"}
