"""Admin review of subscriptions (contract §5.9): approve, deny, suspend, reactivate.

An admin never reviews their own request: approving or reactivating one's own subscription
answers 403.
"""

from __future__ import annotations

import uuid

from flask.views import MethodView

from app.api.base import Blueprint
from app.auth.identity import authenticate
from app.models import Model, User
from app.schemas.subscriptions import (
    AdminSubscriptionListQuerySchema,
    AdminSubscriptionPageSchema,
    AdminSubscriptionSchema,
    ApprovalStatsSchema,
    ApproveSchema,
    BulkDenySchema,
    BulkResultSchema,
    BulkReviewSchema,
    DeletedSchema,
    DeleteReasonSchema,
    ReasonRequiredSchema,
    RevertSchema,
    ReviewSchema,
    subscription_view,
)
from app.services import subscriptions
from app.services.listing import paginate

blp = Blueprint("admin_subscriptions", __name__, url_prefix="/admin/subscriptions",
                description="Admin: subscription review")


def admin_view(subscription, job=None) -> dict:
    from app.extensions import db

    return subscription_view(subscription, db.session.get(Model, subscription.model_id),
                             db.session.get(User, subscription.user_id), job=job)


@blp.route("")
@blp.auth("admin:read")
@blp.arguments(AdminSubscriptionListQuerySchema, location="query")
@blp.response(200, AdminSubscriptionPageSchema)
def list_subscriptions(query):
    """Everyone's subscriptions with user and model (filters: status, or `statuses`
    repeated; modelId or `modelIds`; userId or `userIds`; `search` in username, email or
    model; dateFrom/dateTo on creation, a day or an instant; e.g. `?statuses=pending` is the
    review queue)."""
    stmt = subscriptions.list_query(query.get("user_id"), query.get("status"),
                                    query.get("model_id"), query["sort"],
                                    query.get("date_from"), query.get("date_to"),
                                    with_user=True, statuses=query.get("statuses"),
                                    model_ids=query.get("model_ids"),
                                    user_ids=query.get("user_ids"), search=query.get("search"))
    page = paginate(stmt, query["page"], query["limit"], scalars=False)
    page["data"] = [subscription_view(sub, model, user) for sub, model, user in page["data"]]
    return page


@blp.route("/<uuid:subscription_id>/approve")
class Approve(MethodView):
    @blp.auth("subscriptions:review")
    @blp.arguments(ApproveSchema)
    @blp.response(200, AdminSubscriptionSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT", description="Not pending or denied")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY", description="Model unavailable")
    def post(self, body, subscription_id: uuid.UUID):
        """pending (or denied) → active, until `expiresAt` when given (time-boxed access).
        Your own request answers 403."""
        return admin_view(subscriptions.approve(subscription_id, authenticate(),
                                                body.get("reason"), body.get("expires_at")))


@blp.route("/<uuid:subscription_id>/deny")
class Deny(MethodView):
    @blp.auth("subscriptions:review")
    @blp.arguments(ReasonRequiredSchema)
    @blp.response(200, AdminSubscriptionSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT", description="Not pending")
    def post(self, body, subscription_id: uuid.UUID):
        """pending → denied, with a reason the requester sees."""
        subscription, job = subscriptions.deny(subscription_id, authenticate(), body["reason"])
        return admin_view(subscription, job)


@blp.route("/<uuid:subscription_id>/suspend")
class Suspend(MethodView):
    @blp.auth("subscriptions:review")
    @blp.arguments(ReasonRequiredSchema)
    @blp.response(200, AdminSubscriptionSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT", description="Not active")
    def post(self, body, subscription_id: uuid.UUID):
        """active → suspended; `jobId` removes the model from the owner's keys in LiteLLM."""
        subscription, job = subscriptions.suspend(subscription_id, authenticate(),
                                                  body["reason"])
        return admin_view(subscription, job)


@blp.route("/<uuid:subscription_id>/reactivate")
class Reactivate(MethodView):
    @blp.auth("subscriptions:review")
    @blp.arguments(ReviewSchema)
    @blp.response(200, AdminSubscriptionSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT", description="Not suspended")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY", description="Model unavailable")
    def post(self, body, subscription_id: uuid.UUID):
        """suspended → active. Your own subscription answers 403."""
        return admin_view(subscriptions.reactivate(subscription_id, authenticate(),
                                                   body.get("reason")))


@blp.route("/stats")
@blp.auth("admin:read")
@blp.response(200, ApprovalStatsSchema)
def stats():
    """Pending now, approved and denied today (UTC), and requests that went through review
    (pending, active or denied)."""
    return subscriptions.approval_stats()


@blp.route("/approve")
class BulkApprove(MethodView):
    @blp.auth("subscriptions:review")
    @blp.arguments(BulkReviewSchema)
    @blp.response(200, BulkResultSchema)
    def post(self, body):
        """Approve each subscription (pending or denied → active) on its own; the answer
        has a result per item. Your own requests fail (``SELF_APPROVAL_FORBIDDEN``), as does
        every item for an admin API key (``REVIEWER_REQUIRED``)."""
        return subscriptions.review_many(body["subscription_ids"], authenticate(), "approve",
                                         body.get("reason"))


@blp.route("/deny")
class BulkDeny(MethodView):
    @blp.auth("subscriptions:review")
    @blp.arguments(BulkDenySchema)
    @blp.response(200, BulkResultSchema)
    def post(self, body):
        """Deny each subscription (pending or active → denied) with the reason its owner
        sees; an active one's model leaves the owner's keys (``jobId`` per item)."""
        return subscriptions.review_many(body["subscription_ids"], authenticate(), "deny",
                                         body["reason"])


@blp.route("/<uuid:subscription_id>/revert")
class Revert(MethodView):
    @blp.auth("subscriptions:review")
    @blp.arguments(RevertSchema)
    @blp.response(200, AdminSubscriptionSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT", description="Same status, or not revertible")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY", description="Model unavailable")
    def post(self, body, subscription_id: uuid.UUID):
        """Override a decision among active, denied and pending. To ``active`` is an
        approval (never your own request); leaving ``active`` strips the model from the
        owner's keys (``jobId``)."""
        subscription, job = subscriptions.revert(subscription_id, body["new_status"],
                                                 authenticate(), body.get("reason"))
        return admin_view(subscription, job)


@blp.route("/<uuid:subscription_id>")
class AdminSubscriptionById(MethodView):
    @blp.auth("subscriptions:review")
    @blp.arguments(DeleteReasonSchema, required=False)
    @blp.response(200, DeletedSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def delete(self, body, subscription_id: uuid.UUID):
        """Delete a subscription and its history for good (audited with the optional
        reason); an active one's model leaves the owner's keys (``jobId``)."""
        job = subscriptions.delete_subscription(subscription_id, authenticate(),
                                                (body or {}).get("reason"))
        return {"success": True, "job_id": job.id if job is not None else None}
