"""Sign-in and the current identity (mock mode here; OAuth/OIDC providers plug in beside it)."""

from __future__ import annotations

from flask import current_app, request
from flask.views import MethodView

from app.api.base import Blueprint
from app.auth.identity import authenticate
from app.auth.permissions import PERMISSIONS, PUBLIC, allowed
from app.errors import NotFound
from app.extensions import db
from app.models import User
from app.schemas.auth import AuthConfigSchema, MeSchema, MockLoginSchema, TokenSchema
from app.schemas.users import UserSchema
from app.services import auth as auth_service

blp = Blueprint("auth", __name__, url_prefix="/auth", description="Authentication")


@blp.route("/config")
@blp.auth(PUBLIC)
@blp.response(200, AuthConfigSchema)
def auth_config():
    """How to sign in: provider, and whether mock users are offered."""
    mock = current_app.config["MOCK_AUTH"]
    return {
        "provider": "mock" if mock else current_app.config["OAUTH_PROVIDER"],
        "mock_enabled": mock,
        "mock_users": sorted(auth_service.MOCK_USERS) if mock else [],
        "login_url": "/api/v1/auth/login",
    }


@blp.route("/login")
class Login(MethodView):
    @blp.auth(PUBLIC)
    @blp.arguments(MockLoginSchema)
    @blp.response(200, TokenSchema)
    @blp.alt_response(404, response="NOT_FOUND", description="Mock sign-in is disabled")
    def post(self, body):
        """Mock sign-in (development/tests): `admin`, `adminro`, `user` or any new username."""
        if not current_app.config["MOCK_AUTH"]:
            raise NotFound("Mock sign-in is disabled; use GET /api/v1/auth/login")
        return auth_service.mock_login(body["username"], request.remote_addr,
                                       request.user_agent.string)


@blp.route("/me")
@blp.auth("authenticated")
@blp.response(200, MeSchema)
def me():
    """The signed-in user, how they authenticated, and the permissions they hold."""
    identity = authenticate()
    permissions = sorted(p for p in PERMISSIONS if p != PUBLIC and allowed(identity.roles, p))
    view = {"username": identity.username, "is_active": True}
    if identity.user_id is not None:  # an admin API key has no user row
        user = db.session.get(User, identity.user_id)
        view = {name: getattr(user, name) for name in UserSchema().fields}
    return {**view, "roles": list(identity.roles), "auth_method": identity.kind,
            "permissions": permissions}
