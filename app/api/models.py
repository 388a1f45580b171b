"""The model catalogue (public), admin edits, and the sync with LiteLLM (jobs, stats, health).

Model ids are LiteLLM model names and may hold slashes, dots and colons
(``anthropic.claude-3-sonnet-20240229-v1:0``, ``meta-llama/Llama-3.1-8B``), hence the ``path``
converter. The fixed routes (``/sync``, ``/sync/stats``, ``/validate``, ``/health``) take
precedence over it.
"""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView

from app.api.base import Blueprint
from app.api.jobs import accepted, waited
from app.auth.identity import authenticate, peek_identity
from app.auth.permissions import PUBLIC
from app.errors import AppError
from app.models import ACTIVE_JOB_STATUSES
from app.schemas.models import (
    CatalogModelDetailSchema,
    ModelListQuerySchema,
    ModelPageSchema,
    ModelPatchSchema,
    ModelsHealthSchema,
    SyncAnswerSchema,
    SyncRequestSchema,
    SyncStatsQuerySchema,
    SyncStatsSchema,
    ValidateReportSchema,
    model_page_wire,
)
from app.services import model_sync, read_cache
from app.services import models as catalogue


class SyncFailed(AppError):
    status, code = 502, "SYNC_FAILED"


blp = Blueprint("models", __name__, url_prefix="/models", description="Model catalogue and sync")


def _reads_all() -> bool:
    """Whether the (optional) caller is an admin or readonly admin: they also see apiBase."""
    identity = peek_identity()
    return identity is not None and identity.can_read_all


@blp.route("")
class Models(MethodView):
    @blp.auth(PUBLIC)
    @blp.arguments(ModelListQuerySchema, location="query")
    @blp.response(200, ModelPageSchema)
    def get(self, query):
        """The catalogue: search, provider, capability, availability (default available) and
        restricted filters; sort by name, provider, contextLength, inputCost, outputCost,
        createdAt or updatedAt (``-`` for descending). Answers are cached per query until the
        catalogue changes (``ETag``; ``If-None-Match`` gives 304)."""

        admin = _reads_all()
        # admins' answers (with apiBase) are cached apart from everyone else's
        return read_cache.json_response(
            "catalogue", {**query, "_admin": admin},
            lambda: model_page_wire(catalogue.list_page(query, admin)))


@blp.route("/sync")
class Sync(MethodView):
    @blp.auth("models:sync")
    @blp.arguments(SyncRequestSchema, required=False)
    @blp.response(202, SyncAnswerSchema)
    @blp.alt_response(200, schema=SyncAnswerSchema,
                      description="The sync finished within MODEL_SYNC_WAIT_SECONDS: counts")
    @blp.alt_response(502, response="BAD_GATEWAY",
                      description="The sync failed within the wait (SYNC_FAILED, jobId)")
    def post(self, body):
        """Queue a model sync with LiteLLM (while one is queued or running, its job is
        answered: same job id), then wait up to ``MODEL_SYNC_WAIT_SECONDS`` for it: 200 with
        the job id and the counts the web UI shows (``totalModels``, ``newModels``,
        ``updatedModels``, ``unavailableModels``, ``errors``, ``syncedAt``) when it finished,
        202 with the job id otherwise (at once with ``Prefer: respond-async``)."""
        job, _ = model_sync.request_sync(authenticate().user_id,
                                         force=(body or {}).get("force_update", False))
        answer, status, headers = accepted(job)
        finished = waited(job, current_app.config["MODEL_SYNC_WAIT_SECONDS"])
        if finished.status in ACTIVE_JOB_STATUSES:
            return answer, status, headers
        if finished.status != "succeeded":
            raise SyncFailed(f"The model sync {finished.status}: "
                             f"{(finished.error or {}).get('message', 'see the job')}",
                             {"jobId": str(finished.id)})
        return {**answer, "status": finished.status,
                **model_sync.ui_counts(finished)}, 200, headers


@blp.route("/sync/stats")
@blp.auth("authenticated")
@blp.arguments(SyncStatsQuerySchema, location="query")
@blp.response(200, SyncStatsSchema)
def sync_stats(query):
    """Catalogue totals, the last run, the last successful run and recent runs."""
    return catalogue.sync_stats(query["history"])


@blp.route("/validate")
@blp.auth("models:validate")
@blp.response(200, ValidateReportSchema)
def validate():
    """Integrity report: subscriptions and live API keys on unavailable models, available
    models without pricing, stale sync."""
    return catalogue.validate_report()


@blp.route("/health")
@blp.auth(PUBLIC)
@blp.response(200, ModelsHealthSchema)
def health():
    """Sync health: healthy, degraded or unhealthy from the age of the last successful sync,
    the last run's outcome and whether LiteLLM answers."""
    return catalogue.health_report()


@blp.route("/<path:model_id>")
class ModelById(MethodView):
    @blp.auth(PUBLIC)
    @blp.response(200, CatalogModelDetailSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, model_id: str):
        """One model, whatever its availability."""
        return catalogue.detail_view(catalogue.get(model_id), _reads_all())

    @blp.auth("models:write")
    @blp.arguments(ModelPatchSchema)
    @blp.response(200, CatalogModelDetailSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def patch(self, body, model_id: str):
        """Edit what a sync never overwrites: description and the restricted flag. Opening a
        model grants its pending requests (not the editing admin's own); restricting it sends
        subscriptions no admin reviewed back to pending."""
        return catalogue.detail_view(catalogue.update(model_id, body, authenticate()))
