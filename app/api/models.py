"""The model catalogue (public), admin edits, and the sync with LiteLLM (jobs, stats, health).

Model ids are LiteLLM model names and may hold slashes, dots and colons
(``anthropic.claude-3-sonnet-20240229-v1:0``, ``meta-llama/Llama-3.1-8B``), hence the ``path``
converter. The fixed routes (``/sync``, ``/sync/stats``, ``/validate``, ``/health``) take
precedence over it.
"""

from __future__ import annotations

from flask.views import MethodView

from app.api.base import Blueprint
from app.api.jobs import accepted
from app.auth.identity import authenticate
from app.auth.permissions import PUBLIC
from app.schemas.base import JobAcceptedSchema
from app.schemas.models import (
    CatalogModelDetailSchema,
    ModelListQuerySchema,
    ModelPageSchema,
    ModelPatchSchema,
    ModelsHealthSchema,
    SyncRequestSchema,
    SyncStatsQuerySchema,
    SyncStatsSchema,
    ValidateReportSchema,
)
from app.services import model_sync, read_cache
from app.services import models as catalogue
from app.services.listing import paginate

blp = Blueprint("models", __name__, url_prefix="/models", description="Model catalogue and sync")


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

        def page():
            found = paginate(catalogue.list_query(query), query["page"], query["limit"])
            last_success = catalogue.last_success_at()
            found["data"] = [catalogue.view(model, last_success) for model in found["data"]]
            return ModelPageSchema().dump(found)

        return read_cache.json_response("catalogue", query, page)


@blp.route("/sync")
class Sync(MethodView):
    @blp.auth("models:sync")
    @blp.arguments(SyncRequestSchema, required=False)
    @blp.response(202, JobAcceptedSchema)
    def post(self, body):
        """Queue a model sync with LiteLLM. While one is queued or running, its job is
        answered (same job id)."""
        job, _ = model_sync.request_sync(authenticate().user_id,
                                         force=(body or {}).get("force_update", False))
        return accepted(job)


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
        return catalogue.detail_view(catalogue.get(model_id))

    @blp.auth("models:write")
    @blp.arguments(ModelPatchSchema)
    @blp.response(200, CatalogModelDetailSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def patch(self, body, model_id: str):
        """Edit what a sync never overwrites: description and the restricted flag. Opening a
        model grants its pending requests (not the editing admin's own); restricting it sends
        subscriptions no admin reviewed back to pending."""
        return catalogue.detail_view(catalogue.update(model_id, body, authenticate()))
