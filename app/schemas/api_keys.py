"""API keys on the wire (contract §6.3), camelCase. The key value appears only in the answers
of create, rotate and reveal."""

from __future__ import annotations

from datetime import UTC

import marshmallow as ma
from marshmallow import validate

from app.models import PROVISIONING_STATES, ApiKey, Model, User
from app.schemas.base import CamelSchema, PageQuerySchema, display_name, page_of
from app.schemas.subscriptions import UserRefSchema
from app.schemas.users import BUDGET_DURATION
from app.services.api_keys import SORTS

MONEY = validate.Range(min=0, max=1_000_000_000)
LIMIT = validate.Range(min=0, max=2_147_483_647)
NAME = display_name(255)
MODEL_ID = validate.Length(min=1, max=255)
PER_MODEL = validate.Length(max=100)


class ModelBudgetSchema(CamelSchema):
    budget_limit = ma.fields.Decimal(as_string=False, required=True, validate=MONEY,
                                     allow_nan=False)
    time_period = ma.fields.String(required=True, validate=BUDGET_DURATION)


class KeyMetadataSchema(CamelSchema):
    """The owner's notes on a key (what the web UI sends); kept and pushed to LiteLLM."""

    description = ma.fields.String(allow_none=True, validate=validate.Length(max=1000))
    permissions = ma.fields.List(ma.fields.String(validate=validate.Length(min=1, max=64)),
                                 allow_none=True, validate=validate.Length(max=20))
    rate_limit = ma.fields.Integer(allow_none=True, strict=True, validate=LIMIT)


class ModelDetailSchema(CamelSchema):
    id = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    provider = ma.fields.String(allow_none=True)


class ApiKeySchema(CamelSchema):
    id = ma.fields.UUID(required=True)
    user_id = ma.fields.UUID(required=True)
    name = ma.fields.String(required=True)
    key_prefix = ma.fields.String(required=True, metadata={
        "description": "The key's start and end, for recognising it (never the whole key)"})
    key_alias = ma.fields.String(allow_none=True)
    models = ma.fields.List(ma.fields.String(), required=True)
    model_details = ma.fields.List(ma.fields.Nested(ModelDetailSchema), required=True)
    status = ma.fields.String(required=True, validate=validate.OneOf(PROVISIONING_STATES),
                              metadata={"description": "pending → active → revoking → "
                                                       "revoked; failed with provisioningError"})
    is_active = ma.fields.Boolean(required=True)
    provisioning_error = ma.fields.String(allow_none=True)
    max_budget = ma.fields.Decimal(as_string=False, allow_none=True)
    soft_budget = ma.fields.Decimal(as_string=False, allow_none=True)
    current_spend = ma.fields.Decimal(as_string=False, required=True)
    budget_duration = ma.fields.String(allow_none=True)
    tpm_limit = ma.fields.Integer(allow_none=True)
    rpm_limit = ma.fields.Integer(allow_none=True)
    max_parallel_requests = ma.fields.Integer(allow_none=True)
    model_max_budget = ma.fields.Dict(keys=ma.fields.String(),
                                      values=ma.fields.Nested(ModelBudgetSchema),
                                      allow_none=True)
    model_rpm_limit = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(),
                                     allow_none=True)
    model_tpm_limit = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(),
                                     allow_none=True)
    metadata = ma.fields.Nested(KeyMetadataSchema, required=True)
    expires_at = ma.fields.AwareDateTime(allow_none=True)
    last_used_at = ma.fields.AwareDateTime(allow_none=True)
    revoked_at = ma.fields.AwareDateTime(allow_none=True)
    created_at = ma.fields.AwareDateTime(required=True)
    updated_at = ma.fields.AwareDateTime(required=True)


class AdminApiKeySchema(ApiKeySchema):
    user = ma.fields.Nested(UserRefSchema, required=True)


class ApiKeyUpdatedSchema(ApiKeySchema):
    job_id = ma.fields.UUID(allow_none=True, metadata={
        "description": "The job pushing the change to LiteLLM (none when nothing changed)"})


class ApiKeyCreatedSchema(ApiKeySchema):
    key = ma.fields.String(required=True, metadata={
        "description": "The full key: shown this once, store it now"})
    job_id = ma.fields.UUID(allow_none=True, metadata={
        "description": "Set when LiteLLM was unreachable: this job finishes provisioning and "
                       "the key works once it succeeds"})
    links = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())


class ApiKeyRotatedSchema(CamelSchema):
    id = ma.fields.UUID(required=True)
    key = ma.fields.String(required=True)
    key_prefix = ma.fields.String(required=True)
    old_prefix = ma.fields.String(required=True)
    rotated_at = ma.fields.AwareDateTime(required=True)
    job_id = ma.fields.UUID(required=True, allow_none=True, metadata={
        "description": "The job deleting the old value in LiteLLM (null during a grace "
                       "period: the key hygiene sweep revokes it when the grace ends)"})
    old_value_valid_until = ma.fields.AwareDateTime(allow_none=True, metadata={
        "description": "Until when the old value keeps working (KEY_ROTATION_GRACE)"})


class ApiKeyRevealedSchema(CamelSchema):
    id = ma.fields.UUID(required=True)
    key = ma.fields.String(required=True)
    key_type = ma.fields.String(required=True, metadata={"example": "litellm"})
    key_prefix = ma.fields.String(required=True)
    retrieved_at = ma.fields.AwareDateTime(required=True)


class ApiKeySpendResetSchema(CamelSchema):
    id = ma.fields.UUID(required=True)
    current_spend = ma.fields.Decimal(as_string=False, required=True)
    reset_at = ma.fields.AwareDateTime(required=True)
    job_id = ma.fields.UUID(required=True, metadata={
        "description": "The job resetting the key's spend in LiteLLM"})


ApiKeyPageSchema = page_of(ApiKeySchema, with_total=True)


class KeyOptionSchema(CamelSchema):
    id = ma.fields.UUID(required=True)
    name = ma.fields.String(required=True)
    key_alias = ma.fields.String(allow_none=True)
    user_id = ma.fields.UUID(required=True)
    username = ma.fields.String(required=True)
    email = ma.fields.String(allow_none=True)


class AdminApiKeyPageSchema(page_of(AdminApiKeySchema, "AdminApiKeyPageBaseSchema")):
    api_keys = ma.fields.List(ma.fields.Nested(KeyOptionSchema), metadata={
        "description": "With userIds: every key of those users (at most 1000), for the web "
                       "UI's usage filter"})


class ApiKeyListQuerySchema(PageQuerySchema):
    status = ma.fields.String(validate=validate.OneOf(PROVISIONING_STATES))
    is_active = ma.fields.Boolean(metadata={"description": "true: only active keys"})
    model_id = ma.fields.String(validate=validate.Length(min=1, max=255))
    search = ma.fields.String(validate=validate.Length(min=1, max=255))
    sort = ma.fields.String(load_default="-createdAt",
                            validate=validate.OneOf(sorted(SORTS.choices)))


class AdminApiKeyListQuerySchema(ApiKeyListQuerySchema):
    user_id = ma.fields.UUID()
    user_ids = ma.fields.List(ma.fields.UUID(), validate=validate.Length(max=100), metadata={
        "description": "Keys of these users (the web UI's filter; also listed in `apiKeys`)"})



class _KeyLimitsSchema(CamelSchema):
    max_budget = ma.fields.Decimal(allow_none=True, validate=MONEY, allow_nan=False)
    soft_budget = ma.fields.Decimal(allow_none=True, validate=MONEY, allow_nan=False)
    budget_duration = ma.fields.String(allow_none=True, validate=BUDGET_DURATION)
    tpm_limit = ma.fields.Integer(allow_none=True, strict=True, validate=LIMIT)
    rpm_limit = ma.fields.Integer(allow_none=True, strict=True, validate=LIMIT)
    max_parallel_requests = ma.fields.Integer(allow_none=True, strict=True, validate=LIMIT)
    expires_at = ma.fields.AwareDateTime(allow_none=True, default_timezone=UTC)
    model_max_budget = ma.fields.Dict(
        keys=ma.fields.String(validate=MODEL_ID), values=ma.fields.Nested(ModelBudgetSchema),
        allow_none=True, validate=PER_MODEL, metadata={
            "description": "Per-model budgets (LiteLLM model_max_budget; needs LiteLLM "
                           "Enterprise, LITELLM_ENTERPRISE=true)"})
    model_rpm_limit = ma.fields.Dict(
        keys=ma.fields.String(validate=MODEL_ID),
        values=ma.fields.Integer(strict=True, validate=validate.Range(min=1, max=2_147_483_647)),
        allow_none=True, validate=PER_MODEL)
    model_tpm_limit = ma.fields.Dict(
        keys=ma.fields.String(validate=MODEL_ID),
        values=ma.fields.Integer(strict=True, validate=validate.Range(min=1, max=2_147_483_647)),
        allow_none=True, validate=PER_MODEL)
    metadata = ma.fields.Nested(KeyMetadataSchema, allow_none=True)

    @ma.validates_schema
    def _soft_below_max(self, data, **kwargs):
        soft, hard = data.get("soft_budget"), data.get("max_budget")
        if soft is not None and hard is not None and soft > hard:
            raise ma.ValidationError("softBudget must not exceed maxBudget", "softBudget")


class ApiKeyCreateSchema(_KeyLimitsSchema):
    name = ma.fields.String(required=True, validate=NAME)
    model_ids = ma.fields.List(ma.fields.String(validate=validate.Length(min=1, max=255)),
                               required=True, validate=validate.Length(min=1, max=100))


class ApiKeyUpdateSchema(_KeyLimitsSchema):
    name = ma.fields.String(validate=NAME)
    model_ids = ma.fields.List(ma.fields.String(validate=validate.Length(min=1, max=255)),
                               validate=validate.Length(min=1, max=100))

    @ma.validates_schema
    def _something(self, data, **kwargs):
        if not data:
            raise ma.ValidationError("Nothing to change", "_schema")


class RevokeSchema(CamelSchema):
    reason = ma.fields.String(validate=validate.Length(min=1, max=2000))


def key_view(api_key: ApiKey, models: dict[str, Model], user: User | None = None, **extra) -> dict:
    """The wire object of a key; ``models`` maps model ids to rows for modelDetails."""
    key = api_key
    view = {
        "id": key.id, "user_id": key.user_id, "name": key.name, "key_prefix": key.key_prefix,
        "key_alias": key.key_alias, "models": key.model_ids,
        "model_details": [{"id": m, "name": m,
                           "provider": models[m].provider if m in models else None}
                          for m in key.model_ids],
        "status": key.provisioning_state, "is_active": _is_active(key),
        "provisioning_error": key.provisioning_error, "max_budget": key.max_budget,
        "soft_budget": key.soft_budget, "current_spend": key.spend,
        "budget_duration": key.budget_duration, "tpm_limit": key.tpm_limit,
        "rpm_limit": key.rpm_limit, "max_parallel_requests": key.max_parallel_requests,
        "model_max_budget": key.model_max_budget, "model_rpm_limit": key.model_rpm_limit,
        "model_tpm_limit": key.model_tpm_limit, "metadata": key.key_metadata or {},
        "expires_at": key.expires_at,
        "last_used_at": key.last_used_at, "revoked_at": key.revoked_at,
        "created_at": key.created_at, "updated_at": key.updated_at, **extra,
    }
    if user is not None:
        view["user"] = {"id": user.id, "username": user.username, "email": user.email}
    return view


def _is_active(key: ApiKey) -> bool:
    from datetime import datetime

    expired = key.expires_at is not None and key.expires_at <= datetime.now(UTC)
    return key.provisioning_state == "active" and not expired
