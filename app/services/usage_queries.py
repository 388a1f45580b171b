"""Usage answers: totals, time series and breakdowns aggregated in SQL from ``usage_daily`` and
``usage_daily_totals`` only, never LiteLLM (DESIGN §9).

Queries scoped to a user, team or key read ``usage_daily`` through its (user|team|key, day)
indexes; the others read ``usage_daily_totals`` (per day, model and provider, as of the last
finished rollup), so an admin view over months sums a few thousand rows whatever the traffic.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Date,
    DateTime,
    Select,
    Table,
    asc,
    cast,
    desc,
    func,
    literal_column,
    select,
)

from app.api.pagination import paginate
from app.auth.identity import Identity
from app.errors import NotFound, ValidationError
from app.extensions import db
from app.models import ApiKey, Team, UsageDaily, UsageDailyTotal, User
from app.services.usage_rollup import MAX_RANGE_DAYS, utc_today, validate_range

METRICS = ("requests", "successful_requests", "failed_requests", "prompt_tokens",
           "completion_tokens", "total_tokens", "spend")
DEFAULT_RANGE_DAYS = 30
INTERVALS = ("day", "week", "month")
SORT_FIELDS = {"spend": "spend", "requests": "requests", "totalTokens": "total_tokens",
               "promptTokens": "prompt_tokens", "completionTokens": "completion_tokens",
               "name": "name"}
NO_USER = uuid.UUID(int=0)  # "own usage" of an identity without a user: matches no row

ROWS: Table = UsageDaily.__table__
TOTALS: Table = UsageDailyTotal.__table__


@dataclass(frozen=True)
class UsageFilter:
    start: date
    end: date
    user_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    model_id: str | None = None
    provider: str | None = None

    @property
    def table(self) -> Table:
        """usage_daily when a user, team or key is asked for; the daily totals otherwise."""
        return ROWS if (self.user_id or self.team_id or self.api_key_id) else TOTALS

    def conditions(self, table: Table | None = None) -> list:
        table = self.table if table is None else table
        conditions = [table.c.day.between(self.start, self.end)]
        for name in ("user_id", "team_id", "api_key_id", "model_id", "provider"):
            value = getattr(self, name)
            if value is not None:
                conditions.append(table.c[name] == value)
        return conditions

    def period(self) -> dict[str, str]:
        return {"start_date": self.start.isoformat(), "end_date": self.end.isoformat()}

    def params(self) -> dict[str, Any]:
        """JSON-able form (job params), read back by ``from_params``."""
        return {name: str(value) for name, value in (
            ("startDate", self.start), ("endDate", self.end), ("userId", self.user_id),
            ("teamId", self.team_id), ("apiKeyId", self.api_key_id), ("modelId", self.model_id),
            ("provider", self.provider)) if value is not None}

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> UsageFilter:
        def ident(name: str) -> uuid.UUID | None:
            return uuid.UUID(params[name]) if params.get(name) else None

        return cls(date.fromisoformat(params["startDate"]), date.fromisoformat(params["endDate"]),
                   ident("userId"), ident("teamId"), ident("apiKeyId"), params.get("modelId"),
                   params.get("provider"))


def date_range(start: date | None, end: date | None, max_days: int = MAX_RANGE_DAYS,
               today: date | None = None) -> tuple[date, date]:
    """The asked range with defaults (the last 30 days; 30 days up to ``end``; ``start`` to
    today), refused (400) when reversed, longer than ``max_days`` or after tomorrow."""
    today = today or utc_today()
    end = end or (min(start + timedelta(days=DEFAULT_RANGE_DAYS - 1), today) if start else today)
    start = start or end - timedelta(days=DEFAULT_RANGE_DAYS - 1)
    if end > today + timedelta(days=1):
        raise ValidationError("endDate is in the future", {"endDate": end.isoformat(),
                                                           "today": today.isoformat()},
                              code="INVALID_DATE_RANGE")
    validate_range(start, end, max_days)
    return start, end


def usage_filter(query: dict[str, Any], **scope: Any) -> UsageFilter:
    """A filter from validated query fields (snake_case) plus a forced scope (e.g. user_id)."""
    start, end = date_range(query.get("start_date"), query.get("end_date"))
    fields = {name: query.get(name) for name in
              ("user_id", "team_id", "api_key_id", "model_id", "provider")}
    return UsageFilter(start, end, **{**fields, **scope})


def own_filter(identity: Identity, query: dict[str, Any]) -> UsageFilter:
    """The caller's own usage; an ``apiKeyId`` of someone else's key is a 404. A user's API
    key used as the credential sees its own usage only."""
    user_id = identity.user_id or NO_USER
    key_id = query.get("api_key_id")
    if identity.credential == "api_key":
        if key_id is not None and key_id != identity.api_key_id:
            raise NotFound.resource("api_key", key_id)
        query = {**query, "api_key_id": identity.api_key_id}
        key_id = identity.api_key_id
    if key_id is not None and db.session.scalar(
            select(ApiKey.id).where(ApiKey.id == key_id, ApiKey.user_id == user_id)) is None:
        raise NotFound.resource("api_key", key_id)
    return usage_filter({**query, "team_id": None, "provider": None}, user_id=user_id)


# --- aggregates ---------------------------------------------------------------------------


def _sums(table: Table) -> list:
    return [func.coalesce(func.sum(table.c[name]), 0).label(name) for name in METRICS]


def metrics_of(row: Any) -> dict[str, Any]:
    """The metrics of a result row (or mapping), with the success rate in percent."""
    mapping = getattr(row, "_mapping", row)
    values = {name: mapping[name] for name in METRICS}
    values["spend"] = Decimal(values["spend"])
    requests = values["requests"]
    values["success_rate"] = (round(100 * values["successful_requests"] / requests, 2)
                              if requests else None)
    return values


def totals(usage: UsageFilter) -> dict[str, Any]:
    table = usage.table
    row = db.session.execute(select(*_sums(table)).where(*usage.conditions())).one()
    return metrics_of(row)


def user_summary(usage: UsageFilter) -> dict[str, Any]:
    """Totals of one user's usage, with how many models and keys were used."""
    counts = db.session.execute(
        select(func.count(func.distinct(ROWS.c.model_id)),
               func.count(func.distinct(ROWS.c.api_key_hash))).where(*usage.conditions(ROWS))
    ).one()
    return {"period": usage.period(), "totals": totals(usage), "active_models": counts[0],
            "active_api_keys": counts[1]}


def admin_summary(usage: UsageFilter) -> dict[str, Any]:
    """Totals across everyone (or one user, team or key), with models and providers used."""
    table = usage.table
    counts = db.session.execute(
        select(func.count(func.distinct(table.c.model_id)),
               func.count(func.distinct(table.c.provider))).where(*usage.conditions())
    ).one()
    return {"period": usage.period(), "totals": totals(usage), "active_models": counts[0],
            "active_providers": counts[1]}


def timeseries(usage: UsageFilter, interval: str) -> dict[str, Any]:
    """Buckets of ``interval`` (ISO weeks start on Monday) over the range, empty ones included."""
    if interval not in INTERVALS:
        raise ValidationError(f"interval must be one of {', '.join(INTERVALS)}",
                              {"interval": interval})
    table = usage.table
    bucket = cast(func.date_trunc(interval, cast(table.c.day, DateTime)), Date).label("bucket")
    rows = db.session.execute(
        select(bucket, *_sums(table)).where(*usage.conditions()).group_by(bucket)
    ).all()
    found = {row.bucket: metrics_of(row) for row in rows}
    empty = metrics_of(dict.fromkeys(METRICS, 0))
    points = []
    for start, end in _buckets(usage.start, usage.end, interval):
        points.append({"period": start.isoformat(),
                       "start_date": max(start, usage.start).isoformat(),
                       "end_date": min(end, usage.end).isoformat(),
                       "metrics": found.get(start, empty)})
    return {"period": usage.period(), "interval": interval, "data": points}


def _buckets(start: date, end: date, interval: str) -> list[tuple[date, date]]:
    current = _bucket_start(start, interval)
    buckets = []
    while current <= end:
        following = _next_bucket(current, interval)
        buckets.append((current, following - timedelta(days=1)))
        current = following
    return buckets


def _bucket_start(day: date, interval: str) -> date:
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return day


def _next_bucket(start: date, interval: str) -> date:
    if interval == "week":
        return start + timedelta(days=7)
    if interval == "month":
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start + timedelta(days=1)


# --- breakdowns ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    page: int = 1
    limit: int = 20
    sort_by: str = "spend"
    sort_order: str = "desc"


def by_model(usage: UsageFilter, page: Page) -> dict[str, Any]:
    table = usage.table
    stmt = select(table.c.model_id, func.max(table.c.provider).label("provider"),
                  table.c.model_id.label("name"), *_sums(table)).group_by(table.c.model_id)
    return _page(stmt.where(*usage.conditions()), page, table.c.model_id,
                 lambda row: {"model_id": row.model_id, "provider": row.provider})


def by_provider(usage: UsageFilter, page: Page) -> dict[str, Any]:
    table = usage.table
    stmt = select(table.c.provider, table.c.provider.label("name"),
                  func.count(func.distinct(table.c.model_id)).label("models"), *_sums(table))
    return _page(stmt.where(*usage.conditions()).group_by(table.c.provider), page,
                 table.c.provider,
                 lambda row: {"provider": row.provider, "models": row.models})


def by_user(usage: UsageFilter, page: Page) -> dict[str, Any]:
    stmt = (
        select(ROWS.c.user_id, User.username, User.email, User.username.label("name"),
               func.count(func.distinct(ROWS.c.api_key_hash)).label("api_keys"), *_sums(ROWS))
        .select_from(ROWS).outerjoin(User, User.id == ROWS.c.user_id)
        .where(*usage.conditions(ROWS)).group_by(ROWS.c.user_id, User.username, User.email)
    )
    return _page(stmt, page, ROWS.c.user_id, lambda row: {
        "user_id": row.user_id, "username": row.username, "email": row.email,
        "api_keys": row.api_keys})


def by_team(usage: UsageFilter, page: Page) -> dict[str, Any]:
    stmt = (
        select(ROWS.c.team_id, Team.name.label("team_name"), Team.name.label("name"),
               func.count(func.distinct(ROWS.c.user_id)).label("users"), *_sums(ROWS))
        .select_from(ROWS).outerjoin(Team, Team.id == ROWS.c.team_id)
        .where(*usage.conditions(ROWS)).group_by(ROWS.c.team_id, Team.name)
    )
    return _page(stmt, page, ROWS.c.team_id, lambda row: {
        "team_id": row.team_id, "team_name": row.team_name, "users": row.users})


def _page(stmt: Select, page: Page, tie_breaker, identity_of) -> dict[str, Any]:
    column = literal_column(SORT_FIELDS[page.sort_by])
    direction = desc if page.sort_order == "desc" else asc
    stmt = stmt.order_by(direction(column).nulls_last(), asc(tie_breaker).nulls_last())
    result = paginate(stmt, page.page, page.limit, scalars=False)
    result["data"] = [{**identity_of(row), "metrics": metrics_of(row)} for row in result["data"]]
    return result
