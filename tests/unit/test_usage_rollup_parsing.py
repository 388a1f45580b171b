"""Reading LiteLLM's daily activity: pure functions of app/services/usage_rollup.py."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from app.litellm.errors import LiteLLMInvalidResponse
from app.services import usage_rollup

Q = Decimal("0.00000001")  # usage_daily keeps spend to 8 decimal places


def printed_units(value: float) -> int:
    """The reference: the float as Python prints it, rounded half to even to 8 places."""
    return int(Decimal(repr(value)).quantize(Q, rounding=ROUND_HALF_EVEN).scaleb(8))


def test_to_money_keeps_litellm_float_spend_as_printed():
    assert usage_rollup.to_money(0.1 + 0.2) == Decimal("0.30000000")
    assert usage_rollup.to_money(1.23456789123) == Decimal("1.23456789")
    assert usage_rollup.to_money(2.5e-05) == Decimal("0.00002500")
    assert usage_rollup.to_money(0) == Decimal(0).quantize(Q)


@pytest.mark.parametrize(("spend", "units"), [
    (0.1 + 0.2, 30_000_000),  # prints 0.30000000000000004
    (1.23456789123, 123_456_789),
    (2.5e-05, 2_500),
    (1e-09, 0),
    (5e-09, 0),  # a tie: half to even
    (1.5e-08, 2),  # a tie: half to even
    (0.123456785, 12_345_678),  # a tie as printed, though the binary float is above it
    (0.123456775, 12_345_678),
    (-0.123456785, -12_345_678),
    (12345.678901235, 1_234_567_890_124),
    (123456789.12345679, 12_345_678_912_345_679),  # beyond the float fast path
    (0.0, 0), (-0.0, 0), (7, 700_000_000), ("0.000000015", 2), (Decimal("3.3"), 330_000_000),
])
def test_spend_units_is_the_printed_spend_rounded_half_to_even(spend, units):
    assert usage_rollup.spend_units(spend) == units


@settings(max_examples=3000, deadline=None)
@given(st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6),
    st.floats(allow_nan=False, allow_infinity=False, min_value=0, max_value=1e-3),
    st.integers(0, 10**12).map(lambda n: float(f"{n}e-9") * 5),  # ties at the 9th place
    st.integers(0, 10**15).map(lambda n: n / 10**11),
))
@example(0.000000005)
@example(2.675e-08)
@example(0.30000000000000004)
@example(1e-320)
def test_spend_units_equals_the_decimal_rounding_of_the_printed_float(spend):
    assert usage_rollup.spend_units(spend) == printed_units(spend)


@pytest.mark.parametrize("spend", [float("nan"), float("inf"), "abc", True])
def test_spend_units_refuses_what_is_not_a_number(spend):
    with pytest.raises(LiteLLMInvalidResponse):
        usage_rollup.spend_units(spend)


def test_parse_results_reads_model_groups_and_falls_back_to_models():
    day = {"date": "2026-03-01", "breakdown": {"models": {"openai/gpt-4o": {
        "api_key_breakdown": {"tok": {"metrics": {
            "api_requests": 2, "successful_requests": 1, "failed_requests": 1,
            "prompt_tokens": 10, "completion_tokens": 5, "spend": 0.5},
            "metadata": {"team_id": "t1"}}}}}}}

    days, teams = usage_rollup.parse_results([day])

    values = days[date(2026, 3, 1)][("tok", "openai/gpt-4o")]
    assert values == (2, 1, 1, 10, 5, 15, 50_000_000)
    assert teams == {"tok": "t1"}


FULL = {"api_requests": 4, "successful_requests": 3, "failed_requests": 1, "prompt_tokens": 40,
        "completion_tokens": 20, "total_tokens": 61, "spend": 0.000123456789}


@pytest.mark.parametrize(("metrics", "values"), [
    (FULL, (4, 3, 1, 40, 20, 61, 12_346)),
    ({}, (0, 0, 0, 0, 0, 0, 0)),
    (dict.fromkeys(FULL), (0, 0, 0, 0, 0, 0, 0)),
    ({**FULL, "total_tokens": None}, (4, 3, 1, 40, 20, 60, 12_346)),
    ({k: v for k, v in FULL.items() if k != "total_tokens"}, (4, 3, 1, 40, 20, 60, 12_346)),
    ({k: v for k, v in FULL.items() if k != "spend"}, (4, 3, 1, 40, 20, 61, 0)),
    ({**FULL, "spend": None}, (4, 3, 1, 40, 20, 61, 0)),
    ({**FULL, "prompt_tokens": None, "failed_requests": None}, (4, 3, 0, 0, 20, 61, 12_346)),
    ({**FULL, "prompt_tokens": 40.0, "api_requests": "4"}, (4, 3, 1, 40, 20, 61, 12_346)),
    ({**FULL, "spend": 3}, (4, 3, 1, 40, 20, 61, 300_000_000)),
])
def test_metric_values_read_missing_and_null_fields_as_zero(metrics, values):
    assert usage_rollup.metric_values(metrics) == values
    assert all(type(value) is int for value in usage_rollup.metric_values(metrics))


def test_parse_results_adds_a_key_and_model_listed_twice_in_a_day():
    entry = {"metrics": {**FULL, "spend": 0.1}, "metadata": {}}
    results = [{"date": "2026-03-01", "breakdown": {"model_groups": {
        "m": {"api_key_breakdown": {"tok": entry}}}}}] * 2

    days, _ = usage_rollup.parse_results(results)

    assert days[date(2026, 3, 1)][("tok", "m")] == (8, 6, 2, 80, 40, 122, 20_000_000)


def test_parse_results_refuses_a_malformed_count():
    results = [{"date": "2026-03-01", "breakdown": {"model_groups": {"m": {"api_key_breakdown": {
        "tok": {"metrics": {**FULL, "prompt_tokens": "many"}}}}}}}]

    with pytest.raises(LiteLLMInvalidResponse):
        usage_rollup.parse_results(results)


def test_spend_text_is_read_by_postgresql_as_the_units():
    assert usage_rollup.spend_text(12_345) == "12345e-8"
    assert Decimal(usage_rollup.spend_text(-5)) == Decimal("-0.00000005")
