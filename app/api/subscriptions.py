"""A user's subscriptions to models (contract §5.4); restricted models wait for an admin."""

from __future__ import annotations

import uuid

from flask.views import MethodView

from app.api.base import Blueprint
from app.auth.identity import authenticate
from app.schemas.subscriptions import (
    HistorySchema,
    SubscriptionChangedSchema,
    SubscriptionCreateSchema,
    SubscriptionListQuerySchema,
    SubscriptionPageSchema,
    SubscriptionSchema,
    SubscriptionUpdateSchema,
    history_view,
    subscription_view,
)
from app.services import subscriptions
from app.services.listing import paginate

blp = Blueprint("subscriptions", __name__, url_prefix="/subscriptions",
                description="Subscriptions to models")


def page_view(page: dict) -> dict:
    """Turn the pager's (subscription, model) rows into wire objects."""
    used = subscriptions.used_this_month([row[0] for row in page["data"]])
    page["data"] = [subscription_view(sub, model, used=used.get((sub.user_id, sub.model_id),
                                                                (0, 0)))
                    for sub, model in page["data"]]
    page["total"] = page["pagination"]["total"]
    return page


def one_view(subscription, job=None) -> dict:
    used = subscriptions.used_this_month([subscription])
    return subscription_view(subscription, subscriptions.model_of(subscription), job=job,
                             used=used.get((subscription.user_id, subscription.model_id),
                                           (0, 0)))


@blp.route("")
class Subscriptions(MethodView):
    @blp.auth("subscriptions:read")
    @blp.arguments(SubscriptionListQuerySchema, location="query")
    @blp.response(200, SubscriptionPageSchema)
    def get(self, query):
        """Your subscriptions (filters: status, modelId; sort), newest first by default."""
        stmt = subscriptions.own_query(authenticate(), status=query.get("status"),
                                       model_id=query.get("model_id"), sort=query["sort"])
        return page_view(paginate(stmt, query["page"], query["limit"], scalars=False))

    @blp.auth("subscriptions:write")
    @blp.arguments(SubscriptionCreateSchema)
    @blp.response(201, SubscriptionSchema)
    @blp.alt_response(404, response="NOT_FOUND", description="Unknown model")
    @blp.alt_response(409, response="CONFLICT", description="Already subscribed or requested")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY", description="Model unavailable")
    def post(self, body):
        """Subscribe to a model: `active` at once, or `pending` for a restricted model until
        another admin approves. A cancelled or denied subscription may be requested again."""
        quotas = {name: body[name] for name in ("quota_requests", "quota_tokens") if name in body}
        subscription = subscriptions.create(authenticate(), body["model_id"], body.get("reason"),
                                            quotas)
        return one_view(subscription)


@blp.route("/<uuid:subscription_id>")
class SubscriptionById(MethodView):
    @blp.auth("subscriptions:read")
    @blp.response(200, SubscriptionSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, subscription_id: uuid.UUID):
        """One of your subscriptions."""
        return one_view(subscriptions.get_visible(subscription_id, authenticate()))

    @blp.auth("subscriptions:write")
    @blp.arguments(SubscriptionUpdateSchema)
    @blp.response(200, SubscriptionChangedSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT", description="Not allowed from this status")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY", description="Model unavailable")
    def patch(self, body, subscription_id: uuid.UUID):
        """Cancel (`status: cancelled`), ask again after a denial or cancellation
        (`status: pending`), or reword the reason of a pending request."""
        subscription, job = subscriptions.update(subscription_id, authenticate(), body)
        return one_view(subscription, job)

    @blp.auth("subscriptions:write")
    @blp.response(200, SubscriptionChangedSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT", description="Already ended")
    def delete(self, subscription_id: uuid.UUID):
        """Cancel a subscription; a job removes the model from your API keys (`jobId`)."""
        subscription, job = subscriptions.cancel(subscription_id, authenticate())
        return one_view(subscription, job)


@blp.route("/<uuid:subscription_id>/cancel", methods=["POST"])
@blp.auth("subscriptions:write")
@blp.response(200, SubscriptionChangedSchema)
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(409, response="CONFLICT", description="Already ended")
def cancel_subscription(subscription_id: uuid.UUID):
    """Cancel a subscription (as `DELETE /subscriptions/{id}`; the web UI's path)."""
    subscription, job = subscriptions.cancel(subscription_id, authenticate())
    return one_view(subscription, job)


@blp.route("/<uuid:subscription_id>/request-review", methods=["POST"])
@blp.auth("subscriptions:write")
@blp.response(200, SubscriptionSchema)
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(409, response="CONFLICT", description="Not denied")
@blp.alt_response(422, response="UNPROCESSABLE_ENTITY", description="Model unavailable")
def request_review(subscription_id: uuid.UUID):
    """Ask an admin to review a denied request again (denied → pending; a no-op while
    pending)."""
    return one_view(subscriptions.request_review(subscription_id, authenticate()))


@blp.route("/<uuid:subscription_id>/history")
@blp.auth("subscriptions:read")
@blp.response(200, HistorySchema)
@blp.alt_response(404, response="NOT_FOUND")
def subscription_history(subscription_id: uuid.UUID):
    """Every status change of one of your subscriptions, oldest first."""
    subscription = subscriptions.get_visible(subscription_id, authenticate())
    return history_view(subscriptions.history(subscription))
