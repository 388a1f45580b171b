"""A user's API keys for LiteLLM (contract §5.5, §9): the value is shown once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from flask.views import MethodView

from app.api.base import Blueprint
from app.api.jobs import accepted
from app.auth.identity import authenticate
from app.schemas.api_keys import (
    ApiKeyCreatedSchema,
    ApiKeyCreateSchema,
    ApiKeyListQuerySchema,
    ApiKeyPageSchema,
    ApiKeyRevealedSchema,
    ApiKeyRotatedSchema,
    ApiKeySchema,
    ApiKeySpendResetSchema,
    ApiKeyUpdatedSchema,
    ApiKeyUpdateSchema,
    key_view,
)
from app.schemas.base import JobAcceptedSchema
from app.services import api_keys, jobs
from app.services.listing import paginate

blp = Blueprint("api_keys", __name__, url_prefix="/api-keys", description="API keys")

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def one_view(api_key, **extra) -> dict:
    return key_view(api_key, api_keys.model_details([api_key]), **extra)


def issued_answer(issued: api_keys.IssuedKey):
    """A new key's answer, its full value shown this once: 201 when LiteLLM has it, 202 with
    the job finishing it when LiteLLM was unreachable."""
    if issued.job is None:
        return one_view(issued.key, key=issued.value, job_id=None), 201, NO_STORE
    link = jobs.link(issued.job.id)
    view = one_view(issued.key, key=issued.value, job_id=issued.job.id, links={"job": link})
    return view, 202, {**NO_STORE, "Location": link}


def page_view(page: dict) -> dict:
    models = api_keys.model_details(page["data"])
    page["data"] = [key_view(key, models) for key in page["data"]]
    page["total"] = page["pagination"]["total"]
    return page


@blp.route("")
class ApiKeys(MethodView):
    @blp.auth("api_keys:read")
    @blp.arguments(ApiKeyListQuerySchema, location="query")
    @blp.response(200, ApiKeyPageSchema)
    def get(self, query):
        """Your API keys (filters: status, isActive, modelId, search on name or prefix); revoked
        keys only with `status=revoked` or `status=revoking`."""
        stmt = api_keys.own_query(authenticate(), state=query.get("status"),
                                  model_id=query.get("model_id"), search=query.get("search"),
                                  sort=query["sort"], is_active=query.get("is_active"))
        return page_view(paginate(stmt, query["page"], query["limit"]))

    @blp.auth("api_keys:write")
    @blp.arguments(ApiKeyCreateSchema)
    @blp.response(201, ApiKeyCreatedSchema)
    @blp.alt_response(202, schema=ApiKeyCreatedSchema,
                      description="LiteLLM unreachable: the key is `pending` and `jobId` "
                                  "finishes it; the value works once the job succeeds")
    @blp.alt_response(409, response="CONFLICT", description="Too many keys")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY",
                      description="Models without an active subscription (listed)")
    @blp.alt_response(502, response="BAD_GATEWAY", description="LiteLLM refused the key")
    def post(self, body):
        """Create a key for models you are subscribed to. The full key is in this answer only."""
        return issued_answer(api_keys.create(authenticate(), body))


@blp.route("/<uuid:key_id>")
class ApiKeyById(MethodView):
    @blp.auth("api_keys:read")
    @blp.response(200, ApiKeySchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, key_id: uuid.UUID):
        """One of your keys (never its value)."""
        return one_view(api_keys.get_visible(key_id, authenticate()))

    @blp.auth("api_keys:write")
    @blp.arguments(ApiKeyUpdateSchema)
    @blp.response(200, ApiKeyUpdatedSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT", description="Key revoked or failed")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY",
                      description="Models without an active subscription (listed)")
    def patch(self, body, key_id: uuid.UUID):
        """Change name, models, budgets, limits or expiry; `jobId` pushes it to LiteLLM."""
        key, job = api_keys.update(key_id, authenticate(), body)
        return one_view(key, job_id=job.id if job else None)

    @blp.auth("api_keys:write")
    @blp.response(202, JobAcceptedSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT", description="Already revoked")
    def delete(self, key_id: uuid.UUID):
        """Revoke a key: refused here at once, deleted in LiteLLM by the returned job."""
        return accepted(api_keys.revoke(key_id, authenticate()))


@blp.route("/<uuid:key_id>/rotate", methods=["POST"])
@blp.auth("api_keys:write")
@blp.response(200, ApiKeyRotatedSchema)
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(409, response="CONFLICT", description="Key not active")
@blp.alt_response(502, response="BAD_GATEWAY", description="LiteLLM refused the new value")
@blp.alt_response(503, response="SERVICE_UNAVAILABLE", description="LiteLLM unreachable")
def rotate_key(key_id: uuid.UUID):
    """Replace your key's value (same id and settings); the old value stops working (after
    KEY_ROTATION_GRACE seconds when the server sets a grace period)."""
    issued = api_keys.rotate(key_id, authenticate())
    body = {"id": issued.key.id, "key": issued.value, "key_prefix": issued.key.key_prefix,
            "old_prefix": issued.old_prefix, "rotated_at": datetime.now(UTC),
            "job_id": issued.job.id if issued.job else None,
            "old_value_valid_until": issued.old_value_valid_until}
    return body, 200, NO_STORE


@blp.route("/<uuid:key_id>/reveal", methods=["POST"])
@blp.auth("api_keys:write")
@blp.response(200, ApiKeyRevealedSchema)
@blp.alt_response(404, response="NOT_FOUND", description="Unknown key, or reveal disabled")
@blp.alt_response(409, response="CONFLICT", description="No encrypted copy of this key")
def reveal_key(key_id: uuid.UUID):
    """Show your key's full value again (needs ENCRYPTION_KEY on the server; a signed-in
    user, not an API key). Audited; at most KEY_REVEAL_LIMIT_PER_HOUR (5) per hour."""
    key, value = api_keys.reveal(key_id, authenticate())
    body = {"id": key.id, "key": value, "key_type": "litellm", "key_prefix": key.key_prefix,
            "retrieved_at": datetime.now(UTC)}
    return body, 200, NO_STORE


@blp.route("/<uuid:key_id>/reset-spend", methods=["POST"])
@blp.auth("api_keys:write")
@blp.response(200, ApiKeySpendResetSchema)
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(409, response="CONFLICT", description="Key not active")
def reset_key_spend(key_id: uuid.UUID):
    """Set your key's spend back to 0 (its budget starts over); `jobId` resets it in
    LiteLLM, which enforces the budget."""
    key, job = api_keys.reset_spend(key_id, authenticate())
    return {"id": key.id, "current_spend": key.spend, "reset_at": datetime.now(UTC),
            "job_id": job.id}
