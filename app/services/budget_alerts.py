"""Budget thresholds with a run-out forecast, and the budget period ledger (issue 19).

A sweep (beat, after the usage rollup has refreshed ``spend``) fires each threshold of
``BUDGET_ALERT_THRESHOLDS`` at most once per owner and budget period: the ``budget_alerts``
row *is* the once-ness (a unique constraint, ``INSERT … ON CONFLICT DO NOTHING``), so reruns,
restarts and two beats racing cannot fire twice. Each new alert notifies the owner (a key's
owner; for teams the team owners and the admins) with a forecast.

The forecast: the mean daily spend over the last ``BUDGET_FORECAST_WINDOW_DAYS`` days up to
today (never before the period's first day), and the budget left divided by that rate, rounded
up to whole days: ``runsOutOn = today + ceil(remaining / rate)``.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, func, select, text

from app.extensions import db
from app.models import ApiKey, BudgetAlert, BudgetPeriodLedger, Team, TeamMember, UsageDaily, User
from app.services import audit, notifications
from app.services.budgets import BudgetPeriod, period_for

log = logging.getLogger(__name__)

SWEEP_KIND = "budget_sweep"  # app/services/job_kinds.py

OWNERS = {"user": (User, "users", UsageDaily.user_id),
          "team": (Team, "teams", UsageDaily.team_id),
          "api_key": (ApiKey, "api_keys", UsageDaily.api_key_id)}
_EXTRA = {"user": "o.is_active", "team": "true",
          "api_key": "o.revoked_at IS NULL AND o.provisioning_state = 'active'"}


def thresholds() -> list[int]:
    values = sorted({int(v) for v in current_app.config["BUDGET_ALERT_THRESHOLDS"]})
    return [v for v in values if 0 < v <= 1000]


def _budget_expr(owner_type: str) -> str:
    return "COALESCE(o.max_budget, :default_budget)" if owner_type == "user" else "o.max_budget"


# -- the forecast -----------------------------------------------------------------------------


def forecast(spend: Decimal, budget: Decimal, daily_spend: dict[date, Decimal], today: date,
             period: BudgetPeriod, window_days: int) -> dict[str, Any]:
    """When the budget runs out at the recent daily rate, and how that was computed."""
    start = today - timedelta(days=max(1, window_days) - 1)
    if period.start is not None and period.start > start:
        start = period.start
    days = (today - start).days + 1
    window_spend = sum((v for d, v in daily_spend.items() if start <= d <= today), Decimal(0))
    rate = window_spend / days
    remaining = max(Decimal(0), Decimal(budget) - Decimal(spend))
    runs_out: date | None
    if remaining == 0:
        runs_out, days_left = today, 0
    elif rate > 0:
        days_left = math.ceil(remaining / rate)
        runs_out = today + timedelta(days=days_left)
    else:
        runs_out, days_left = None, None
    resets = period.next_start
    before_reset = runs_out is not None and (resets is None or runs_out < resets)
    if runs_out is None:
        summary = "No spend in the recent days: no run-out forecast"
    elif remaining == 0:
        summary = "The budget is used up"
    elif before_reset:
        summary = f"At this rate the budget runs out on {runs_out.isoformat()}"
    else:
        summary = (f"At this rate the budget lasts until it resets on {resets.isoformat()}"
                   if resets else f"At this rate the budget runs out on {runs_out.isoformat()}")
    return {
        "runsOutOn": runs_out.isoformat() if runs_out else None,
        "runsOutBeforeReset": before_reset, "resetsOn": resets.isoformat() if resets else None,
        "daysLeft": days_left, "dailyRate": str(rate.quantize(Decimal("0.000001"))),
        "remaining": str(remaining), "summary": summary,
        "method": {"name": "mean_daily_spend", "windowStart": start.isoformat(),
                   "windowEnd": today.isoformat(), "windowDays": days,
                   "windowSpend": str(window_spend),
                   "formula": "runsOutOn = today + ceil(remaining / (windowSpend / windowDays))"},
    }


def daily_spend(owner_type: str, owner_ids: list[uuid.UUID], since: date,
                today: date) -> dict[uuid.UUID, dict[date, Decimal]]:
    column = OWNERS[owner_type][2]
    found: dict[uuid.UUID, dict[date, Decimal]] = defaultdict(dict)
    if not owner_ids:
        return found
    rows = db.session.execute(
        select(column, UsageDaily.day, func.sum(UsageDaily.spend))
        .where(column.in_(owner_ids), UsageDaily.day >= since, UsageDaily.day <= today)
        .group_by(column, UsageDaily.day))
    for owner_id, day, spend in rows:
        found[owner_id][day] = Decimal(spend)
    return found


def forecast_for(owner_type: str, owner_id: uuid.UUID, spend: Decimal, budget: Decimal,
                 duration: str | None, today: date) -> dict[str, Any]:
    window = current_app.config["BUDGET_FORECAST_WINDOW_DAYS"]
    series = daily_spend(owner_type, [owner_id], today - timedelta(days=window), today)
    return forecast(spend, budget, series.get(owner_id, {}), today, period_for(duration, today),
                    window)


# -- the sweep --------------------------------------------------------------------------------


def sweep(today: date, progress: Callable[[int, str], None] | None = None) -> dict[str, Any]:
    """Fire new thresholds, keep the ledger, notify; one commit, then the deliveries publish."""
    levels = thresholds()
    default_budget = Decimal(str(current_app.config["DEFAULT_USER_MAX_BUDGET"]))
    fired: dict[str, list] = {}
    ledger = {"opened": 0, "closed": 0}
    for step, owner_type in enumerate(OWNERS):
        model = OWNERS[owner_type][0]
        ledger["closed"] += _close_periods(owner_type, today)
        fired[owner_type] = []
        for duration in db.session.scalars(select(model.budget_duration).distinct()).all():
            period = period_for(duration, today)
            fired[owner_type] += _fire(owner_type, duration, period, levels, default_budget)
            if period.start is not None:
                ledger["opened"] += _open_periods(owner_type, duration, period, default_budget)
        if progress:
            progress(10 + 25 * step, f"{owner_type}: {len(fired[owner_type])} new alerts")
    made = []
    for owner_type, alerts in fired.items():
        made += _announce(owner_type, alerts, today)
    counts = {owner_type: len(alerts) for owner_type, alerts in fired.items()}
    if any(counts.values()):
        audit.record("BUDGET_ALERTS_FIRED", "budget", None,
                     details={"alerts": counts, "thresholds": levels})
    db.session.commit()  # the delivery jobs are published after it
    return {"alerts": counts, "alertsFired": sum(counts.values()), "ledger": ledger,
            "deliveries": len(made), "thresholds": levels, "day": today.isoformat()}


def _fire(owner_type: str, duration: str | None, period: BudgetPeriod, levels: list[int],
          default_budget: Decimal) -> list:
    table, budget = OWNERS[owner_type][1], _budget_expr(owner_type)
    same = "o.budget_duration IS NULL" if duration is None else "o.budget_duration = :duration"
    stmt = text(f"""
        INSERT INTO budget_alerts (owner_type, owner_id, period, threshold, spend, budget)
        SELECT :owner_type, o.id, :period, t.pct, o.spend, {budget}
        FROM {table} o CROSS JOIN unnest(CAST(:levels AS int[])) AS t(pct)
        WHERE {same} AND {_EXTRA[owner_type]} AND {budget} > 0
          AND o.spend * 100 >= {budget} * t.pct
        ON CONFLICT ON CONSTRAINT uq_budget_alerts_once DO NOTHING
        RETURNING id, owner_id, threshold, spend, budget, :duration_out AS duration
    """)
    return db.session.execute(stmt, {
        "owner_type": owner_type, "period": period.label, "levels": levels,
        "duration": duration, "duration_out": duration, "default_budget": default_budget,
    }).all()


def _open_periods(owner_type: str, duration: str, period: BudgetPeriod,
                  default_budget: Decimal) -> int:
    table, budget = OWNERS[owner_type][1], _budget_expr(owner_type)
    return db.session.execute(text(f"""
        INSERT INTO budget_periods (owner_type, owner_id, budget_duration, period_start,
                                    reset_at, budget)
        SELECT :owner_type, o.id, :duration, :start, :reset_at, {budget}
        FROM {table} o
        WHERE o.budget_duration = :duration AND {_EXTRA[owner_type]} AND {budget} IS NOT NULL
        ON CONFLICT ON CONSTRAINT uq_budget_periods_owner_start DO NOTHING
    """), {"owner_type": owner_type, "duration": duration, "start": period.start,
           "reset_at": period.next_start, "default_budget": default_budget}).rowcount


def _close_periods(owner_type: str, today: date) -> int:
    column = {"user": "user_id", "team": "team_id", "api_key": "api_key_id"}[owner_type]
    return db.session.execute(text(f"""
        UPDATE budget_periods bp SET closed_at = now(), spend_at_close = COALESCE((
            SELECT round(sum(u.spend), 6) FROM usage_daily u
            WHERE u.{column} = bp.owner_id AND u.day >= bp.period_start AND u.day < bp.reset_at
        ), 0)
        WHERE bp.owner_type = :owner_type AND bp.closed_at IS NULL AND bp.reset_at <= :today
    """), {"owner_type": owner_type, "today": today}).rowcount


def _announce(owner_type: str, alerts: list, today: date) -> list:
    if not alerts:
        return []
    window = current_app.config["BUDGET_FORECAST_WINDOW_DAYS"]
    series = daily_spend(owner_type, list({a.owner_id for a in alerts}),
                         today - timedelta(days=window), today)
    names, recipients = _owners(owner_type, list({a.owner_id for a in alerts}))
    items, forecasts = [], []
    for alert in alerts:
        outlook = forecast(alert.spend, alert.budget, series.get(alert.owner_id, {}), today,
                           period_for(alert.duration, today), window)
        forecasts.append({"alert_id": alert.id, "forecast": outlook})
        name = names.get(alert.owner_id, str(alert.owner_id))
        label = {"user": "Your budget", "team": f"Team {name}'s budget",
                 "api_key": f"The budget of key {name}"}[owner_type]
        notice = notifications.Notice(
            event="budget.threshold",
            severity="critical" if alert.threshold >= 100 else "warning",
            title=f"{label} is {alert.threshold}% used",
            body=f"{label} has reached {alert.threshold}% ({alert.spend} of {alert.budget}). "
                 f"{outlook['summary']}.",
            data={"ownerType": owner_type, "ownerId": str(alert.owner_id), "ownerName": name,
                  "threshold": alert.threshold, "spend": str(alert.spend),
                  "budget": str(alert.budget), "budgetDuration": alert.duration,
                  "forecast": outlook, "alertId": str(alert.id)})
        items.append((notice, recipients.get(alert.owner_id, set()), f"budget:{alert.id}"))
    table = BudgetAlert.__table__
    db.session.execute(table.update().where(table.c.id == bindparam("alert_id"))
                       .values(forecast=bindparam("forecast")), forecasts)
    return notifications.notify_many(items)


def _owners(owner_type: str, ids: list[uuid.UUID]) -> tuple[dict, dict[uuid.UUID, set]]:
    if owner_type == "user":
        rows = db.session.execute(select(User.id, User.username).where(User.id.in_(ids)))
        names = dict(rows.all())
        return names, {i: {i} for i in names}
    if owner_type == "api_key":
        rows = db.session.execute(select(ApiKey.id, ApiKey.name, ApiKey.user_id)
                                  .where(ApiKey.id.in_(ids))).all()
        return {r.id: r.name for r in rows}, {r.id: {r.user_id} for r in rows}
    names = dict(db.session.execute(select(Team.id, Team.name).where(Team.id.in_(ids))).all())
    admins = set(notifications.admin_user_ids())
    recipients: dict[uuid.UUID, set] = {i: set(admins) for i in names}
    for team_id, user_id in db.session.execute(select(TeamMember.team_id, TeamMember.user_id)
                                               .where(TeamMember.team_id.in_(ids),
                                                      TeamMember.role == "owner")):
        recipients[team_id].add(user_id)
    return names, recipients


# -- reads (admins) ---------------------------------------------------------------------------


def ledger_query(owner_type: str | None = None, owner_id: uuid.UUID | None = None,
                 is_open: bool | None = None):
    stmt = select(BudgetPeriodLedger)
    if owner_type:
        stmt = stmt.where(BudgetPeriodLedger.owner_type == owner_type)
    if owner_id:
        stmt = stmt.where(BudgetPeriodLedger.owner_id == owner_id)
    if is_open is not None:
        stmt = stmt.where(BudgetPeriodLedger.closed_at.is_(None) if is_open
                          else BudgetPeriodLedger.closed_at.is_not(None))
    return stmt.order_by(BudgetPeriodLedger.period_start.desc(), BudgetPeriodLedger.id)


def alerts_query(owner_type: str | None = None, owner_id: uuid.UUID | None = None):
    stmt = select(BudgetAlert)
    if owner_type:
        stmt = stmt.where(BudgetAlert.owner_type == owner_type)
    if owner_id:
        stmt = stmt.where(BudgetAlert.owner_id == owner_id)
    return stmt.order_by(BudgetAlert.fired_at.desc(), BudgetAlert.id)
