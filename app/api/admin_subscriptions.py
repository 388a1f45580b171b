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
    ReasonRequiredSchema,
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
    """Everyone's subscriptions with user and model (filters: status, modelId, userId,
    dateFrom/dateTo on creation; e.g. `?status=pending` is the review queue)."""
    stmt = subscriptions.list_query(query.get("user_id"), query.get("status"),
                                    query.get("model_id"), query["sort"],
                                    query.get("date_from"), query.get("date_to"),
                                    with_user=True)
    page = paginate(stmt, query["page"], query["limit"], scalars=False)
    page["data"] = [subscription_view(sub, model, user) for sub, model, user in page["data"]]
    return page


@blp.route("/<uuid:subscription_id>/approve")
class Approve(MethodView):
    @blp.auth("subscriptions:review")
    @blp.arguments(ReviewSchema)
    @blp.response(200, AdminSubscriptionSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT", description="Not pending or denied")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY", description="Model unavailable")
    def post(self, body, subscription_id: uuid.UUID):
        """pending (or denied) → active. Your own request answers 403."""
        return admin_view(subscriptions.approve(subscription_id, authenticate(),
                                                body.get("reason")))


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
