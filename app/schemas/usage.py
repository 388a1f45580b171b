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


class ExportRequestSchema(AdminUsageQuerySchema):
    format = ma.fields.String(required=True, validate=validate.OneOf(["csv", "json"]))


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
    max_budget = ma.fields.Decimal(as_string=False, allow_none=True)
    current_spend = ma.fields.Decimal(as_string=False, required=True, metadata={
        "description": "Spend of the current budget period, from the last usage rollup"})
    remaining_budget = ma.fields.Decimal(as_string=False, allow_none=True)
    budget_duration = ma.fields.String(allow_none=True)
    period_start = ma.fields.String(allow_none=True, metadata={
        "description": "First day of the current budget period (null: lifetime budget)"})
    budget_reset_at = ma.fields.String(allow_none=True, metadata={
        "description": "First day of the next budget period"})
