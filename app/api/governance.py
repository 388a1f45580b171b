"""Governance routes beyond notices (issue 19): the budget period ledger and alerts, time-boxed
access reviews and renewals, and re-enabling an idle-disabled key."""

from __future__ import annotations

import uuid

from app.api.base import Blueprint
from app.auth.identity import authenticate
from app.extensions import db
from app.models import Model, User
from app.schemas.governance import (
    AccessReviewQuerySchema,
    BudgetAlertPageSchema,
    BudgetAlertQuerySchema,
    KeyEnabledSchema,
    LedgerPageSchema,
    LedgerQuerySchema,
    RenewSchema,
)
from app.schemas.subscriptions import (
    AdminSubscriptionPageSchema,
    AdminSubscriptionSchema,
    SubscriptionChangedSchema,
    subscription_view,
)
from app.services import access_reviews, api_keys, budget_alerts, key_hygiene
from app.services.listing import paginate

budgets_blp = Blueprint("admin_budgets", __name__, url_prefix="/admin/budgets",
                        description="Admin: budget period ledger and threshold alerts")
reviews_blp = Blueprint("admin_access_reviews", __name__, url_prefix="/admin/access-reviews",
                        description="Admin: time-boxed access to restricted models")
renewals_blp = Blueprint("subscription_renewals", __name__, url_prefix="/subscriptions",
                         description="Subscriptions: ask to renew time-boxed access")
keys_blp = Blueprint("key_hygiene", __name__, url_prefix="/api-keys",
                     description="API keys: re-enable an idle-disabled key")


@budgets_blp.route("/periods")
@budgets_blp.auth("budgets:read_all")
@budgets_blp.arguments(LedgerQuerySchema, location="query")
@budgets_blp.response(200, LedgerPageSchema)
def list_periods(query):
    """The budget period ledger: each owner's periods, opened and closed, with the spend at
    close and the reset date (filters: ownerType, ownerId, open)."""
    stmt = budget_alerts.ledger_query(query.get("owner_type"), query.get("owner_id"),
                                      query.get("open"))
    return paginate(stmt, query["page"], query["limit"])


@budgets_blp.route("/alerts")
@budgets_blp.auth("budgets:read_all")
@budgets_blp.arguments(BudgetAlertQuerySchema, location="query")
@budgets_blp.response(200, BudgetAlertPageSchema)
def list_alerts(query):
    """Budget thresholds fired (once per owner, period and threshold) with their forecast."""
    stmt = budget_alerts.alerts_query(query.get("owner_type"), query.get("owner_id"))
    return paginate(stmt, query["page"], query["limit"])


def _admin_view(subscription) -> dict:
    return subscription_view(subscription, db.session.get(Model, subscription.model_id),
                             db.session.get(User, subscription.user_id))


@reviews_blp.route("")
@reviews_blp.auth("admin:read")
@reviews_blp.arguments(AccessReviewQuerySchema, location="query")
@reviews_blp.response(200, AdminSubscriptionPageSchema)
def list_reviews(query):
    """Time-boxed subscriptions, soonest end first (filter: renewalRequested)."""
    page = paginate(access_reviews.review_query(query.get("renewal_requested")),
                    query["page"], query["limit"])
    page["data"] = [_admin_view(sub) for sub in page["data"]]
    return page


@reviews_blp.route("/<uuid:subscription_id>/renew", methods=["POST"])
@reviews_blp.auth("subscriptions:review")
@reviews_blp.arguments(RenewSchema)
@reviews_blp.response(200, AdminSubscriptionSchema)
@reviews_blp.alt_response(404, response="NOT_FOUND")
@reviews_blp.alt_response(409, response="CONFLICT", description="Not time-boxed")
@reviews_blp.alt_response(422, response="UNPROCESSABLE_ENTITY", description="Date in the past")
def renew(body, subscription_id: uuid.UUID):
    """Extend time-boxed access to `expiresAt` (null: no end); lapsed access becomes active
    again. Your own subscription answers 403."""
    return _admin_view(access_reviews.renew(subscription_id, authenticate(),
                                            body["expires_at"], body.get("reason")))


@renewals_blp.route("/<uuid:subscription_id>/request-renewal", methods=["POST"])
@renewals_blp.auth("subscriptions:write")
@renewals_blp.response(200, SubscriptionChangedSchema)
@renewals_blp.alt_response(404, response="NOT_FOUND")
@renewals_blp.alt_response(409, response="CONFLICT", description="Not time-boxed")
def request_renewal(subscription_id: uuid.UUID):
    """Ask the approvers to renew your time-boxed (or lapsed) access."""
    sub = access_reviews.request_renewal(subscription_id, authenticate())
    return subscription_view(sub, db.session.get(Model, sub.model_id))


@keys_blp.route("/<uuid:key_id>/enable", methods=["POST"])
@keys_blp.auth("api_keys:write")
@keys_blp.response(200, KeyEnabledSchema)
@keys_blp.alt_response(404, response="NOT_FOUND")
@keys_blp.alt_response(409, response="CONFLICT", description="Not disabled")
def enable_key(key_id: uuid.UUID):
    """Re-enable your key after the idle sweep disabled it; `jobId` unblocks it in LiteLLM."""
    identity = authenticate()
    key = api_keys._get_owned(key_id, identity, admin_may=True, lock=True)
    job = key_hygiene.enable(key, identity.user_id)
    return {"id": key.id, "job_id": job.id}
