"""Usage across users, teams, models and providers (contract §5.11) for admins and readonly
admins, answered from the daily rollup; rollup runs and exports are jobs."""

from __future__ import annotations

from flask import Response, current_app, jsonify, send_file
from flask.views import MethodView

from app.api.base import Blueprint, wire_json
from app.api.jobs import accepted, waited
from app.auth.identity import authenticate
from app.errors import ServiceUnavailable
from app.models import Job
from app.schemas.base import JobAcceptedSchema
from app.schemas.usage import (
    AdminAnalyticsRequestSchema,
    AdminBreakdownQuerySchema,
    AdminTimeseriesQuerySchema,
    AdminUsageQuerySchema,
    AdminUsageSummarySchema,
    AnalyticsSchema,
    ExportRequestSchema,
    FilterOptionsQuerySchema,
    FilterOptionsSchema,
    ModelUsagePageSchema,
    ProviderUsagePageSchema,
    RefreshTodaySchema,
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


def _waited(job: Job) -> Job:
    return waited(job, current_app.config["UI_JOB_WAIT_SECONDS"])


def _unfinished(job: Job, failure_code: str) -> Response | None:
    """The answer for a job that did not succeed within the wait: 202 with the job while it
    is queued or running; a failed or cancelled one is a 503 naming it."""
    if job.status == "succeeded":
        return None
    if job.status not in ("queued", "running"):
        raise ServiceUnavailable(f"The {job.kind} job did not succeed",
                                 {"jobId": str(job.id), "status": job.status,
                                  "error": job.error or {}}, code=failure_code)
    return _accepted_response(job)


def _accepted_response(job: Job) -> Response:
    body, status, headers = accepted(job)
    response = jsonify(JobAcceptedSchema().dump(body))
    response.status_code = status
    response.headers.update(headers)
    return response


@blp.route("/export")
class Export(MethodView):
    @blp.auth("usage:export")
    @blp.arguments(ExportRequestSchema)
    @blp.response(200, content_type="text/csv", description=(
        "The file (CSV, or JSON with format=json) when the export job finished within the "
        "short wait; its job id is in `X-Job-Id`"))
    @blp.alt_response(202, schema=JobAcceptedSchema, description=(
        "The export job, still running (or `Prefer: respond-async` was sent); its result "
        "links to `GET /jobs/{id}/download`"))
    @blp.alt_response(404, response="NOT_FOUND", description="apiKeyIds names an unknown key")
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE",
                      description="The export job failed within the wait")
    def post(self, body):
        """Export usage rows (one per day, user, key and model) as CSV or JSON, as a job. The
        web UI saves the answer as a file: the file is sent when the job finishes within a
        short wait (`UI_JOB_WAIT_SECONDS`), the job (202) otherwise. Filters: the single ones
        and the admin page's userIds, modelIds, providerIds and apiKeyIds."""
        usage = usage_queries.admin_analytics_filter(body)
        job = _waited(exports.request_export(body["format"], usage, authenticate().user_id))
        unfinished = _unfinished(job, "USAGE_EXPORT_FAILED")
        if unfinished is not None:
            return unfinished
        file = exports.download(job.id, authenticate())
        response = send_file(file.path, mimetype=file.mimetype, as_attachment=True,
                             download_name=file.filename, max_age=0)
        response.headers["X-Job-Id"] = str(job.id)
        response.headers["Cache-Control"] = "no-store"
        return response


@blp.route("/analytics", methods=["POST"])
@blp.auth("usage:read_all")
@blp.arguments(AdminAnalyticsRequestSchema)
@blp.response(200, AnalyticsSchema)
@blp.alt_response(404, response="NOT_FOUND", description="apiKeyIds names an unknown key")
def analytics(body):
    """Everyone's dashboard (the web UI's admin usage page): totals with the trend of each
    against the previous period of the same length, active users, top users, models and key,
    cost by model and provider, per day and per day and model. Filters (any of each): users,
    models, providers, keys (id or LiteLLM key alias)."""
    return wire_json(usage_queries.admin_analytics(usage_queries.admin_analytics_filter(body)))


@blp.route("/refresh-today", methods=["POST"])
@blp.auth("usage:admin")
@blp.response(200, RefreshTodaySchema, description="The rollup finished within the short wait")
@blp.alt_response(202, schema=JobAcceptedSchema, description="The rollup job, still running")
@blp.alt_response(409, response="CONFLICT",
                  description="A rollup of another range (a backfill) is queued or running")
@blp.alt_response(503, response="SERVICE_UNAVAILABLE",
                  description="The rollup failed (LiteLLM unreachable or answering badly)")
def refresh_today():
    """Roll up today's (and yesterday's) usage from LiteLLM now: the usage rollup job, answered
    with its outcome when it finishes within a short wait (`UI_JOB_WAIT_SECONDS`), 202 with
    the job otherwise. A scheduled rollup already queued or running is the one waited for."""
    job, _ = usage_rollup.request_rollup(None, None, authenticate().user_id)
    job = _waited(job)
    unfinished = _unfinished(job, "USAGE_REFRESH_FAILED")
    if unfinished is not None:
        return unfinished
    return {"message": "Current day usage data refreshed successfully",
            "refreshed_at": job.finished_at.isoformat(), "status": "success",
            "job_id": job.id, "links": accepted(job)[0]["links"]}


@blp.route("/filter-options")
@blp.auth("usage:read")
@blp.arguments(FilterOptionsQuerySchema, location="query")
@blp.response(200, FilterOptionsSchema)
def filter_options(query):
    """Models and users with usage in the range, for filter menus. Admins and readonly
    admins get everyone's; any other user (the web UI's usage page calls it too) their own."""
    return usage_queries.filter_options(authenticate(), query.get("start_date"),
                                        query.get("end_date"))
