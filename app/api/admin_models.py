"""Admin: models created, edited, tested and deleted in LiteLLM (upstream's admin Models page,
``/admin/models``). LiteLLM must run with ``STORE_MODEL_IN_DB=True``."""

from __future__ import annotations

from flask.views import MethodView

from app.api.base import Blueprint
from app.auth.identity import authenticate
from app.schemas.admin_models import (
    AdminModelCreateSchema,
    AdminModelResultSchema,
    AdminModelTestResultSchema,
    AdminModelTestSchema,
    AdminModelUpdateSchema,
)
from app.services import admin_models

blp = Blueprint("admin_models", __name__, url_prefix="/admin/models",
                description="Admin: models in LiteLLM")


def _ref(model) -> dict:
    return {"id": model.id, "model_name": model.id, "litellm_model_id": model.litellm_model_id,
            "restricted_access": model.restricted, "availability": model.availability,
            "created_at": model.created_at, "updated_at": model.updated_at}


@blp.route("")
class AdminModels(MethodView):
    @blp.auth("models:write")
    @blp.arguments(AdminModelCreateSchema)
    @blp.response(201, AdminModelResultSchema)
    @blp.alt_response(409, response="CONFLICT", description="A model of that name exists")
    @blp.alt_response(502, response="BAD_GATEWAY",
                      description="LiteLLM refused (e.g. STORE_MODEL_IN_DB is off)")
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE", description="LiteLLM unreachable")
    def post(self, body):
        """Create a model in LiteLLM (``/model/new``) and in the catalogue at once. The
        provider key is kept encrypted and never returned."""
        model = admin_models.create(body, authenticate())
        return {"success": True, "message": f"Model '{model.id}' created successfully",
                "model": _ref(model), "job_id": None}


@blp.route("/test")
class AdminModelTest(MethodView):
    @blp.auth("models:write")
    @blp.arguments(AdminModelTestSchema)
    @blp.response(200, AdminModelTestResultSchema)
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE", description="LiteLLM unreachable")
    def post(self, body):
        """A real call to the deployment through LiteLLM (``/health/test_connection``):
        ``model_found``, ``auth_error``, ``model_not_found``, ``connection_error``,
        ``timeout``, or ``missing_stored_key`` (no key given and none stored)."""
        return admin_models.test_connection(body, authenticate())


@blp.route("/<path:model_id>")
class AdminModelById(MethodView):
    @blp.auth("models:write")
    @blp.arguments(AdminModelUpdateSchema)
    @blp.response(200, AdminModelResultSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT",
                      description="Not a model of LiteLLM's database (its config file's)")
    @blp.alt_response(502, response="BAD_GATEWAY")
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def put(self, body, model_id: str):
        """Change a model in LiteLLM (``PATCH /model/{id}/update``) and the catalogue;
        ``description`` and ``restrictedAccess`` are LiteMaaS' own (restricting moves active
        subscriptions back to pending and, by ``jobId``, the model out of their keys;
        opening approves pending requests, never the acting admin's own). Only fields that
        differ from the catalogue go to LiteLLM; a model of LiteLLM's config file keeps its
        LiteLLM part (``ignoredFields``; 409 when nothing else was asked)."""
        model, job, ignored = admin_models.update(model_id, body, authenticate())
        message = f"Model '{model_id}' updated successfully"
        if ignored:
            message += (" (it comes from LiteLLM's config file: only its description and "
                        f"restricted access changed; not changed: {', '.join(ignored)})")
        return {"success": True, "message": message, "model": _ref(model),
                "job_id": job.id if job is not None else None, "ignored_fields": ignored}

    @blp.auth("models:write")
    @blp.response(200, AdminModelResultSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(502, response="BAD_GATEWAY")
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def delete(self, model_id: str):
        """Delete a model from LiteLLM (``/model/delete``); the catalogue row becomes
        ``unavailable`` (subscriptions and history kept) and ``jobId`` takes it out of every
        API key."""
        model, job = admin_models.delete(model_id, authenticate())
        return {"success": True, "message": f"Model '{model_id}' deleted successfully",
                "model": _ref(model), "job_id": job.id if job is not None else None}
