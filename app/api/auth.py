"""Sign-in (OpenShift OAuth, OIDC, mock), token refresh, logout, sessions and the current user."""

from __future__ import annotations

import logging
import uuid
from urllib.parse import urlencode, urlsplit

from flask import current_app, redirect, request
from flask.views import MethodView

from app.api.base import Blueprint
from app.auth import oauth
from app.auth.identity import authenticate
from app.auth.permissions import PERMISSIONS, PUBLIC, permitted
from app.errors import AppError, NotFound, ServiceUnavailable
from app.extensions import db
from app.models import User
from app.schemas.auth import (
    AuthConfigSchema,
    CallbackQuerySchema,
    LogoutSchema,
    MeSchema,
    MockLoginSchema,
    RefreshSchema,
    SessionPageSchema,
    TokenSchema,
)
from app.schemas.base import PageQuerySchema
from app.schemas.users import UserSchema
from app.services import audit, sessions
from app.services import auth as auth_service
from app.services.listing import paginate

log = logging.getLogger(__name__)

blp = Blueprint("auth", __name__, url_prefix="/auth", description="Authentication")

BINDING_COOKIE = "litemaas_oauth"
CALLBACK_PATH = "/api/v1/auth/callback"
UI_CALLBACK_PATH = "/api/auth/callback"  # the web UI's sign-in routes (app.api.ui_auth)


@blp.route("/config")
@blp.auth(PUBLIC)
@blp.response(200, AuthConfigSchema)
def auth_config():
    """How to sign in: provider, and whether mock users are offered."""
    mock = current_app.config["MOCK_AUTH"]
    configured = oauth.is_configured()
    return {
        "provider": current_app.config["OAUTH_PROVIDER"] if configured or not mock else "mock",
        "oauth_enabled": configured,
        "mock_enabled": mock,
        "mock_users": sorted(auth_service.MOCK_USERS) if mock else [],
        "login_url": "/api/v1/auth/login",
    }


def _callback_url(ui: bool) -> str:
    """OAUTH_CALLBACK_URL (required in production: the Host header must not choose where the
    provider sends the code); in development and tests, this host."""
    configured = current_app.config["OAUTH_CALLBACK_URL"]
    if configured or current_app.config["APP_ENV"] == "production":
        return configured
    return request.host_url.rstrip("/") + (UI_CALLBACK_PATH if ui else CALLBACK_PATH)


def start_sign_in(ui: bool) -> tuple[str, str, str]:
    """Begin a provider sign-in: (authorization URL, binding cookie value, callback path);
    503 when the provider is unconfigured or unreachable."""
    redirect_uri = _callback_url(ui)
    try:
        url, binding = oauth.begin(redirect_uri, ui=ui)
    except (oauth.ProviderUnavailable, oauth.SignInRefused) as exc:
        # Not the caller's fault: the provider is down, unconfigured or not who it says.
        log.warning("cannot start a sign-in: %s", exc)
        audit.record_now("LOGIN_FAILED", "auth", None, success=False,
                         details={"reason": getattr(exc, "reason", "provider_unavailable")})
        raise ServiceUnavailable("Sign-in provider unavailable, retry later",
                                 headers={"Retry-After": "30"}) from None
    return url, binding, urlsplit(redirect_uri).path or CALLBACK_PATH


def bind_browser(response, binding: str, path: str):
    """The HttpOnly cookie that ties the sign-in's state to this browser (login CSRF)."""
    response.set_cookie(BINDING_COOKIE, binding, max_age=current_app.config[
        "OAUTH_STATE_TTL_SECONDS"], path=path, httponly=True, samesite="Lax",
        secure=current_app.config["APP_ENV"] == "production" or request.is_secure)
    return response


@blp.route("/login")
class Login(MethodView):
    @blp.auth(PUBLIC)
    @blp.alt_response(302, description="Redirect to the provider's sign-in page", success=True)
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE",
                      description="OAuth is not configured or the provider is unreachable")
    def get(self):
        """Start an OpenShift/OIDC sign-in: redirects to the provider (authorization code + PKCE).

        The flow's state is kept server-side (Redis, single use, `OAUTH_STATE_TTL_SECONDS`) and
        bound to this browser by an HttpOnly cookie.
        """
        url, binding, path = start_sign_in(ui=False)
        return bind_browser(redirect(url, code=302), binding, path)

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


def _refuse(refused: oauth.SignInRefused, provider_error: str | None) -> AppError:
    details = {"reason": refused.reason, "provider": current_app.config["OAUTH_PROVIDER"]}
    if provider_error:
        details["providerError"] = provider_error[:100]
    audit.record_now("LOGIN_FAILED", "auth", None, success=False, details=details)
    code = "INVALID_STATE" if "state" in refused.reason else "AUTHENTICATION_FAILED"
    error = AppError(refused.message, {"reason": refused.reason.partition(":")[0]}, code=code)
    error.status = refused.status
    return error


def _to_frontend(fragment: dict):
    """Back to the web UI: FRONTEND_URL, else this origin (the UI and API behind one proxy).
    Tokens travel in the fragment only (never sent to a server, never in a query string)."""
    frontend = current_app.config["FRONTEND_URL"].rstrip("/")
    return redirect(f"{frontend}/auth/callback#{urlencode(fragment)}", code=302)


def _finish(result: dict | None, error: AppError | None, ui: bool):
    """Hand over the session: to the web UI (``#token=…&expires_in=…``, one UI-session token,
    no refresh token) or, for API clients without FRONTEND_URL, the token pair as JSON."""
    if ui:
        if error is not None:
            response = _to_frontend({"error": error.code.lower(),
                                     "error_description": error.message})
        else:
            response = _to_frontend({"token": result["access_token"],
                                     "expires_in": result["expires_in"]})
    elif error is not None:
        raise error
    else:
        response = current_app.json.response(TokenSchema().dump(result))
    response.headers["Cache-Control"] = "no-store"
    response.delete_cookie(BINDING_COOKIE, path=request.path)
    return response


def finish_sign_in(query: dict):
    """The provider sent the browser back: verify state, exchange the code, verify the user,
    map groups to roles, upsert the user, queue LiteLLM provisioning and open the session."""
    error: AppError | None = None
    result = None
    frontend = bool(current_app.config["FRONTEND_URL"])
    ui = frontend or request.path == UI_CALLBACK_PATH  # until the state says who started it
    try:
        record = oauth.take_state(query.get("state"), request.cookies.get(BINDING_COOKIE))
        ui = frontend or bool(record.get("ui"))
        if query.get("error"):
            raise oauth.SignInRefused("provider_denied", "Sign-in was cancelled or refused", 400)
        if not query.get("code"):
            raise oauth.SignInRefused("missing_code", "Authentication failed", 400)
        external = oauth.complete(query["code"], record)
        result = auth_service.external_login(external, request.remote_addr,
                                             request.user_agent.string,
                                             session="ui" if ui else "api")
    except oauth.SignInRefused as refused:
        error = _refuse(refused, query.get("error"))
    except oauth.ProviderUnavailable as exc:
        log.warning("sign-in provider unavailable: %s", exc)
        audit.record_now("LOGIN_FAILED", "auth", None, success=False,
                         details={"reason": "provider_unavailable"})
        error = ServiceUnavailable("Sign-in provider unavailable, retry shortly",
                                   headers={"Retry-After": "30"})
    except AppError as exc:  # deactivated account, username clash
        error = exc
    return _finish(result, error, ui)


@blp.route("/callback")
@blp.auth(PUBLIC)
@blp.arguments(CallbackQuerySchema, location="query")
@blp.response(200, TokenSchema, description="The token pair (when `FRONTEND_URL` is not set)")
@blp.alt_response(302, success=True,
                  description="Redirect to `FRONTEND_URL/auth/callback#token=…&expires_in=…` "
                              "(or `#error=…`) when `FRONTEND_URL` is set: one web UI session "
                              "token, never a refresh token")
@blp.alt_response(400, response="BAD_REQUEST", description="Unknown, expired or reused state")
@blp.alt_response(401, response="UNAUTHORIZED",
                  description="The provider refused the code or its id_token is invalid")
@blp.alt_response(403, response="FORBIDDEN", description="The account is deactivated")
@blp.alt_response(409, response="CONFLICT")
@blp.alt_response(503, response="SERVICE_UNAVAILABLE")
def callback(query):
    """Finish an OpenShift/OIDC sign-in: verify state, exchange the code, verify the user,
    map groups to roles, upsert the user, queue LiteLLM provisioning and issue tokens."""
    return finish_sign_in(query)


@blp.route("/refresh", methods=["POST"])
@blp.auth(PUBLIC)
@blp.arguments(RefreshSchema)
@blp.response(200, TokenSchema)
@blp.alt_response(401, response="UNAUTHORIZED",
                  description="Expired, revoked or reused refresh token (reuse revokes "
                              "the session)")
def refresh(body):
    """Exchange a refresh token for a new pair; the old refresh token stops working."""
    return sessions.refresh(body["refresh_token"], request.remote_addr,
                            request.user_agent.string)


@blp.route("/logout", methods=["POST"])
@blp.auth("sessions:manage")
@blp.response(200, LogoutSchema)
@blp.alt_response(400, response="BAD_REQUEST", description="API keys have no session")
def logout():
    """Sign out: revokes this session (its access and refresh tokens) at once."""
    return sessions.logout(authenticate(), oauth.end_session_url())


@blp.route("/sessions")
@blp.auth("sessions:manage")
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, SessionPageSchema)
def list_sessions(query):
    """The caller's active sessions (sign-ins), newest first."""
    identity = authenticate()
    if identity.user_id is None:
        return {"data": [], "pagination": {"page": query["page"], "limit": query["limit"],
                                           "total": 0, "total_pages": 0}}
    page = paginate(sessions.active_query(identity.user_id), query["page"], query["limit"])
    page["data"] = [{**{c: getattr(s, c) for c in ("id", "created_at", "last_used_at",
                                                   "expires_at", "ip_address", "user_agent")},
                     "current": s.id == identity.session_id} for s in page["data"]]
    return page


@blp.route("/sessions/<uuid:session_id>", methods=["DELETE"])
@blp.auth("sessions:manage")
@blp.response(204)
@blp.alt_response(404, response="NOT_FOUND")
def revoke_session(session_id: uuid.UUID):
    """Revoke one of the caller's sessions (e.g. a lost device); its tokens stop working."""
    sessions.revoke(authenticate(), session_id)


@blp.route("/me")
@blp.auth("authenticated")
@blp.response(200, MeSchema)
def me():
    """The signed-in user, how they authenticated, and the permissions they hold (the web UI
    reads `id`, `username`, `email`, `name` and `roles`)."""
    identity = authenticate()
    permissions = sorted(p for p in PERMISSIONS if p != PUBLIC and permitted(identity, p))
    view = {"username": identity.username, "is_active": True}
    if identity.user_id is not None:  # an admin API key has no user row
        user = db.session.get(User, identity.user_id)
        view = {name: getattr(user, name) for name in UserSchema().fields}
    return {**view, "name": view.get("full_name") or view["username"],
            "roles": list(identity.roles), "auth_method": identity.kind,
            "credential": identity.credential, "permissions": permissions}

