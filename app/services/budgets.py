"""Budgets: spend of users, teams and keys for their current budget period, refreshed after each
usage rollup, and budget crossings recorded in the audit trail once per period (DESIGN §9).

Budget periods are calendar-aligned so "once per period" means something: ``daily`` is the UTC
day, ``weekly``/``Nw`` ISO weeks (blocks of N weeks from a fixed Monday), ``Nd`` blocks of N days
from that Monday (``30d`` is a calendar month: LiteLLM resets it on the 1st),
``monthly``/``Nmo`` calendar months (blocks of N from January), ``yearly``/``Ny`` calendar
years. Sub-day durations (``Nh``, ``Nm``, ``Ns``) count the current day, the finest
grain ``usage_daily`` has. No duration means the whole lifetime.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flask import current_app
from sqlalchemy import String, cast, func, literal, select, text, tuple_, update

from app.errors import NotFound
from app.extensions import db
from app.models import ApiKey, AuditLog, Team, UsageDaily, User
from app.services import audit

log = logging.getLogger(__name__)

_ALIASES = {"hourly": "1h", "daily": "1d", "weekly": "1w", "monthly": "1mo", "yearly": "1y"}
_DURATION = re.compile(r"^(\d+)(mo|[smhdwy])$")
_PERIOD_ANCHOR = date(1970, 1, 5)  # a Monday: N-day and N-week blocks start from it
LIFETIME = "lifetime"

SOFT_LIMIT_REACHED = "BUDGET_SOFT_LIMIT_REACHED"
LIMIT_REACHED = "BUDGET_LIMIT_REACHED"


@dataclass(frozen=True)
class BudgetPeriod:
    """The budget period containing a day: ``start`` (None for lifetime) and ``next_start``."""

    start: date | None
    next_start: date | None

    @property
    def label(self) -> str:
        return self.start.isoformat() if self.start else LIFETIME


def period_for(duration: str | None, today: date) -> BudgetPeriod:
    """The budget period of ``duration`` (LiteLLM's ``budget_duration`` syntax) holding today."""
    spec = _ALIASES.get((duration or "").strip().lower(), (duration or "").strip().lower())
    match = _DURATION.match(spec)
    if not match:
        return BudgetPeriod(None, None)
    count, unit = max(1, int(match.group(1))), match.group(2)
    if (count, unit) == (30, "d"):  # LiteLLM resets 30d budgets on the 1st, like monthly
        count, unit = 1, "mo"
    if unit in ("s", "m", "h"):
        return BudgetPeriod(today, today + timedelta(days=1))
    if unit in ("d", "w"):
        length = count * (7 if unit == "w" else 1)
        start = _PERIOD_ANCHOR + timedelta(days=(today - _PERIOD_ANCHOR).days // length * length)
        return BudgetPeriod(start, start + timedelta(days=length))
    if unit == "mo":
        index = (today.year * 12 + today.month - 1) // count * count
        return BudgetPeriod(_month(index), _month(index + count))
    year = today.year // count * count
    return BudgetPeriod(date(year, 1, 1), date(year + count, 1, 1))


def _month(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


def remaining(max_budget: Decimal | None, spend: Decimal | None) -> Decimal | None:
    """What is left of a budget (never negative); None when there is no budget."""
    if max_budget is None:
        return None
    return max(Decimal(0), Decimal(max_budget) - Decimal(spend or 0))


# --- spend refresh (called by the rollup, inside its final transaction) -------------------


def refresh_spend(today: date, live_key_spend: dict[str, Decimal]) -> dict[str, int]:
    """Set users/teams/api_keys ``spend`` for their current period; returns rows changed.

    Keys take LiteLLM's own counter (``live_key_spend`` by token) when the rollup read it; LiteLLM
    enforces the key budget against that value. Otherwise, like users and teams, the sum of
    ``usage_daily`` over the period.
    """
    changed = {
        "users": _refresh_from_usage(User, UsageDaily.user_id, today),
        "teams": _refresh_from_usage(Team, UsageDaily.team_id, today),
        "apiKeys": _refresh_from_usage(ApiKey, UsageDaily.api_key_id, today,
                                       exclude_hashes=list(live_key_spend)),
    }
    changed["apiKeys"] += _apply_live_key_spend(live_key_spend)
    return changed


def _refresh_from_usage(owner, usage_column, today: date, exclude_hashes=()) -> int:
    changed = 0
    durations = db.session.scalars(select(owner.budget_duration).distinct()).all()
    for duration in durations:
        period = period_for(duration, today)
        period_spend = select(func.round(func.coalesce(func.sum(UsageDaily.spend), 0), 6)).where(
            usage_column == owner.id
        )
        if period.start is not None:
            period_spend = period_spend.where(UsageDaily.day >= period.start)
        period_spend = period_spend.scalar_subquery()
        same_duration = (owner.budget_duration.is_(None) if duration is None
                         else owner.budget_duration == duration)
        stmt = update(owner).where(same_duration, owner.spend != period_spend)
        if exclude_hashes:
            stmt = stmt.where(owner.key_hash.not_in(exclude_hashes))
        changed += db.session.execute(
            stmt.values(spend=period_spend).execution_options(synchronize_session=False)
        ).rowcount
    return changed


def _apply_live_key_spend(live_key_spend: dict[str, Decimal]) -> int:
    if not live_key_spend:
        return 0
    return db.session.execute(_LIVE_KEY_SPEND, {
        "tokens": list(live_key_spend),
        # ROUND_HALF_UP: the same rounding as PostgreSQL's round() for the usage sums.
        "spends": [spend.quantize(Decimal("0.000001"), ROUND_HALF_UP)
                   for spend in live_key_spend.values()],
    }).rowcount


_LIVE_KEY_SPEND = text("""
    UPDATE api_keys SET spend = live.spend, updated_at = now()
    FROM unnest(CAST(:tokens AS text[]), CAST(:spends AS numeric[])) AS live(token, spend)
    WHERE api_keys.key_hash = live.token AND api_keys.spend <> live.spend
""")


# --- crossings ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Crossing:
    action: str
    resource_type: str
    resource_id: uuid.UUID
    period: BudgetPeriod
    spend: Decimal
    limit: Decimal
    duration: str | None


def record_crossings(today: date) -> int:
    """Audit every budget reached this period that was not recorded yet; returns how many."""
    crossings = [*_crossings(User, "user", today), *_crossings(Team, "team", today),
                 *_crossings(ApiKey, "api_key", today)]
    if not crossings:
        return 0
    recorded = _already_recorded(crossings)
    new = [c for c in crossings
           if (c.action, c.resource_type, str(c.resource_id), c.period.label) not in recorded]
    for crossing in new:
        audit.record(crossing.action, crossing.resource_type, crossing.resource_id,
                     details=_details(crossing))
    if new:
        log.info("recorded %d budget crossings", len(new))
    return len(new)


def _crossings(owner, resource_type: str, today: date) -> list[Crossing]:
    hard = owner.max_budget
    if owner is User:  # a user without a budget of their own is held to the default one
        hard = func.coalesce(User.max_budget, enforced_user_budget(None))
    limits = [(LIMIT_REACHED, hard)]
    if owner is ApiKey:
        limits.append((SOFT_LIMIT_REACHED, owner.soft_budget))
    found = []
    for action, limit in limits:
        stmt = select(owner.id, owner.spend, limit, owner.budget_duration).where(
            limit.is_not(None), owner.spend >= limit)
        if owner is ApiKey:
            stmt = stmt.where(ApiKey.revoked_at.is_(None))
        for resource_id, spend, budget, duration in db.session.execute(stmt):
            found.append(Crossing(action, resource_type, resource_id,
                                  period_for(duration, today), spend, budget, duration))
    return found


def _already_recorded(crossings: list[Crossing]) -> set[tuple[str, str, str, str]]:
    wanted = {(c.action, c.resource_type, str(c.resource_id)) for c in crossings}
    period = AuditLog.details["period"].astext
    rows = db.session.execute(
        select(AuditLog.action, AuditLog.resource_type, AuditLog.resource_id, period).where(
            AuditLog.action.in_([SOFT_LIMIT_REACHED, LIMIT_REACHED]),
            tuple_(AuditLog.action, AuditLog.resource_type, AuditLog.resource_id).in_(
                [tuple_(literal(a), literal(t), cast(literal(i), String)) for a, t, i in wanted]
            ),
        )
    )
    return {tuple(row) for row in rows}


def _details(crossing: Crossing) -> dict[str, Any]:
    return {
        "period": crossing.period.label,
        "periodEnd": crossing.period.next_start.isoformat() if crossing.period.next_start
        else None,
        "budgetDuration": crossing.duration,
        "spend": str(crossing.spend),
        "budget": str(crossing.limit),
        "kind": "soft" if crossing.action == SOFT_LIMIT_REACHED else "hard",
    }


def enforced_user_budget(max_budget: Decimal | None) -> Decimal:
    """The budget LiteLLM holds a user to: their own, else ``DEFAULT_USER_MAX_BUDGET`` (which
    provisioning pushes to LiteLLM for users without one)."""
    if max_budget is not None:
        return Decimal(max_budget)
    return Decimal(str(current_app.config["DEFAULT_USER_MAX_BUDGET"]))


def user_budget(user_id: uuid.UUID | None, today: date) -> dict[str, Any]:
    """The caller's budget, spend of the current period and what is left of it."""
    user = db.session.get(User, user_id) if user_id else None
    if user is None:
        raise NotFound("This identity has no user budget", {"resource": "user"})
    period = period_for(user.budget_duration, today)
    enforced = enforced_user_budget(user.max_budget)
    from app.services.budget_alerts import forecast_for  # it builds on this module

    return {
        "forecast": forecast_for("user", user.id, user.spend, enforced, user.budget_duration,
                                 today),
        "max_budget": enforced, "max_budget_source": "user" if user.max_budget is not None
        else "default", "current_spend": user.spend,
        "remaining_budget": remaining(enforced, user.spend),
        "budget_duration": user.budget_duration,
        "period_start": period.start.isoformat() if period.start else None,
        "budget_reset_at": period.next_start.isoformat() if period.next_start else None,
    }
