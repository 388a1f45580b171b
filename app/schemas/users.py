from __future__ import annotations

import marshmallow as ma

from app.schemas.base import CamelSchema


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
