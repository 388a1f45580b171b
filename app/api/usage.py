"""Your own usage and spend (contract §5.6), answered from the daily rollup, never LiteLLM."""

from __future__ import annotations

from flask import Response, stream_with_context
from flask.views import MethodView

from app.api.base import Blueprint, wire_json
from app.auth.identity import authenticate
from app.extensions import db
from app.models import User
from app.schemas.usage import (
    AnalyticsRequestSchema,
    AnalyticsSchema,
    BudgetSchema,
    ModelUsagePageSchema,
    TimeseriesSchema,
    UsageBreakdownQuerySchema,
    UsageExportQuerySchema,
    UsageQuerySchema,
    UsageTimeseriesQuerySchema,
    UserUsageSummarySchema,
)
from app.services import budgets, exports, usage_queries
from app.services.usage_queries import Page
from app.services.usage_rollup import utc_today

blp = Blueprint("usage", __name__, url_prefix="/usage",
                description="Your own usage and spend, from the daily usage rollup")

PAGE_FIELDS = ("page", "limit", "sort_by", "sort_order")


@blp.route("/summary")
class Summary(MethodView):
    @blp.auth("usage:read")
    @blp.arguments(UsageQuerySchema, location="query")
    @blp.response(200, UserUsageSummarySchema)
    @blp.alt_response(404, response="NOT_FOUND", description="apiKeyId is not one of yours")
    def get(self, query):
        """Your totals over a date range (default: the last 30 days), for one key or model."""
        return usage_queries.user_summary(usage_queries.own_filter(authenticate(), query))


@blp.route("/timeseries")
class Timeseries(MethodView):
    @blp.auth("usage:read")
    @blp.arguments(UsageTimeseriesQuerySchema, location="query")
    @blp.response(200, TimeseriesSchema)
    @blp.alt_response(404, response="NOT_FOUND", description="apiKeyId is not one of yours")
    def get(self, query):
        """Your usage per day, week (from Monday) or month; empty buckets included."""
        usage = usage_queries.own_filter(authenticate(), query)
        return usage_queries.timeseries(usage, query["interval"])


@blp.route("/models")
class Models(MethodView):
    @blp.auth("usage:read")
    @blp.arguments(UsageBreakdownQuerySchema, location="query")
    @blp.response(200, ModelUsagePageSchema)
    @blp.alt_response(404, response="NOT_FOUND", description="apiKeyId is not one of yours")
    def get(self, query):
        """Your usage per model (sortBy spend, requests, tokens or name)."""
        usage = usage_queries.own_filter(authenticate(), query)
        return usage_queries.by_model(usage, Page(**{f: query[f] for f in PAGE_FIELDS}))


@blp.route("/budget")
class Budget(MethodView):
    @blp.auth("usage:read")
    @blp.response(200, BudgetSchema)
    @blp.alt_response(404, response="NOT_FOUND", description="Admin API keys have no budget")
    def get(self):
        """Your budget, the spend of its current period and what is left."""
        return budgets.user_budget(authenticate().user_id, utc_today())


@blp.route("/analytics", methods=["POST"])
@blp.auth("usage:read")
@blp.arguments(AnalyticsRequestSchema)
@blp.response(200, AnalyticsSchema)
@blp.alt_response(404, response="NOT_FOUND", description="apiKeyIds not all yours")
def analytics(body):
    """Your dashboard (the web UI's usage page): totals, the trend of each against the
    previous period of the same length, cost by model and provider, per day and per day and
    model, top models. Filters: models, providers, your keys (id or LiteLLM key alias)."""
    identity = authenticate()
    usage = usage_queries.own_analytics_filter(identity, body)
    user = db.session.get(User, identity.user_id) if identity.user_id else None
    return wire_json(usage_queries.analytics(usage, user))


@blp.route("/export", methods=["GET"])
@blp.auth("usage:read")
@blp.arguments(UsageExportQuerySchema, location="query")
@blp.response(200, content_type="text/csv",
              description="The file, streamed as an attachment (CSV, or JSON with format=json)")
@blp.alt_response(404, response="NOT_FOUND", description="apiKeyIds not all yours")
def export_own(query):
    """Your own usage rows (one per day, key and model) as CSV or JSON, sent at once (the
    web UI's export; admins export everyone's with `POST /admin/usage/export`, a job)."""
    identity = authenticate()
    usage = usage_queries.own_analytics_filter(identity, {
        **query, "start_date": query.get("start_date"), "end_date": query.get("end_date")})
    fmt = query["format"]
    return Response(stream_with_context(exports.stream(fmt, usage)),
                    mimetype=exports.FORMATS[fmt],
                    headers={"Content-Disposition": "attachment; filename="
                             f"{exports.download_name(fmt, usage)}",
                             "Cache-Control": "no-store"})
