"""Usage answers: totals, time series and breakdowns aggregated in SQL from ``usage_daily`` and
``usage_daily_totals`` only, never LiteLLM (DESIGN §9).

Queries scoped to a user, team or key read ``usage_daily`` through its (user|team|key, day)
indexes; the others read ``usage_daily_totals`` (per day, model and provider, as of the last
finished rollup), so an admin view over months sums a few thousand rows whatever the traffic.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
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
    or_,
    select,
    tuple_,
)

from app.auth.identity import Identity
from app.errors import NotFound, ValidationError
from app.extensions import db
from app.models import ApiKey, Team, UsageDaily, UsageDailyTotal, User
from app.services.listing import paginate
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
    # any-of filters (the web UI's multi-selects); empty: no filter
    model_ids: tuple[str, ...] = ()
    provider_ids: tuple[str, ...] = ()
    api_key_ids: tuple[uuid.UUID, ...] = ()
    user_ids: tuple[uuid.UUID, ...] = ()

    @property
    def scoped(self) -> bool:
        """Whether a user, team or key is asked for (only usage_daily can answer)."""
        return bool(self.user_id or self.team_id or self.api_key_id or self.api_key_ids
                    or self.user_ids)

    @property
    def table(self) -> Table:
        """usage_daily when a user, team or key is asked for; the daily totals otherwise."""
        return ROWS if self.scoped else TOTALS

    def conditions(self, table: Table | None = None) -> list:
        table = self.table if table is None else table
        conditions = [table.c.day.between(self.start, self.end)]
        for name in ("user_id", "team_id", "api_key_id", "model_id", "provider"):
            value = getattr(self, name)
            if value is not None:
                conditions.append(table.c[name] == value)
        for name, column in (("model_ids", "model_id"), ("provider_ids", "provider"),
                             ("api_key_ids", "api_key_id"), ("user_ids", "user_id")):
            if getattr(self, name):
                conditions.append(table.c[column].in_(getattr(self, name)))
        return conditions

    def period(self) -> dict[str, str]:
        return {"start_date": self.start.isoformat(), "end_date": self.end.isoformat()}

    def params(self) -> dict[str, Any]:
        """JSON-able form (job params), read back by ``from_params``."""
        single = {name: str(value) for name, value in (
            ("startDate", self.start), ("endDate", self.end), ("userId", self.user_id),
            ("teamId", self.team_id), ("apiKeyId", self.api_key_id), ("modelId", self.model_id),
            ("provider", self.provider)) if value is not None}
        lists = {name: [str(value) for value in values] for name, values in (
            ("userIds", self.user_ids), ("modelIds", self.model_ids),
            ("providerIds", self.provider_ids), ("apiKeyIds", self.api_key_ids)) if values}
        return {**single, **lists}

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> UsageFilter:
        def ident(name: str) -> uuid.UUID | None:
            return uuid.UUID(params[name]) if params.get(name) else None

        def idents(name: str) -> tuple[uuid.UUID, ...]:
            return tuple(uuid.UUID(value) for value in params.get(name) or ())

        return cls(date.fromisoformat(params["startDate"]), date.fromisoformat(params["endDate"]),
                   ident("userId"), ident("teamId"), ident("apiKeyId"), params.get("modelId"),
                   params.get("provider"), model_ids=tuple(params.get("modelIds") or ()),
                   provider_ids=tuple(params.get("providerIds") or ()),
                   api_key_ids=idents("apiKeyIds"), user_ids=idents("userIds"))


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


# --- the web UI's dashboard (POST /usage/analytics) -----------------------------------------


def own_analytics_filter(identity: Identity, query: dict[str, Any]) -> UsageFilter:
    """The caller's usage narrowed by the UI's multi-selects; ``apiKeyIds`` are the caller's
    keys by id or LiteLLM alias (as upstream sends them); anyone else's is a 404."""
    user_id = identity.user_id or NO_USER
    start, end = date_range(query["start_date"], query["end_date"])
    key_ids = own_key_ids(user_id, query.get("api_key_ids") or ())
    if identity.credential == "api_key":  # a user's API key sees its own usage only
        if any(key_id != identity.api_key_id for key_id in key_ids):
            raise NotFound("Some API keys are not this key", {"resource": "api_key"})
        key_ids = (identity.api_key_id,)
    return UsageFilter(start, end, user_id=user_id,
                       model_ids=tuple(sorted(set(query.get("model_ids") or ()))),
                       provider_ids=tuple(sorted(set(query.get("provider_ids") or ()))),
                       api_key_ids=key_ids)


def own_key_ids(user_id: uuid.UUID, wanted: list[str] | tuple[str, ...]) -> tuple[uuid.UUID, ...]:
    return key_ids_of(wanted, (user_id,), "Some API keys are not yours")


def key_ids_of(wanted: list[str] | tuple[str, ...], owners: tuple[uuid.UUID, ...] = (),
               refusal: str = "Some API keys are unknown") -> tuple[uuid.UUID, ...]:
    """Key ids of keys named by id or LiteLLM alias (of ``owners`` when given); any other
    name is a 404."""
    wanted = sorted(set(wanted))
    if not wanted:
        return ()
    ids = [value for value in (_uuid_or_none(w) for w in wanted) if value is not None]
    stmt = select(ApiKey.id, ApiKey.key_alias).where(
        or_(ApiKey.id.in_(ids), ApiKey.key_alias.in_(wanted)))
    if owners:
        stmt = stmt.where(ApiKey.user_id.in_(owners))
    rows = db.session.execute(stmt).all()
    known = {str(key_id) for key_id, _ in rows} | {alias for _, alias in rows}
    unknown = [value for value in wanted if value not in known]
    if unknown:
        raise NotFound(refusal, {"resource": "api_key", "apiKeyIds": unknown[:20]})
    return tuple(sorted({key_id for key_id, _ in rows}, key=str))


def admin_analytics_filter(query: dict[str, Any]) -> UsageFilter:
    """Everyone's usage narrowed by the single filters (userId, teamId, apiKeyId, modelId,
    provider) and the admin page's multi-selects: users, models, providers and keys (by id
    or LiteLLM alias, of the selected users when some are)."""
    user_ids = tuple(sorted(set(query.get("user_ids") or ()), key=str))
    return replace(usage_filter(query), user_ids=user_ids,
                   model_ids=tuple(sorted(set(query.get("model_ids") or ()))),
                   provider_ids=tuple(sorted(set(query.get("provider_ids") or ()))),
                   api_key_ids=key_ids_of(query.get("api_key_ids") or (), user_ids))


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def analytics(usage: UsageFilter, user: User | None) -> dict[str, Any]:
    """One user's dashboard, shaped as upstream LiteMaaS answers it: totals, the trend of each
    against the previous period of the same length, cost by model and provider, per day, per
    day and model, and top models. Two queries on the (user, day) index."""
    body, now, before = _dashboard(usage)
    active = 1 if now.requests else 0
    user_summary = None
    if user is not None and now.requests:
        user_summary = _user_summary(user.id, user.username, user.email, _role(user), now)
    body.update({
        "totalUsers": active, "activeUsers": active,
        "topUsers": [user_summary] if user_summary else [],
    })
    body["topMetrics"]["topUser"] = user_summary
    body["trends"]["usersTrend"] = trend("users", active, 1 if before["requests"] else 0)
    return body


TOP_USERS = 5  # upstream's admin dashboard lists five


def admin_analytics(usage: UsageFilter) -> dict[str, Any]:
    """Everyone's dashboard (the admin usage page): the user's figures plus active users, the
    top users and the top key, and the users trend. Totals, days and models come from the
    daily totals unless a user or key is asked for; people and keys from the rows."""
    body, _, _ = _dashboard(usage)
    users, top_key = _people(usage)
    before = _previous(usage)
    active = [entry for entry in users.values() if entry["figures"].requests]
    ranked = sorted(active, key=lambda e: (-e["figures"].spend, -e["figures"].requests,
                                           e["username"] or ""))
    top = [_user_summary(e["user_id"], e["username"], e["email"], e["role"], e["figures"])
           for e in ranked[:TOP_USERS]]
    previous_active = db.session.scalar(
        select(func.count(func.distinct(ROWS.c.user_id)))
        .where(*before.conditions(ROWS), ROWS.c.requests > 0)) or 0
    body.update({"totalUsers": len(users), "activeUsers": len(active), "topUsers": top})
    body["topMetrics"]["topUser"] = top[0] if top else None
    body["topMetrics"]["topApiKey"] = top_key
    body["trends"]["usersTrend"] = trend("users", len(active), previous_active)
    return body


def _previous(usage: UsageFilter) -> UsageFilter:
    """The period of the same length just before, with the same filters."""
    days = (usage.end - usage.start).days + 1
    return replace(usage, start=usage.start - timedelta(days=days),
                   end=usage.start - timedelta(days=1))


def _people(usage: UsageFilter) -> tuple[dict[Any, dict[str, Any]], dict[str, Any] | None]:
    """Per user (with name, email, role and figures) and the top key, from one pass over the
    rows summed per user and key and per user (grouping sets)."""
    user, key = ROWS.c.user_id, ROWS.c.api_key_id
    rows = db.session.execute(
        select(user, key, func.grouping(user, key).label("grouping"), *_sums(ROWS))
        .where(*usage.conditions(ROWS)).group_by(func.grouping_sets(tuple_(user, key),
                                                                    tuple_(user)))).all()
    per_user = [row for row in rows if row.grouping == 1]
    keys = [row for row in rows if row.grouping == 0 and row.api_key_id is not None]
    people = {row.id: row for row in db.session.execute(
        select(User.id, User.username, User.email, User.roles)
        .where(User.id.in_({row.user_id for row in per_user if row.user_id is not None})))}
    users: dict[Any, dict[str, Any]] = {}
    for row in per_user:
        person = people.get(row.user_id)
        users[row.user_id] = {
            "user_id": row.user_id, "username": person.username if person else None,
            "email": person.email if person else None,
            "role": _role_of(person.roles if person else ()), "figures": row}
    if not keys:
        return users, None
    top = min(keys, key=lambda row: (-row.spend, -row.requests, str(row.api_key_id)))
    names = db.session.execute(select(ApiKey.name, ApiKey.key_alias)
                               .where(ApiKey.id == top.api_key_id)).one_or_none()
    person = people.get(top.user_id)
    return users, {"keyId": str(top.api_key_id),
                   "keyAlias": (names.key_alias or names.name) if names else "",
                   "keyName": names.name if names else "",
                   "userId": str(top.user_id) if top.user_id else "",
                   "username": person.username if person else "",
                   "requests": top.requests, "tokens": top.total_tokens,
                   "cost": float(top.spend)}


# func.grouping(day, model_id, provider) of each grouping set of _dashboard's query (a bit is
# set for each column the set leaves out)
DAY_MODEL, DAY, MODEL, PROVIDER = 0b001, 0b011, 0b101, 0b110


def _dashboard(usage: UsageFilter) -> tuple[dict[str, Any], _Tally, dict[str, Any]]:
    """What a user's and the admin dashboard share: totals, trends (but users'), cost by
    model and provider, per day, per day and model, top models. One query on ``usage.table``
    summing per day and model, per day, per model and per provider at once (grouping sets),
    and one for the previous period's totals."""
    days = (usage.end - usage.start).days + 1
    before = totals(_previous(usage))
    table = usage.table
    day, model, provider = table.c.day, table.c.model_id, table.c.provider
    rows = db.session.execute(
        select(day, model, provider, func.grouping(day, model, provider).label("grouping"),
               func.max(provider).label("model_provider"), *_sums(table))
        .where(*usage.conditions())
        .group_by(func.grouping_sets(tuple_(day, model), tuple_(day), tuple_(model),
                                     tuple_(provider)))
        .order_by(day, model)).all()
    now = _Tally()
    per_day: dict[date, dict[str, Any]] = {}
    per_day_model: dict[date, list[dict[str, Any]]] = {}
    per_model: list[dict[str, Any]] = []
    cost_by_provider: dict[str, float] = {}
    for row in rows:
        if row.grouping == DAY_MODEL:
            per_day_model.setdefault(row.day, []).append(
                _model_summary(row.model_id, row.model_provider, row))
        elif row.grouping == DAY:
            now.add(row)
            per_day[row.day] = _counts(row)
        elif row.grouping == MODEL:
            per_model.append(_model_summary(row.model_id, row.model_provider, row))
        elif row.grouping == PROVIDER:
            name = row.provider or "unknown"
            cost_by_provider[name] = cost_by_provider.get(name, 0.0) + float(row.spend)
    top_models = sorted(per_model, key=lambda m: (-m["cost"], -m["requests"], m["modelId"]))
    empty = _counts(_Tally())
    body = {
        "period": {"startDate": usage.start.isoformat(), "endDate": usage.end.isoformat()},
        "totalRequests": now.requests,
        "totalTokens": {"total": now.total, "prompt": now.prompt,
                        "completion": now.completion},
        "totalCost": {"total": float(now.spend), "byProvider": cost_by_provider,
                      "byModel": {m["modelId"]: m["cost"] for m in per_model}},
        "successRate": round(100 * now.successful / now.requests, 2) if now.requests else 0,
        "averageLatency": 0,
        "topMetrics": {"topUser": None, "topModel": top_models[0] if top_models else None,
                       "topApiKey": None},
        "trends": {
            "requestsTrend": trend("requests", now.requests, before["requests"]),
            "costTrend": trend("cost", float(now.spend), float(before["spend"])),
            "totalTokensTrend": trend("totalTokens", now.total, before["total_tokens"]),
            "promptTokensTrend": trend("promptTokens", now.prompt, before["prompt_tokens"]),
            "completionTokensTrend": trend("completionTokens", now.completion,
                                           before["completion_tokens"]),
        },
        "dailyUsage": [{"date": day.isoformat(), **per_day.get(day, empty)}
                       for day in (usage.start + timedelta(days=n) for n in range(days))],
        "dailyModelUsage": [{"date": day.isoformat(), "models": models}
                            for day, models in sorted(per_day_model.items())],
        "topModels": top_models[:10],
    }
    return body, now, before


TREND_STABLE_PERCENT = 1.0  # upstream's default stability threshold


def trend(metric: str, current: float, previous: float) -> dict[str, Any]:
    """Upstream's trend: percent change against the previous period; within ±1 % is stable;
    from nothing to something is +100 %."""
    if not previous:
        change = 100.0 if current else 0.0
    else:
        change = round(100.0 * (float(current) - float(previous)) / float(previous), 2)
    direction = ("stable" if abs(change) <= TREND_STABLE_PERCENT
                 else "up" if change > 0 else "down")
    return {"metric": metric, "current": current, "previous": previous,
            "percentageChange": change, "direction": direction}


class _Tally:
    __slots__ = ("completion", "prompt", "requests", "spend", "successful", "total")

    def __init__(self) -> None:
        self.requests = self.successful = self.prompt = self.completion = self.total = 0
        self.spend = Decimal(0)

    def add(self, row: Any) -> _Tally:
        self.requests += row.requests
        self.successful += row.successful_requests
        self.prompt += row.prompt_tokens
        self.completion += row.completion_tokens
        self.total += row.total_tokens
        self.spend += Decimal(row.spend)
        return self


def _counts(figures: Any) -> dict[str, Any]:
    """The UI's counts of a tally or of a result row of ``_sums``."""
    if isinstance(figures, _Tally):
        return {"requests": figures.requests, "tokens": figures.total,
                "prompt_tokens": figures.prompt, "completion_tokens": figures.completion,
                "cost": float(figures.spend)}
    return {"requests": figures.requests, "tokens": figures.total_tokens,
            "prompt_tokens": figures.prompt_tokens,
            "completion_tokens": figures.completion_tokens, "cost": float(figures.spend)}


def _model_summary(model_id: str, provider: str | None, figures: Any) -> dict[str, Any]:
    return {"modelId": model_id, "modelName": model_id, "provider": provider or "unknown",
            **_counts(figures)}


def _role(user: User) -> str:
    return _role_of(user.roles)


def _role_of(roles) -> str:
    roles = list(roles or [])
    return next((role for role in ("admin", "admin-readonly") if role in roles), "user")


def _user_summary(user_id, username: str | None, email: str | None, role: str,
                  figures: Any) -> dict[str, Any]:
    return {"userId": str(user_id) if user_id else "", "username": username or "(unknown)",
            "email": email or "", "role": role, **_counts(figures)}


def filter_options(identity: Identity, start: date | None, end: date | None) -> dict[str, Any]:
    """Models (and users) with usage in the range, for the UI's filter menus: everyone's for
    admins and readonly admins, the caller's own for anyone else."""
    start, end = date_range(start, end)
    if identity.can_read_all:
        models = db.session.execute(
            select(TOTALS.c.model_id, func.max(TOTALS.c.provider))
            .where(TOTALS.c.day.between(start, end)).group_by(TOTALS.c.model_id)
            .order_by(TOTALS.c.model_id)).all()
        users = db.session.execute(
            select(User.id, User.username, User.email).where(User.id.in_(
                select(ROWS.c.user_id).where(ROWS.c.day.between(start, end)).distinct()))
            .order_by(User.username)).all()
    else:  # a user's API key: its own usage only
        own = UsageFilter(start, end, user_id=identity.user_id or NO_USER,
                          api_key_ids=((identity.api_key_id,)
                                       if identity.credential == "api_key" else ()))
        models = db.session.execute(
            select(ROWS.c.model_id, func.max(ROWS.c.provider)).where(*own.conditions(ROWS))
            .group_by(ROWS.c.model_id).order_by(ROWS.c.model_id)).all()
        users = db.session.execute(select(User.id, User.username, User.email)
                                   .where(User.id == own.user_id)).all()
    return {"models": [{"id": model, "name": model, "provider": provider or "unknown"}
                       for model, provider in models],
            "users": [{"user_id": user_id, "username": username, "email": email}
                      for user_id, username, email in users]}
