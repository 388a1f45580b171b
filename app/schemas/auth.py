from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from app.schemas.base import CamelSchema
from app.schemas.users import UserSchema

USERNAME = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9._@\-]{0,63}$",
                           error="1-64 characters: letters, digits, . _ @ -")


class MockLoginSchema(CamelSchema):
    username = ma.fields.String(required=True, validate=USERNAME)


class TokenSchema(CamelSchema):
    access_token = ma.fields.String(required=True)
    refresh_token = ma.fields.String(required=True)
    token_type = ma.fields.String(required=True)
    expires_in = ma.fields.Integer(required=True)
    session_id = ma.fields.UUID(required=True)
    user = ma.fields.Nested(UserSchema, required=True)


class MeSchema(UserSchema):
    auth_method = ma.fields.String(required=True)
    permissions = ma.fields.List(ma.fields.String(), required=True)


class AuthConfigSchema(CamelSchema):
    provider = ma.fields.String(required=True)
    mock_enabled = ma.fields.Boolean(required=True)
    mock_users = ma.fields.List(ma.fields.String(), required=True)
    login_url = ma.fields.String(required=True)
