from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from app.litellm.durations import BUDGET_DURATION_HELP, BUDGET_DURATION_PATTERN
from app.models import ROLES
from app.schemas.base import CamelSchema, PageQuerySchema, display_name, page_of
from app.services.users import SORTS as USER_SORTS

# One budget-duration vocabulary for keys, users and teams: what LiteLLM accepts.
BUDGET_DURATION = validate.Regexp(BUDGET_DURATION_PATTERN, error=BUDGET_DURATION_HELP)


class UserSchema(CamelSchema):
    id = ma.fields.UUID(required=True)
    username = ma.fields.String(required=True)
    email = ma.fields.String(allow_none=True)
    full_name = ma.fields.String(allow_none=True)
    roles = ma.fields.List(ma.fields.String(), required=True)
    is_active = ma.fields.Boolean(required=True)
    max_budget = ma.fields.Decimal(as_string=False, allow_none=True)
    budget_duration = ma.fields.String(allow_none=True)
    tpm_limit = ma.fields.Integer(allow_none=True)
    rpm_limit = ma.fields.Integer(allow_none=True)
    spend = ma.fields.Decimal(as_string=False)
    last_login_at = ma.fields.AwareDateTime(allow_none=True)
    created_at = ma.fields.AwareDateTime(required=True)


UserPageSchema = page_of(UserSchema)


class EffectiveLimitsSchema(CamelSchema):
    max_budget = ma.fields.Float(required=True)
    tpm_limit = ma.fields.Integer(required=True)
    rpm_limit = ma.fields.Integer(required=True)
    budget_duration = ma.fields.String()


class UserDetailSchema(UserSchema):
    oauth_provider = ma.fields.String(required=True)
    litellm_user_id = ma.fields.String(allow_none=True)
    updated_at = ma.fields.AwareDateTime(required=True)
    effective_limits = ma.fields.Nested(EffectiveLimitsSchema, required=True, metadata={
        "description": "What LiteLLM enforces: the user's values, else the platform defaults"})
    subscriptions_count = ma.fields.Integer(required=True)
    active_subscriptions_count = ma.fields.Integer(required=True)
    api_keys_count = ma.fields.Integer(required=True)
    active_api_keys_count = ma.fields.Integer(required=True)


class UserUpdatedSchema(UserDetailSchema):
    job_id = ma.fields.UUID(allow_none=True, metadata={
        "description": "The provisioning job pushing budget/limit changes to LiteLLM"})


class UserListQuerySchema(PageQuerySchema):
    search = ma.fields.String(validate=validate.Length(min=1, max=255))
    role = ma.fields.String(validate=validate.OneOf(ROLES))
    is_active = ma.fields.Boolean()
    sort = ma.fields.String(load_default="username", validate=validate.OneOf(
        USER_SORTS.choices), metadata={
        "description": "Field to sort by; prefix with - for descending"})


class UserUpdateSchema(CamelSchema):
    roles = ma.fields.List(ma.fields.String(validate=validate.OneOf(ROLES)),
                           validate=validate.Length(min=1, max=3), metadata={
                               "description": "`user` is always kept"})
    is_active = ma.fields.Boolean()
    max_budget = ma.fields.Decimal(allow_none=True, places=6, validate=validate.Range(
        min=0, max=10**9), metadata={"description": "null: the platform default"})
    tpm_limit = ma.fields.Integer(allow_none=True, strict=True,
                                  validate=validate.Range(min=0, max=10**9))
    rpm_limit = ma.fields.Integer(allow_none=True, strict=True,
                                  validate=validate.Range(min=0, max=10**9))
    budget_duration = ma.fields.String(allow_none=True, validate=BUDGET_DURATION)

    @ma.validates_schema
    def not_empty(self, data, **kwargs):
        if not data:
            raise ma.ValidationError("Give at least one field to change", "_schema")


class ProfileUpdateSchema(CamelSchema):
    full_name = ma.fields.String(required=True, allow_none=True, validate=display_name(255),
                                 metadata={"description": "No markup, control or bidi "
                                                          "characters, no line breaks"})


class ActivityQuerySchema(PageQuerySchema):
    action = ma.fields.String(validate=validate.Length(min=1, max=100))
