"""Budget periods and remaining budget: pure functions of app/services/budgets.py."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

import pytest

from app.services import budgets
from app.services.budgets import period_for


@pytest.mark.parametrize(("duration", "start", "following"), [
    (None, None, None),
    ("not-a-duration", None, None),
    ("daily", date(2026, 3, 18), date(2026, 3, 19)),
    ("1d", date(2026, 3, 18), date(2026, 3, 19)),
    ("12h", date(2026, 3, 18), date(2026, 3, 19)),
    ("weekly", date(2026, 3, 16), date(2026, 3, 23)),  # ISO week: Monday to Monday
    ("1w", date(2026, 3, 16), date(2026, 3, 23)),
    ("monthly", date(2026, 3, 1), date(2026, 4, 1)),
    ("1mo", date(2026, 3, 1), date(2026, 4, 1)),
    ("30d", date(2026, 3, 1), date(2026, 4, 1)),  # LiteLLM resets 30d on the 1st too
    ("3mo", date(2026, 1, 1), date(2026, 4, 1)),
    ("yearly", date(2026, 1, 1), date(2027, 1, 1)),
])
def test_budget_periods_are_calendar_aligned(duration, start, following):
    period = period_for(duration, date(2026, 3, 18))  # a Wednesday

    assert (period.start, period.next_start) == (start, following)


def test_n_day_periods_tile_the_calendar_without_overlap():
    periods = {period_for("14d", date(2026, 1, 1) + timedelta(days=n)) for n in range(365)}

    ordered = sorted(periods, key=lambda p: p.start)
    assert all(p.next_start - p.start == timedelta(days=14) for p in ordered)
    assert all(a.next_start == b.start for a, b in itertools.pairwise(ordered))


def test_remaining_budget_is_never_negative():
    assert budgets.remaining(None, Decimal(5)) is None
    assert budgets.remaining(Decimal(5), Decimal(7)) == 0
    assert budgets.remaining(Decimal(5), Decimal("1.5")) == Decimal("3.5")
