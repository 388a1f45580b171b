"""The admin user dialog on the wire (upstream ``/admin/users/*``), camelCase."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from app.models import SUBSCRIPTION_STATUSES
from app.schemas.base import CamelSchema, PageQuerySchema, page_of
from app.schemas.users import BUDGET_DURATION, UserDetailSchema

MONEY = validate.Range(min=0, max=10**9)
LIMIT = validate.Range(min=0, max=10**9)


class _OwnLimits(CamelSchema):
    max_budget = ma.fields.Decimal(as_string=False, allow_none=True)
    tpm_limit = ma.fields.Integer(allow_none=True)
    rpm_limit = ma.fields.Integer(allow_none=True)
    budget_duration = ma.fields.String(allow_none=True)


class AdminUserDetailSchema(UserDetailSchema):
    own_limits = ma.fields.Nested(_OwnLimits, required=True, metadata={
        "description": "The user's own values (null: the platform default applies); "
                       "maxBudget, tpmLimit and rpmLimit above are what LiteLLM enforces"})
    current_spend = ma.fields.Decimal(as_string=False, required=True, metadata={
        "description": "Spend of the current budget period (refreshed by the usage rollup)"})
    budget_reset_at = ma.fields.AwareDateTime(allow_none=True, metadata={
        "description": "When the budget period ends (none without a budget duration)"})
    sync_status = ma.fields.String(required=True, validate=validate.OneOf(("synced", "pending")),
                                   metadata={"description": "synced: LiteLLM holds the user"})


class BudgetLimitsUpdateSchema(CamelSchema):
    max_budget = ma.fields.Decimal(allow_none=True, places=6, validate=MONEY, allow_nan=False,
                                   metadata={"description": "null: the platform default"})
    tpm_limit = ma.fields.Integer(allow_none=True, strict=True, validate=LIMIT)
    rpm_limit = ma.fields.Integer(allow_none=True, strict=True, validate=LIMIT)
    budget_duration = ma.fields.String(allow_none=True, validate=BUDGET_DURATION)

    @ma.validates_schema
    def not_empty(self, data, **kwargs):
        if not data:
            raise ma.ValidationError("Give at least one field to change", "_schema")


class BudgetLimitsUpdatedSchema(CamelSchema):
    id = ma.fields.UUID(required=True)
    max_budget = ma.fields.Decimal(as_string=False, allow_none=True)
    tpm_limit = ma.fields.Integer(allow_none=True)
    rpm_limit = ma.fields.Integer(allow_none=True)
    budget_duration = ma.fields.String(allow_none=True)
    updated_at = ma.fields.AwareDateTime(required=True)
    job_id = ma.fields.UUID(allow_none=True, metadata={
        "description": "The job pushing the change to LiteLLM (none when nothing changed)"})


class SpendResetSchema(CamelSchema):
    id = ma.fields.UUID(required=True)
    current_spend = ma.fields.Decimal(as_string=False, required=True)
    reset_at = ma.fields.AwareDateTime(required=True)
    job_id = ma.fields.UUID(required=True, metadata={
        "description": "The job resetting the spend in LiteLLM"})


class UserKeysQuerySchema(PageQuerySchema):
    is_active = ma.fields.Boolean(metadata={"description": "true: only usable keys"})


class UserSubscriptionsQuerySchema(PageQuerySchema):
    status = ma.fields.String(validate=validate.OneOf(SUBSCRIPTION_STATUSES))


class UserSubscriptionSchema(CamelSchema):
    id = ma.fields.UUID(required=True)
    model_id = ma.fields.String(required=True)
    model_name = ma.fields.String(required=True)
    provider = ma.fields.String(allow_none=True)
    status = ma.fields.String(required=True)
    status_reason = ma.fields.String(allow_none=True)
    created_at = ma.fields.AwareDateTime(required=True)
    status_changed_at = ma.fields.AwareDateTime(allow_none=True)


UserSubscriptionPageSchema = page_of(UserSubscriptionSchema, "AdminUserSubscriptionPageSchema")

MODEL_IDS = ma.fields.List(ma.fields.String(validate=validate.Length(min=1, max=255)),
                           required=True, validate=validate.Length(min=1, max=100))


class GrantSubscriptionsSchema(CamelSchema):
    model_ids = MODEL_IDS


class _Created(CamelSchema):
    model_id = ma.fields.String(required=True)
    subscription_id = ma.fields.UUID(required=True)


class _Activated(_Created):
    previous_status = ma.fields.String(required=True)


class GrantedSubscriptionsSchema(CamelSchema):
    created = ma.fields.List(ma.fields.Nested(_Created), required=True)
    activated = ma.fields.List(ma.fields.Nested(_Activated), required=True)
    already_active = ma.fields.List(ma.fields.String(), required=True)


class AdminKeyRevokeQuerySchema(CamelSchema):
    permanent = ma.fields.Boolean(metadata={
        "description": "Accepted for the web UI; a key is never erased here: it stays in the "
                       "user's history as revoked, so its usage keeps its key"})


class BulkLimitsSchema(CamelSchema):
    max_budget = ma.fields.Decimal(places=6, validate=MONEY, allow_nan=False)
    tpm_limit = ma.fields.Integer(strict=True, validate=LIMIT)
    rpm_limit = ma.fields.Integer(strict=True, validate=LIMIT)

    @ma.validates_schema
    def not_empty(self, data, **kwargs):
        if not data:
            raise ma.ValidationError("At least one limit value must be provided", "_schema")


class _BulkError(CamelSchema):
    user_id = ma.fields.String(required=True)
    username = ma.fields.String(allow_none=True)
    error = ma.fields.String(required=True)


class BulkLimitsResultSchema(CamelSchema):
    job_id = ma.fields.UUID(required=True)
    status = ma.fields.String(required=True, metadata={
        "description": "succeeded (the counts are final), or queued/running (202: follow the "
                       "job; its result has these fields when it finishes)"})
    total_users = ma.fields.Integer(required=True)
    success_count = ma.fields.Integer(required=True)
    failed_count = ma.fields.Integer(required=True)
    errors = ma.fields.List(ma.fields.Nested(_BulkError), required=True)
    processed_at = ma.fields.String(allow_none=True)
    progress = ma.fields.Integer(required=True)
    links = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(), required=True)
