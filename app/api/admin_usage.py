"""Usage across users, teams, models and providers (contract §5.11) for admins and readonly
admins, answered from the daily rollup; rollup runs and exports are jobs."""

from __future__ import annotations

from flask.views import MethodView

from app.api.base import Blueprint
from app.api.jobs import accepted
from app.auth.identity import authenticate
from app.schemas.base import JobAcceptedSchema
from app.schemas.usage import (
    AdminBreakdownQuerySchema,
    AdminTimeseriesQuerySchema,
    AdminUsageQuerySchema,
    AdminUsageSummarySchema,
    ExportRequestSchema,
    FilterOptionsQuerySchema,
    FilterOptionsSchema,
    ModelUsagePageSchema,
    ProviderUsagePageSchema,
    RollupRequestSchema,
    TeamUsagePageSchema,
    TimeseriesSchema,
    UserUsagePageSchema,
)
from app.services import exports, usage_queries, usage_rollup
from app.services.usage_queries import Page

blp = Blueprint("admin_usage", __name__, url_prefix="/admin/usage",
                description="Usage analytics across the platform, rollup and exports")

PAGE_FIELDS = ("page", "limit", "sort_by", "sort_order")


def _page(query) -> Page:
    return Page(**{name: query[name] for name in PAGE_FIELDS})


@blp.route("/summary")
class Summary(MethodView):
    @blp.auth("usage:read_all")
    @blp.arguments(AdminUsageQuerySchema, location="query")
    @blp.response(200, AdminUsageSummarySchema)
    def get(self, query):
        """Totals over a date range (default: the last 30 days) with optional filters."""
        return usage_queries.admin_summary(usage_queries.usage_filter(query))


@blp.route("/timeseries")
class Timeseries(MethodView):
    @blp.auth("usage:read_all")
    @blp.arguments(AdminTimeseriesQuerySchema, location="query")
    @blp.response(200, TimeseriesSchema)
    def get(self, query):
        """Usage per day, week (from Monday) or month; empty buckets included."""
        return usage_queries.timeseries(usage_queries.usage_filter(query), query["interval"])


@blp.route("/by-user")
class ByUser(MethodView):
    @blp.auth("usage:read_all")
    @blp.arguments(AdminBreakdownQuerySchema, location="query")
    @blp.response(200, UserUsagePageSchema)
    def get(self, query):
        """Usage per user, paginated (sortBy spend, requests, tokens or name)."""
        return usage_queries.by_user(usage_queries.usage_filter(query), _page(query))


@blp.route("/by-team")
class ByTeam(MethodView):
    @blp.auth("usage:read_all")
    @blp.arguments(AdminBreakdownQuerySchema, location="query")
    @blp.response(200, TeamUsagePageSchema)
    def get(self, query):
        """Usage per team (by the team of each key), paginated."""
        return usage_queries.by_team(usage_queries.usage_filter(query), _page(query))


@blp.route("/by-model")
class ByModel(MethodView):
    @blp.auth("usage:read_all")
    @blp.arguments(AdminBreakdownQuerySchema, location="query")
    @blp.response(200, ModelUsagePageSchema)
    def get(self, query):
        """Usage per model, paginated."""
        return usage_queries.by_model(usage_queries.usage_filter(query), _page(query))


@blp.route("/by-provider")
class ByProvider(MethodView):
    @blp.auth("usage:read_all")
    @blp.arguments(AdminBreakdownQuerySchema, location="query")
    @blp.response(200, ProviderUsagePageSchema)
    def get(self, query):
        """Usage per provider, paginated."""
        return usage_queries.by_provider(usage_queries.usage_filter(query), _page(query))


@blp.route("/rollup")
class Rollup(MethodView):
    @blp.auth("usage:admin")
    @blp.arguments(RollupRequestSchema)
    @blp.response(202, JobAcceptedSchema)
    @blp.alt_response(409, response="CONFLICT",
                      description="A rollup with another range is queued or running")
    def post(self, body):
        """Run the usage rollup now (202 + job); with startDate/endDate, recompute that range
        (backfill, at most 366 days). A rollup already queued or running is returned."""
        job, _ = usage_rollup.request_rollup(body.get("start_date"), body.get("end_date"),
                                             authenticate().user_id)
        return accepted(job)


@blp.route("/export")
class Export(MethodView):
    @blp.auth("usage:export")
    @blp.arguments(ExportRequestSchema)
    @blp.response(202, JobAcceptedSchema)
    def post(self, body):
        """Export usage rows (one per day, user, key and model) as CSV or JSON (202 + job); its
        result links to ``GET /jobs/{id}/download``."""
        usage = usage_queries.usage_filter(body)
        job = exports.request_export(body["format"], usage, authenticate().user_id)
        return accepted(job)


@blp.route("/filter-options")
@blp.auth("usage:read")
@blp.arguments(FilterOptionsQuerySchema, location="query")
@blp.response(200, FilterOptionsSchema)
def filter_options(query):
    """Models and users with usage in the range, for filter menus. Admins and readonly
    admins get everyone's; any other user (the web UI's usage page calls it too) their own."""
    return usage_queries.filter_options(authenticate(), query.get("start_date"),
                                        query.get("end_date"))
