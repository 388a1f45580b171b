"""Admin: everyone's API keys, revoking any of them, and LiteLLM reconciliation."""

from __future__ import annotations

import uuid

from flask.views import MethodView
from sqlalchemy import select

from app.api.base import Blueprint
from app.api.jobs import accepted
from app.auth.identity import authenticate
from app.extensions import db
from app.models import User
from app.schemas.api_keys import (
    AdminApiKeyListQuerySchema,
    AdminApiKeyPageSchema,
    RevokeSchema,
    key_view,
)
from app.schemas.base import JobAcceptedSchema
from app.services import api_keys, jobs
from app.services.listing import paginate

blp = Blueprint("admin_api_keys", __name__, url_prefix="/admin",
                description="Admin: API keys and LiteLLM reconciliation")


@blp.route("/api-keys")
@blp.auth("api_keys:read")
@blp.arguments(AdminApiKeyListQuerySchema, location="query")
@blp.response(200, AdminApiKeyPageSchema)
def list_keys(query):
    """Every user's keys with their owner (filters: userId, userIds, status, isActive,
    modelId, search), for admins and readonly admins. Any other user (the web UI's usage
    filter calls it) gets their own keys; asking for someone else's answers 403."""
    identity = authenticate()
    user_ids = api_keys.listable_owners(identity, query.get("user_id"), query.get("user_ids"))
    stmt = api_keys.list_query(None, query.get("status"), query.get("model_id"),
                               query.get("search"), query["sort"], query.get("is_active"),
                               user_ids=user_ids, key_id=api_keys.credential_key(identity))
    page = paginate(stmt, query["page"], query["limit"])
    models = api_keys.model_details(page["data"])
    owners = {u.id: u for u in db.session.scalars(
        select(User).where(User.id.in_({k.user_id for k in page["data"]})))}
    page["data"] = [key_view(key, models, owners[key.user_id]) for key in page["data"]]
    if query.get("user_ids"):
        page["api_keys"] = api_keys.key_options(user_ids, api_keys.credential_key(identity))
    return page


@blp.route("/api-keys/<uuid:key_id>/revoke")
class Revoke(MethodView):
    @blp.auth("api_keys:admin")
    @blp.arguments(RevokeSchema)
    @blp.response(202, JobAcceptedSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT", description="Already revoked")
    def post(self, body, key_id: uuid.UUID):
        """Revoke anyone's key: refused at once, deleted in LiteLLM by the returned job."""
        return accepted(api_keys.revoke(key_id, authenticate(), as_admin=True,
                                        reason=body.get("reason")))


@blp.route("/reconcile")
class Reconcile(MethodView):
    @blp.auth("reconcile:run")
    @blp.response(202, JobAcceptedSchema)
    def post(self):
        """Compare keys, users and teams with LiteLLM and repair drift; the job result lists
        every repair. A run already queued or running is returned instead of a second one."""
        job, _ = jobs.enqueue("reconcile", {"trigger": "manual"},
                              requested_by=authenticate().user_id)
        return accepted(job)
