"""Subscriptions on the wire (contract §6.2, §5.9), camelCase. ``quotaRequests`` and
``quotaTokens`` are what the subscriber asked for (the web UI sends them): kept and shown, not
enforced here (limits are enforced per key, in LiteLLM)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from app.models import SUBSCRIPTION_STATUSES, Model, Subscription, SubscriptionStatusHistory, User
from app.schemas.base import CamelSchema, PageQuerySchema, page_of
from app.services.subscriptions import SORTS

REASON = validate.Length(min=1, max=2000)


QUOTA = validate.Range(min=1, max=9_000_000_000_000_000)


class PricingSchema(CamelSchema):
    input_cost_per_token = ma.fields.Decimal(as_string=False, allow_none=True)
    output_cost_per_token = ma.fields.Decimal(as_string=False, allow_none=True)
    currency = ma.fields.String(required=True, metadata={"example": "USD"})


class UtilizationSchema(CamelSchema):
    requests = ma.fields.Float(required=True)
    tokens = ma.fields.Float(required=True)


class SubscriptionMetadataSchema(CamelSchema):
    features = ma.fields.List(ma.fields.String(), required=True)


class SubscriptionSchema(CamelSchema):
    id = ma.fields.UUID(required=True)
    user_id = ma.fields.UUID(required=True)
    model_id = ma.fields.String(required=True)
    model_name = ma.fields.String(required=True)
    provider = ma.fields.String(required=True)
    status = ma.fields.String(required=True, validate=validate.OneOf(SUBSCRIPTION_STATUSES))
    status_reason = ma.fields.String(allow_none=True, metadata={
        "description": "Why the status last changed (the owner sees it too)"})
    reviewed_by = ma.fields.UUID(allow_none=True)
    reviewed_at = ma.fields.AwareDateTime(allow_none=True)
    expires_at = ma.fields.AwareDateTime(allow_none=True, metadata={
        "description": "Time-boxed access: the subscription is suspended at this moment"})
    renewal_requested_at = ma.fields.AwareDateTime(allow_none=True, metadata={
        "description": "When the owner asked the approvers to renew time-boxed access"})
    quota_requests = ma.fields.Integer(allow_none=True, metadata={
        "description": "Requested by the subscriber (informational)"})
    quota_tokens = ma.fields.Integer(allow_none=True, metadata={
        "description": "Requested by the subscriber (informational)"})
    used_requests = ma.fields.Integer(required=True, metadata={
        "description": "Requests on this model in the current month (usage rollup)"})
    used_tokens = ma.fields.Integer(required=True, metadata={
        "description": "Tokens on this model in the current month (usage rollup)"})
    remaining_requests = ma.fields.Integer(allow_none=True)
    remaining_tokens = ma.fields.Integer(allow_none=True)
    utilization_percent = ma.fields.Nested(UtilizationSchema, required=True)
    created_at = ma.fields.AwareDateTime(required=True)
    updated_at = ma.fields.AwareDateTime(required=True)
    metadata = ma.fields.Nested(SubscriptionMetadataSchema, required=True)
    model_description = ma.fields.String(allow_none=True)
    model_context_length = ma.fields.Integer(allow_none=True)
    model_supports_vision = ma.fields.Boolean()
    model_supports_function_calling = ma.fields.Boolean()
    model_supports_parallel_function_calling = ma.fields.Boolean()
    model_supports_tool_choice = ma.fields.Boolean()
    model_restricted = ma.fields.Boolean()
    model_availability = ma.fields.String()
    pricing = ma.fields.Nested(PricingSchema)


class SubscriptionChangedSchema(SubscriptionSchema):
    job_id = ma.fields.UUID(allow_none=True, metadata={
        "description": "The job removing the model from the owner's API keys, if any"})


class UserRefSchema(CamelSchema):
    id = ma.fields.UUID(required=True)
    username = ma.fields.String(required=True)
    email = ma.fields.String(allow_none=True)


class ModelRefSchema(CamelSchema):
    id = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    provider = ma.fields.String(required=True)
    restricted_access = ma.fields.Boolean(required=True)
    availability = ma.fields.String(required=True)


class AdminSubscriptionSchema(SubscriptionChangedSchema):
    user = ma.fields.Nested(UserRefSchema, required=True)
    model = ma.fields.Nested(ModelRefSchema, required=True)


class HistoryEntrySchema(CamelSchema):
    old_status = ma.fields.String(allow_none=True)
    new_status = ma.fields.String(required=True)
    reason = ma.fields.String(allow_none=True)
    changed_by = ma.fields.UUID(allow_none=True)
    changed_at = ma.fields.AwareDateTime(required=True)


class HistorySchema(CamelSchema):
    data = ma.fields.List(ma.fields.Nested(HistoryEntrySchema), required=True)


SubscriptionPageSchema = page_of(SubscriptionSchema, with_total=True)
AdminSubscriptionPageSchema = page_of(AdminSubscriptionSchema)


class SubscriptionListQuerySchema(PageQuerySchema):
    status = ma.fields.String(validate=validate.OneOf(SUBSCRIPTION_STATUSES))
    model_id = ma.fields.String(validate=validate.Length(min=1, max=255))
    sort = ma.fields.String(load_default="-createdAt",
                            validate=validate.OneOf(sorted(SORTS.choices)))


class DateOrInstant(ma.fields.Field):
    """``2026-12-03`` (a whole UTC day) or an ISO instant ``2026-12-03T10:00:00.000Z`` (what
    the web UI sends); an instant without a zone is refused."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or len(value) > 40:
            raise ma.ValidationError("A date (YYYY-MM-DD) or an ISO date-time with zone")
        if "T" in value:
            return ma.fields.AwareDateTime()._deserialize(value, attr, data, **kwargs)
        return ma.fields.Date()._deserialize(value, attr, data, **kwargs)


_MULTI = {"description": "Repeat the parameter for several values"}


class AdminSubscriptionListQuerySchema(SubscriptionListQuerySchema):
    user_id = ma.fields.UUID()
    date_from = DateOrInstant()
    date_to = DateOrInstant()
    statuses = ma.fields.List(ma.fields.String(validate=validate.OneOf(SUBSCRIPTION_STATUSES)),
                              validate=validate.Length(max=10), metadata=_MULTI)
    model_ids = ma.fields.List(ma.fields.String(validate=validate.Length(min=1, max=255)),
                               validate=validate.Length(max=100), metadata=_MULTI)
    user_ids = ma.fields.List(ma.fields.UUID(), validate=validate.Length(max=100),
                              metadata=_MULTI)
    search = ma.fields.String(validate=validate.Length(min=1, max=200), metadata={
        "description": "In the username, email or model id"})

    @ma.validates_schema
    def _ordered(self, data, **kwargs):
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and type(start) is type(end) and start > end:
            raise ma.ValidationError("dateFrom must not be after dateTo", "dateFrom")


class SubscriptionCreateSchema(CamelSchema):
    model_id = ma.fields.String(required=True, validate=validate.Length(min=1, max=255))
    reason = ma.fields.String(validate=REASON, metadata={
        "description": "Why you need the model (shown to the reviewing admin)"})
    quota_requests = ma.fields.Integer(strict=True, validate=QUOTA, metadata={
        "description": "Requests you expect to need (kept, informational)"})
    quota_tokens = ma.fields.Integer(strict=True, validate=QUOTA, metadata={
        "description": "Tokens you expect to need (kept, informational)"})


class SubscriptionUpdateSchema(CamelSchema):
    status = ma.fields.String(validate=validate.OneOf(["cancelled", "pending"]), metadata={
        "description": "`cancelled` ends the subscription; `pending` asks again after a "
                       "denial or cancellation"})
    reason = ma.fields.String(validate=REASON, allow_none=True)
    quota_requests = ma.fields.Integer(strict=True, validate=QUOTA, metadata={
        "description": "Requests you expect to need (kept, informational)"})
    quota_tokens = ma.fields.Integer(strict=True, validate=QUOTA, metadata={
        "description": "Tokens you expect to need (kept, informational)"})

    @ma.validates_schema
    def _something(self, data, **kwargs):
        if not data:
            raise ma.ValidationError("Nothing to change: send status, reason or quotas",
                                     "_schema")
        if data.get("status") == "cancelled" and {"quota_requests", "quota_tokens"} & set(data):
            raise ma.ValidationError("A cancellation changes nothing else", "status")


class ReviewSchema(CamelSchema):
    reason = ma.fields.String(validate=REASON)


class ApproveSchema(ReviewSchema):
    expires_at = ma.fields.AwareDateTime(allow_none=True, metadata={
        "description": "Time-boxed access: suspend the subscription at this moment (future)"})


class ReasonRequiredSchema(CamelSchema):
    reason = ma.fields.String(required=True, validate=REASON)


def pricing(model: Model) -> dict:
    return {"input_cost_per_token": model.input_cost_per_token,
            "output_cost_per_token": model.output_cost_per_token, "currency": "USD"}


def _quota_view(subscription: Subscription, used: tuple[int, int]) -> dict:
    used_requests, used_tokens = used
    quotas = (subscription.quota_requests, subscription.quota_tokens)

    def remaining(quota, spent):
        return None if quota is None else max(0, quota - spent)

    def percent(quota, spent):
        return round(100.0 * spent / quota, 2) if quota else 0.0

    return {
        "quota_requests": quotas[0], "quota_tokens": quotas[1],
        "used_requests": used_requests, "used_tokens": used_tokens,
        "remaining_requests": remaining(quotas[0], used_requests),
        "remaining_tokens": remaining(quotas[1], used_tokens),
        "utilization_percent": {"requests": percent(quotas[0], used_requests),
                                "tokens": percent(quotas[1], used_tokens)},
    }


def subscription_view(subscription: Subscription, model: Model, user: User | None = None,
                      job=None, used: tuple[int, int] = (0, 0)) -> dict:
    """The wire object of a subscription with its model (and user, for admin lists);
    ``used`` is (requests, tokens) of the owner on the model this month."""
    view = {
        "id": subscription.id, "user_id": subscription.user_id,
        "model_id": subscription.model_id, "model_name": model.id,
        "provider": model.provider, "status": subscription.status,
        "status_reason": subscription.reason, "reviewed_by": subscription.reviewed_by,
        "reviewed_at": subscription.reviewed_at, "created_at": subscription.created_at,
        "expires_at": subscription.expires_at,
        "renewal_requested_at": subscription.renewal_requested_at,
        **_quota_view(subscription, used),
        "metadata": {"features": list(model.features or [])},
        "updated_at": subscription.updated_at, "model_description": model.description,
        "model_context_length": model.context_length,
        "model_supports_vision": model.supports_vision,
        "model_supports_function_calling": model.supports_function_calling,
        "model_supports_parallel_function_calling": model.supports_parallel_function_calling,
        "model_supports_tool_choice": model.supports_tool_choice,
        "model_restricted": model.restricted, "model_availability": model.availability,
        "pricing": pricing(model), "job_id": job.id if job is not None else None,
    }
    if user is not None:
        view["user"] = {"id": user.id, "username": user.username, "email": user.email}
        view["model"] = {"id": model.id, "name": model.id, "provider": model.provider,
                         "restricted_access": model.restricted,
                         "availability": model.availability}
    return view


def history_view(entries: list[SubscriptionStatusHistory]) -> dict:
    return {"data": entries}


# -- the approvals page: bulk review, revert, delete, stats ---------------------------------------

MAX_BULK = 500


class BulkReviewSchema(CamelSchema):
    subscription_ids = ma.fields.List(ma.fields.UUID(), required=True,
                                      validate=validate.Length(min=1, max=MAX_BULK))
    reason = ma.fields.String(validate=REASON)


class BulkDenySchema(BulkReviewSchema):
    reason = ma.fields.String(required=True, validate=REASON)


class BulkItemResultSchema(CamelSchema):
    subscription_id = ma.fields.UUID(required=True)
    success = ma.fields.Boolean(required=True)
    status = ma.fields.String()
    code = ma.fields.String()
    error = ma.fields.String()
    job_id = ma.fields.UUID(allow_none=True)


class BulkErrorSchema(ma.Schema):
    subscription = ma.fields.String(required=True)
    error = ma.fields.String(required=True)


class BulkResultSchema(CamelSchema):
    successful = ma.fields.Integer(required=True)
    failed = ma.fields.Integer(required=True)
    errors = ma.fields.List(ma.fields.Nested(BulkErrorSchema), required=True)
    results = ma.fields.List(ma.fields.Nested(BulkItemResultSchema), required=True,
                             metadata={"description": "One per subscription, in order"})


class RevertSchema(CamelSchema):
    new_status = ma.fields.String(required=True,
                                  validate=validate.OneOf(("active", "denied", "pending")))
    reason = ma.fields.String(validate=REASON)


class DeleteReasonSchema(CamelSchema):
    reason = ma.fields.String(validate=REASON, allow_none=True)


class DeletedSchema(CamelSchema):
    success = ma.fields.Boolean(required=True)
    job_id = ma.fields.UUID(allow_none=True)


class ApprovalStatsSchema(CamelSchema):
    pending_count = ma.fields.Integer(required=True)
    approved_today = ma.fields.Integer(required=True)
    denied_today = ma.fields.Integer(required=True)
    total_requests = ma.fields.Integer(required=True)
