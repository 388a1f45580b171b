from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from app.schemas.base import CamelSchema, page_of
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
    name = ma.fields.String(required=True, metadata={
        "description": "The display name: fullName, else username"})
    auth_method = ma.fields.String(required=True)
    credential = ma.fields.String(required=True, metadata={
        "description": "session, api_key (narrow scope: the catalogue, its own usage and "
                       "itself) or admin_api_key"})
    permissions = ma.fields.List(ma.fields.String(), required=True, metadata={
        "description": "What this caller, with this credential, may do"})


class AuthConfigSchema(CamelSchema):
    provider = ma.fields.String(required=True, metadata={
        "description": "openshift or oidc when configured, else mock"})
    oauth_enabled = ma.fields.Boolean(required=True, metadata={
        "description": "GET loginUrl starts a provider sign-in"})
    mock_enabled = ma.fields.Boolean(required=True)
    mock_users = ma.fields.List(ma.fields.String(), required=True)
    login_url = ma.fields.String(required=True)


class RefreshSchema(CamelSchema):
    refresh_token = ma.fields.String(required=True, validate=validate.Length(min=1, max=4096))


class LogoutSchema(CamelSchema):
    message = ma.fields.String(required=True)
    logout_url = ma.fields.String(allow_none=True, metadata={
        "description": "The provider's end-session URL (OIDC), to end the provider session too"})


class CallbackQuerySchema(CamelSchema):
    class Meta:
        unknown = ma.EXCLUDE  # providers add their own parameters (session_state, iss, …)

    code = ma.fields.String(validate=validate.Length(max=4096))
    state = ma.fields.String(validate=validate.Length(max=512))
    error = ma.fields.String(validate=validate.Length(max=256))
    error_description = ma.fields.String(data_key="error_description",
                                         validate=validate.Length(max=2048))
    session_state = ma.fields.String(data_key="session_state", validate=validate.Length(max=512))
    iss = ma.fields.String(validate=validate.Length(max=2048))
    scope = ma.fields.String(validate=validate.Length(max=2048))

    def on_bind_field(self, field_name, field_obj):
        """Provider parameters keep their OAuth names (snake_case)."""


class SessionSchema(CamelSchema):
    id = ma.fields.UUID(required=True)
    created_at = ma.fields.AwareDateTime(required=True)
    last_used_at = ma.fields.AwareDateTime(allow_none=True)
    expires_at = ma.fields.AwareDateTime(required=True)
    ip_address = ma.fields.String(allow_none=True)
    user_agent = ma.fields.String(allow_none=True)
    current = ma.fields.Boolean(required=True)


SessionPageSchema = page_of(SessionSchema)


class UiLoginSchema(CamelSchema):
    """The web UI posts an empty object."""


class AuthUrlSchema(CamelSchema):
    auth_url = ma.fields.String(required=True, metadata={
        "description": "The provider's sign-in page; the browser goes there"})


class DevTokenRequestSchema(CamelSchema):
    username = ma.fields.String(load_default="developer", validate=USERNAME)
    roles = ma.fields.List(ma.fields.String(validate=validate.Length(max=64)),
                           validate=validate.Length(max=10), metadata={
                               "description": "Ignored: a mock user's roles are fixed here"})


class DevTokenUserSchema(CamelSchema):
    user_id = ma.fields.UUID(required=True)
    username = ma.fields.String(required=True)
    email = ma.fields.String(allow_none=True)
    roles = ma.fields.List(ma.fields.String(), required=True)


class DevTokenSchema(ma.Schema):
    """snake_case, as the web UI reads it."""

    access_token = ma.fields.String(required=True)
    token_type = ma.fields.String(required=True)
    expires_in = ma.fields.Integer(required=True)
    user = ma.fields.Nested(DevTokenUserSchema, required=True)
