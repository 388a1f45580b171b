"""Sign-in as the web UI does it (upstream LiteMaaS' contract, unversioned ``/api/auth``):
``POST /login`` → ``{authUrl}`` → the provider → ``GET /callback`` → the UI at
``/auth/callback#token=…&expires_in=…``; ``POST /logout``; and, while mock sign-in is enabled
(never in production), ``POST /dev-token``.

The flow is the native one (app.api.auth): state, PKCE and nonce in Redis bound to the browser,
verified id_token. The UI never refreshes, so it gets one token per UI session
(``UI_SESSION_TTL_SECONDS``), checked against the server-side session on every request.
"""

from __future__ import annotations

from flask import current_app, request

from app.api.auth import bind_browser, finish_sign_in, start_sign_in
from app.api.base import Blueprint
from app.auth import oauth
from app.auth.identity import authenticate
from app.auth.permissions import PUBLIC
from app.errors import NotFound
from app.schemas.auth import (
    AuthUrlSchema,
    CallbackQuerySchema,
    DevTokenRequestSchema,
    DevTokenSchema,
    LogoutSchema,
    UiLoginSchema,
)
from app.services import auth as auth_service
from app.services import sessions

blp = Blueprint("ui_auth", __name__, url_prefix="/api/auth",
                description="Sign-in for the web UI (no version in the path, as the UI calls "
                            "it); API clients use /api/v1/auth")


@blp.route("/login", methods=["POST"])
@blp.auth(PUBLIC)
@blp.arguments(UiLoginSchema)
@blp.response(200, AuthUrlSchema)
@blp.alt_response(503, response="SERVICE_UNAVAILABLE",
                  description="OAuth is not configured or the provider is unreachable")
def login(body):
    """Start the web UI's sign-in: the provider's sign-in URL (authorization code + PKCE,
    state bound to this browser by an HttpOnly cookie)."""
    url, binding, path = start_sign_in(ui=True)
    response = current_app.json.response(AuthUrlSchema().dump({"auth_url": url}))
    response.headers["Cache-Control"] = "no-store"
    return bind_browser(response, binding, path)


@blp.route("/callback")
@blp.auth(PUBLIC)
@blp.arguments(CallbackQuerySchema, location="query")
@blp.alt_response(302, success=True,
                  description="To the web UI: `/auth/callback#token=…&expires_in=…`, or "
                              "`#error=…` (FRONTEND_URL, else this origin)")
def callback(query):
    """Where the provider sends the browser back (OAUTH_CALLBACK_URL may point here or at
    /api/v1/auth/callback): finishes the sign-in and hands the UI its session token."""
    return finish_sign_in(query)


@blp.route("/logout", methods=["POST"])
@blp.auth("sessions:manage")
@blp.response(200, LogoutSchema)
@blp.alt_response(400, response="BAD_REQUEST", description="API keys have no session")
def logout():
    """Sign out: ends this session on the server at once (`logoutUrl`: the provider's
    end-session page, OIDC)."""
    return sessions.logout(authenticate(), oauth.end_session_url())


@blp.route("/dev-token", methods=["POST"])
@blp.auth(PUBLIC)
@blp.arguments(DevTokenRequestSchema)
@blp.response(200, DevTokenSchema)
@blp.alt_response(404, response="NOT_FOUND",
                  description="Mock sign-in is disabled (always, in production)")
def dev_token(body):
    """Development only (mock sign-in): a token for a mock user, as the UI's test sign-in asks
    before every request. The user's roles are the mock user's (`roles` is ignored); an open
    development session of the user is reused."""
    if not current_app.config["MOCK_AUTH"]:
        raise NotFound("Mock sign-in is disabled")
    result = auth_service.mock_login(body["username"], request.remote_addr,
                                     request.user_agent.string, session="dev")
    user = result["user"]
    return {"access_token": result["access_token"], "token_type": "Bearer",
            "expires_in": result["expires_in"],
            "user": {"user_id": user.id, "username": user.username, "email": user.email,
                     "roles": list(user.roles)}}
