"""Usage, analytics, rollup and export on the wire (contract §5.6, §5.11), camelCase.

Every figure set is one ``UsageMetrics`` object; spend is a JSON number with the database's 8
decimal places. Dates are ISO ``YYYY-MM-DD`` (UTC days, as LiteLLM records them).
"""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from app.schemas.base import CamelSchema, page_of
from app.services.usage_queries import INTERVALS, SORT_FIELDS

MODEL_ID = validate.Length(min=1, max=255)
PROVIDER = validate.Length(min=1, max=64)


# --- input --------------------------------------------------------------------------------


class DateRangeQuerySchema(CamelSchema):
    start_date = ma.fields.Date(metadata={
        "description": "First day (UTC), inclusive. Default: 29 days before endDate"})
    end_date = ma.fields.Date(metadata={
        "description": "Last day (UTC), inclusive. Default: today. At most 366 days in all"})


class UsageQuerySchema(DateRangeQuerySchema):
    """Your own usage: optionally one of your keys and/or one model."""

    api_key_id = ma.fields.UUID(metadata={"description": "One of your API keys (else 404)"})
    model_id = ma.fields.String(validate=MODEL_ID)


class AdminUsageQuerySchema(DateRangeQuerySchema):
    user_id = ma.fields.UUID()
    team_id = ma.fields.UUID()
    api_key_id = ma.fields.UUID()
    model_id = ma.fields.String(validate=MODEL_ID)
    provider = ma.fields.String(validate=PROVIDER)


class IntervalMixin(ma.Schema):
    interval = ma.fields.String(load_default="day", validate=validate.OneOf(INTERVALS),
                                metadata={"description": "Bucket size; weeks start on Monday"})


class BreakdownMixin(ma.Schema):
    page = ma.fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    limit = ma.fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    sort_by = ma.fields.String(load_default="spend", validate=validate.OneOf(list(SORT_FIELDS)))
    sort_order = ma.fields.String(load_default="desc", validate=validate.OneOf(["asc", "desc"]))


class UsageTimeseriesQuerySchema(UsageQuerySchema, IntervalMixin):
    pass


class UsageBreakdownQuerySchema(UsageQuerySchema, BreakdownMixin):
    pass


class AdminTimeseriesQuerySchema(AdminUsageQuerySchema, IntervalMixin):
    pass


class AdminBreakdownQuerySchema(AdminUsageQuerySchema, BreakdownMixin):
    pass


class RollupRequestSchema(DateRangeQuerySchema):
    """Without dates: the scheduled window. With dates: recompute exactly that range."""


class AdminFiltersSchema(ma.Schema):
    """The admin usage page's multi-selects (any of each; empty or absent: no filter)."""

    user_ids = ma.fields.List(ma.fields.UUID(), validate=validate.Length(max=100))
    model_ids = ma.fields.List(ma.fields.String(validate=MODEL_ID),
                               validate=validate.Length(max=100))
    provider_ids = ma.fields.List(ma.fields.String(validate=PROVIDER),
                                  validate=validate.Length(max=50))
    api_key_ids = ma.fields.List(ma.fields.String(validate=validate.Length(min=1, max=255)),
                                 validate=validate.Length(max=100), metadata={
                                     "description": "Keys by id or LiteLLM key alias (of the "
                                                    "selected users when some are)"})


class ExportRequestSchema(AdminUsageQuerySchema, AdminFiltersSchema):
    format = ma.fields.String(load_default="csv", validate=validate.OneOf(["csv", "json"]))


# --- output -------------------------------------------------------------------------------


class PeriodSchema(CamelSchema):
    start_date = ma.fields.String(required=True)
    end_date = ma.fields.String(required=True)


class UsageMetricsSchema(CamelSchema):
    requests = ma.fields.Integer(required=True)
    successful_requests = ma.fields.Integer(required=True)
    failed_requests = ma.fields.Integer(required=True)
    success_rate = ma.fields.Float(allow_none=True, metadata={
        "description": "Percent of requests that succeeded (null without requests)"})
    prompt_tokens = ma.fields.Integer(required=True)
    completion_tokens = ma.fields.Integer(required=True)
    total_tokens = ma.fields.Integer(required=True)
    spend = ma.fields.Decimal(as_string=False, required=True,
                              metadata={"description": "USD, as LiteLLM charged it"})


class UserUsageSummarySchema(CamelSchema):
    period = ma.fields.Nested(PeriodSchema, required=True)
    totals = ma.fields.Nested(UsageMetricsSchema, required=True)
    active_models = ma.fields.Integer(required=True)
    active_api_keys = ma.fields.Integer(required=True)


class AdminUsageSummarySchema(CamelSchema):
    period = ma.fields.Nested(PeriodSchema, required=True)
    totals = ma.fields.Nested(UsageMetricsSchema, required=True)
    active_models = ma.fields.Integer(required=True)
    active_providers = ma.fields.Integer(required=True)


class TimeseriesPointSchema(CamelSchema):
    period = ma.fields.String(required=True, metadata={"description": "The bucket's first day"})
    start_date = ma.fields.String(required=True)
    end_date = ma.fields.String(required=True)
    metrics = ma.fields.Nested(UsageMetricsSchema, required=True)


class TimeseriesSchema(CamelSchema):
    period = ma.fields.Nested(PeriodSchema, required=True)
    interval = ma.fields.String(required=True)
    data = ma.fields.List(ma.fields.Nested(TimeseriesPointSchema), required=True)


class ModelUsageSchema(CamelSchema):
    model_id = ma.fields.String(required=True)
    provider = ma.fields.String(allow_none=True)
    metrics = ma.fields.Nested(UsageMetricsSchema, required=True)


class ProviderUsageSchema(CamelSchema):
    provider = ma.fields.String(allow_none=True)
    models = ma.fields.Integer(required=True)
    metrics = ma.fields.Nested(UsageMetricsSchema, required=True)


class UserUsageSchema(CamelSchema):
    user_id = ma.fields.UUID(allow_none=True, metadata={
        "description": "null for usage of users deleted since"})
    username = ma.fields.String(allow_none=True)
    email = ma.fields.String(allow_none=True)
    api_keys = ma.fields.Integer(required=True)
    metrics = ma.fields.Nested(UsageMetricsSchema, required=True)


class TeamUsageSchema(CamelSchema):
    team_id = ma.fields.UUID(allow_none=True, metadata={
        "description": "null for usage of keys outside any team"})
    team_name = ma.fields.String(allow_none=True)
    users = ma.fields.Integer(required=True)
    metrics = ma.fields.Nested(UsageMetricsSchema, required=True)


ModelUsagePageSchema = page_of(ModelUsageSchema)
ProviderUsagePageSchema = page_of(ProviderUsageSchema)
UserUsagePageSchema = page_of(UserUsageSchema)
TeamUsagePageSchema = page_of(TeamUsageSchema)


class BudgetSchema(CamelSchema):
    max_budget = ma.fields.Decimal(as_string=False, allow_none=True, metadata={
        "description": "The budget LiteLLM enforces: the user's own, else the platform default"})
    max_budget_source = ma.fields.String(validate=ma.validate.OneOf(("user", "default")),
                                         metadata={"description": "user: set for this user; "
                                                   "default: DEFAULT_USER_MAX_BUDGET"})
    current_spend = ma.fields.Decimal(as_string=False, required=True, metadata={
        "description": "Spend of the current budget period, from the last usage rollup"})
    remaining_budget = ma.fields.Decimal(as_string=False, allow_none=True)
    budget_duration = ma.fields.String(allow_none=True)
    period_start = ma.fields.String(allow_none=True, metadata={
        "description": "First day of the current budget period (null: lifetime budget)"})
    budget_reset_at = ma.fields.String(allow_none=True, metadata={
        "description": "First day of the next budget period"})
    forecast = ma.fields.Dict(metadata={
        "description": "Run-out forecast from the recent daily spend: runsOutOn, "
                       "runsOutBeforeReset, dailyRate, remaining, summary, and the method"})


# --- the web UI's dashboard and export (upstream LiteMaaS shapes) --------------------------


class AnalyticsRequestSchema(CamelSchema):
    """``POST /usage/analytics``: the UI's filters; you are always the user."""

    start_date = ma.fields.Date(required=True)
    end_date = ma.fields.Date(required=True)
    model_ids = ma.fields.List(ma.fields.String(validate=MODEL_ID),
                               validate=validate.Length(max=100))
    provider_ids = ma.fields.List(ma.fields.String(validate=PROVIDER),
                                  validate=validate.Length(max=50))
    api_key_ids = ma.fields.List(ma.fields.String(validate=validate.Length(min=1, max=255)),
                                 validate=validate.Length(max=100), metadata={
                                     "description": "Your keys, by id or LiteLLM key alias"})


class UsageExportQuerySchema(CamelSchema):
    """``GET /usage/export``: your own usage as a file (the UI sends ``modelIds[]`` etc.)."""

    format = ma.fields.String(load_default="csv", validate=validate.OneOf(["csv", "json"]))
    start_date = ma.fields.Date()
    end_date = ma.fields.Date()
    model_ids = ma.fields.List(ma.fields.String(validate=MODEL_ID), data_key="modelIds[]",
                               validate=validate.Length(max=100))
    provider_ids = ma.fields.List(ma.fields.String(validate=PROVIDER), data_key="providerIds[]",
                                  validate=validate.Length(max=50))
    api_key_ids = ma.fields.List(ma.fields.String(validate=validate.Length(min=1, max=255)),
                                 data_key="apiKeyIds[]", validate=validate.Length(max=100))


class AdminAnalyticsRequestSchema(CamelSchema, AdminFiltersSchema):
    """``POST /admin/usage/analytics``: a date range and the page's filters."""

    start_date = ma.fields.Date(required=True)
    end_date = ma.fields.Date(required=True)


class RefreshTodaySchema(CamelSchema):
    message = ma.fields.String(required=True)
    refreshed_at = ma.fields.String(required=True)
    status = ma.fields.String(required=True)
    job_id = ma.fields.UUID(required=True)
    links = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())


class _WireSchema(ma.Schema):
    """Field names are the wire names (upstream mixes camelCase and snake_case here)."""


class TokenBreakdownSchema(_WireSchema):
    total = ma.fields.Integer(required=True)
    prompt = ma.fields.Integer(required=True)
    completion = ma.fields.Integer(required=True)


class CostBreakdownSchema(_WireSchema):
    total = ma.fields.Float(required=True)
    byProvider = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Float(),
                                required=True)
    byModel = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Float(),
                             required=True)


class _CountsSchema(_WireSchema):
    requests = ma.fields.Integer(required=True)
    tokens = ma.fields.Integer(required=True)
    prompt_tokens = ma.fields.Integer(required=True)
    completion_tokens = ma.fields.Integer(required=True)
    cost = ma.fields.Float(required=True)


class DailyUsageSchema(_CountsSchema):
    date = ma.fields.String(required=True)


class ModelSummarySchema(_CountsSchema):
    modelId = ma.fields.String(required=True)
    modelName = ma.fields.String(required=True)
    provider = ma.fields.String(required=True)


class UserSummarySchema(_CountsSchema):
    userId = ma.fields.String(required=True)
    username = ma.fields.String(required=True)
    email = ma.fields.String(required=True)
    role = ma.fields.String(required=True)


class DailyModelUsageSchema(_WireSchema):
    date = ma.fields.String(required=True)
    models = ma.fields.List(ma.fields.Nested(ModelSummarySchema), required=True)


class TrendSchema(_WireSchema):
    metric = ma.fields.String(required=True)
    current = ma.fields.Float(required=True)
    previous = ma.fields.Float(required=True)
    percentageChange = ma.fields.Float(required=True)
    direction = ma.fields.String(required=True,
                                 validate=validate.OneOf(["up", "down", "stable"]))


class TrendsSchema(_WireSchema):
    requestsTrend = ma.fields.Nested(TrendSchema, required=True)
    costTrend = ma.fields.Nested(TrendSchema, required=True)
    usersTrend = ma.fields.Nested(TrendSchema, required=True)
    totalTokensTrend = ma.fields.Nested(TrendSchema, required=True)
    promptTokensTrend = ma.fields.Nested(TrendSchema, required=True)
    completionTokensTrend = ma.fields.Nested(TrendSchema, required=True)


class TopMetricsSchema(_WireSchema):
    topUser = ma.fields.Nested(UserSummarySchema, allow_none=True)
    topModel = ma.fields.Nested(ModelSummarySchema, allow_none=True)
    topApiKey = ma.fields.Dict(allow_none=True)


class WirePeriodSchema(_WireSchema):
    startDate = ma.fields.String(required=True)
    endDate = ma.fields.String(required=True)


class AnalyticsSchema(_WireSchema):
    period = ma.fields.Nested(WirePeriodSchema, required=True)
    totalUsers = ma.fields.Integer(required=True)
    activeUsers = ma.fields.Integer(required=True)
    totalRequests = ma.fields.Integer(required=True)
    totalTokens = ma.fields.Nested(TokenBreakdownSchema, required=True)
    totalCost = ma.fields.Nested(CostBreakdownSchema, required=True)
    successRate = ma.fields.Float(required=True)
    averageLatency = ma.fields.Float(required=True, metadata={
        "description": "Not recorded by the rollup: always 0"})
    topMetrics = ma.fields.Nested(TopMetricsSchema, required=True)
    trends = ma.fields.Nested(TrendsSchema, required=True)
    dailyUsage = ma.fields.List(ma.fields.Nested(DailyUsageSchema), required=True)
    dailyModelUsage = ma.fields.List(ma.fields.Nested(DailyModelUsageSchema),
                                     required=True)
    topModels = ma.fields.List(ma.fields.Nested(ModelSummarySchema), required=True)
    topUsers = ma.fields.List(ma.fields.Nested(UserSummarySchema), required=True)


class FilterOptionsQuerySchema(DateRangeQuerySchema):
    pass


class FilterModelSchema(CamelSchema):
    id = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    provider = ma.fields.String(required=True)


class FilterUserSchema(CamelSchema):
    user_id = ma.fields.UUID(required=True)
    username = ma.fields.String(required=True)
    email = ma.fields.String(allow_none=True)


class FilterOptionsSchema(CamelSchema):
    models = ma.fields.List(ma.fields.Nested(FilterModelSchema), required=True)
    users = ma.fields.List(ma.fields.Nested(FilterUserSchema), required=True)
