"""Admin: one user's dialog (the web UI's user tabs): details with counts and budget, budget
and limits, spend reset, the user's keys and subscriptions; limits for every user at once.

Keys made here follow the owner's rules (hashed, defaults and maximums, LiteLLM through
provisioning); models they need are granted as subscriptions, which for a restricted model is an
approval (never one's own). Readonly admins read everything here and change nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from flask.views import MethodView

from app.api.api_keys import issued_answer, one_view, page_view
from app.api.base import Blueprint
from app.api.jobs import accepted, waited
from app.auth.identity import authenticate
from app.errors import NotFound
from app.extensions import db
from app.models import ApiKey
from app.schemas.admin_users import (
    AdminKeyRevokeQuerySchema,
    AdminUserDetailSchema,
    BudgetLimitsUpdatedSchema,
    BudgetLimitsUpdateSchema,
    BulkLimitsResultSchema,
    BulkLimitsSchema,
    GrantedSubscriptionsSchema,
    GrantSubscriptionsSchema,
    SpendResetSchema,
    UserKeysQuerySchema,
    UserSubscriptionPageSchema,
    UserSubscriptionsQuerySchema,
)
from app.schemas.api_keys import (
    ApiKeyCreatedSchema,
    ApiKeyCreateSchema,
    ApiKeyPageSchema,
    ApiKeyUpdatedSchema,
    ApiKeyUpdateSchema,
    RevokeSchema,
)
from app.schemas.base import JobAcceptedSchema
from app.services import api_keys, jobs, subscriptions, users
from app.services.listing import paginate

blp = Blueprint("admin_users", __name__, url_prefix="/admin/users",
                description="Admin: a user's budget, keys and subscriptions")

BULK_WAIT_SECONDS = 8  # the web UI waits for the counts; a longer run answers 202


def _key_of(user_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey:
    users.get(user_id)
    key = db.session.get(ApiKey, key_id)
    if key is None or key.user_id != user_id:
        raise NotFound.resource("api_key", key_id)
    return key


@blp.route("/<uuid:user_id>")
@blp.auth("users:read")
@blp.response(200, AdminUserDetailSchema)
@blp.alt_response(404, response="NOT_FOUND")
def user_detail(user_id: uuid.UUID):
    """A user with budget, spend, limits (as LiteLLM enforces them, and the user's own) and
    counts of subscriptions and API keys."""
    return users.admin_view(users.get(user_id))


@blp.route("/<uuid:user_id>/budget-limits", methods=["PATCH"])
@blp.auth("users:write")
@blp.arguments(BudgetLimitsUpdateSchema)
@blp.response(200, BudgetLimitsUpdatedSchema, description="Nothing changed")
@blp.alt_response(202, schema=BudgetLimitsUpdatedSchema, success=True,
                  description="Changed; `jobId` pushes the budget and limits to LiteLLM")
@blp.alt_response(404, response="NOT_FOUND")
def update_budget_limits(body, user_id: uuid.UUID):
    """Change the user's budget, TPM/RPM limits and budget duration (null: the platform
    default); a job pushes them to LiteLLM."""
    user, job = users.update_budget_limits(user_id, body, authenticate())
    view = {"id": user.id, "max_budget": user.max_budget, "tpm_limit": user.tpm_limit,
            "rpm_limit": user.rpm_limit, "budget_duration": user.budget_duration,
            "updated_at": user.updated_at, "job_id": job.id if job else None}
    if job is None:
        return view
    return view, 202, {"Location": jobs.link(job.id)}


@blp.route("/<uuid:user_id>/reset-spend", methods=["POST"])
@blp.auth("users:write")
@blp.response(200, SpendResetSchema)
@blp.alt_response(404, response="NOT_FOUND")
def reset_user_spend(user_id: uuid.UUID):
    """Set the user's spend back to 0; `jobId` resets LiteLLM's counter, which enforces the
    user's budget. (LiteMaaS's own period spend is recomputed from usage at the next rollup.)"""
    user, job = users.reset_spend(user_id, authenticate())
    return {"id": user.id, "current_spend": user.spend, "reset_at": datetime.now(UTC),
            "job_id": job.id}


@blp.route("/<uuid:user_id>/api-keys")
class UserKeys(MethodView):
    @blp.auth("users:read")
    @blp.arguments(UserKeysQuerySchema, location="query")
    @blp.response(200, ApiKeyPageSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, query, user_id: uuid.UUID):
        """The user's keys, revoked ones included, newest first (filter: isActive)."""
        users.get(user_id)
        stmt = api_keys.list_query(user_id, is_active=query.get("is_active"))
        return page_view(paginate(stmt, query["page"], query["limit"]))

    @blp.auth("users:write")
    @blp.arguments(ApiKeyCreateSchema)
    @blp.response(201, ApiKeyCreatedSchema)
    @blp.alt_response(202, schema=ApiKeyCreatedSchema,
                      description="LiteLLM unreachable: the key is `pending` and `jobId` "
                                  "finishes it")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT", description="User deactivated, or too many keys")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY",
                      description="Unknown or unavailable models")
    @blp.alt_response(502, response="BAD_GATEWAY", description="LiteLLM refused the key")
    def post(self, body, user_id: uuid.UUID):
        """Create a key for the user (defaults and maximums apply). Models the user is not
        subscribed to are granted first (a restricted one counts as an approval: never for
        oneself). The full key is in this answer only."""
        identity = authenticate()
        users.get(user_id)
        subscriptions.grant_for_user(user_id, body["model_ids"], identity)
        return issued_answer(api_keys.create(identity, body, owner_id=user_id))


@blp.route("/<uuid:user_id>/api-keys/<uuid:key_id>")
class UserKey(MethodView):
    @blp.auth("users:write")
    @blp.arguments(ApiKeyUpdateSchema)
    @blp.response(200, ApiKeyUpdatedSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT", description="Key revoked or failed")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY",
                      description="Unknown or unavailable models")
    def patch(self, body, user_id: uuid.UUID, key_id: uuid.UUID):
        """Change the user's key: name, models (granted to the user if needed), budgets,
        limits, expiry; the maximums apply. `jobId` pushes it to LiteLLM."""
        identity = authenticate()
        _key_of(user_id, key_id)
        if "model_ids" in body:
            subscriptions.grant_for_user(user_id, body["model_ids"], identity)
        key, job = api_keys.update(key_id, identity, body)
        return one_view(key, job_id=job.id if job else None)

    @blp.auth("users:write")
    @blp.arguments(AdminKeyRevokeQuerySchema, location="query")
    @blp.arguments(RevokeSchema, location="json", required=False)
    @blp.response(202, JobAcceptedSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT", description="Already revoked")
    def delete(self, query, body, user_id: uuid.UUID, key_id: uuid.UUID):
        """Revoke the user's key: refused at once, deleted in LiteLLM by the returned job."""
        _key_of(user_id, key_id)
        return accepted(api_keys.revoke(key_id, authenticate(), as_admin=True,
                                        reason=(body or {}).get("reason")))


@blp.route("/<uuid:user_id>/api-keys/<uuid:key_id>/reset-spend", methods=["POST"])
@blp.auth("users:write")
@blp.response(200, SpendResetSchema)
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(409, response="CONFLICT", description="Key not active")
def reset_key_spend(user_id: uuid.UUID, key_id: uuid.UUID):
    """Set the user's key's spend back to 0; `jobId` resets it in LiteLLM."""
    _key_of(user_id, key_id)
    key, job = api_keys.reset_spend(key_id, authenticate(), as_admin=True)
    return {"id": key.id, "current_spend": key.spend, "reset_at": datetime.now(UTC),
            "job_id": job.id}


@blp.route("/<uuid:user_id>/subscriptions")
class UserSubscriptions(MethodView):
    @blp.auth("users:read")
    @blp.arguments(UserSubscriptionsQuerySchema, location="query")
    @blp.response(200, UserSubscriptionPageSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, query, user_id: uuid.UUID):
        """The user's subscriptions, newest first (filter: status)."""
        users.get(user_id)
        page = paginate(subscriptions.list_query(user_id, query.get("status")), query["page"],
                        query["limit"], scalars=False)
        page["data"] = [{"id": s.id, "model_id": s.model_id, "model_name": m.id,
                         "provider": m.provider, "status": s.status, "status_reason": s.reason,
                         "created_at": s.created_at, "status_changed_at": s.updated_at}
                        for s, m in page["data"]]
        return page

    @blp.auth("users:write")
    @blp.arguments(GrantSubscriptionsSchema)
    @blp.response(201, GrantedSubscriptionsSchema)
    @blp.alt_response(403, response="FORBIDDEN",
                      description="A restricted model for oneself, or by an admin API key")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY",
                      description="Unknown or unavailable models")
    def post(self, body, user_id: uuid.UUID):
        """Give the user active subscriptions to these models (new, or re-activated); for a
        restricted model this is an approval, which nobody gives themself."""
        users.get(user_id)
        result = subscriptions.grant_for_user(user_id, body["model_ids"], authenticate())
        db.session.commit()
        return result, 201


@blp.route("/bulk-update-limits", methods=["POST"])
@blp.auth("users:write")
@blp.arguments(BulkLimitsSchema)
@blp.response(200, BulkLimitsResultSchema, description="Done within a few seconds: the counts")
@blp.alt_response(202, schema=BulkLimitsResultSchema, success=True,
                  description="Still running: follow `jobId`; its result holds the counts")
@blp.alt_response(409, response="CONFLICT",
                  description="Another bulk update with other values is running")
def bulk_update_limits(body):
    """Give every active user this budget and/or TPM/RPM limits, here and in LiteLLM (a job
    with progress; one at a time). Waits a few seconds for the counts the web UI shows."""
    job, _ = users.request_bulk_limits(body, authenticate())
    job = waited(job, BULK_WAIT_SECONDS)
    result = job.result or {}
    link = jobs.link(job.id)
    view = {"job_id": job.id, "status": job.status, "progress": job.progress or 0,
            "total_users": result.get("totalUsers", 0),
            "success_count": result.get("successCount", 0),
            "failed_count": result.get("failedCount", 0), "errors": result.get("errors", []),
            "processed_at": result.get("processedAt"), "links": {"self": link}}
    if job.status in ("queued", "running"):
        return view, 202, {"Location": link}
    return view  # succeeded: final counts; failed or cancelled: the job's error says why
