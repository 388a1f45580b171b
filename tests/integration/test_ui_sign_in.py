"""The web UI's sign-in, as upstream LiteMaaS' UI drives it, against the fake OIDC provider over
real HTTP: POST /api/auth/login → {authUrl} → the provider → /api/auth/callback → the UI at
/auth/callback#token=…&expires_in=… → /api/v1/auth/me; logout; mock mode's dev token. The UI
session lasts UI_SESSION_TTL_SECONDS, yet logout, deactivation and role changes end it at once.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask_jwt_extended import decode_token
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditLog, User, UserSession
from tests.support.apps import extra_app
from tests.support.fake_oidc import FakeUser

PORTAL = "https://portal.example.com"


pytestmark = pytest.mark.usefixtures("fresh_provider")


def oidc_settings(provider, **extra) -> dict:
    return {"OAUTH_PROVIDER": "oidc", "OAUTH_CLIENT_ID": provider.client_id,
            "OAUTH_CLIENT_SECRET": provider.client_secret, "OAUTH_ISSUER_URL": provider.url,
            "ADMIN_GROUPS": ("platform-admins",), "OAUTH_MOCK": False, **extra}


@pytest.fixture(scope="module")
def ui_app(settings, provider, app):
    with extra_app(settings, **oidc_settings(
            provider, FRONTEND_URL=PORTAL,
            OAUTH_CALLBACK_URL="http://localhost/api/auth/callback")) as ui:
        yield ui


def ui_sign_in(client, provider) -> str:
    """Click the SSO button, consent at the provider, come back: the UI's callback URL."""
    started = client.post("/api/auth/login", json={})
    assert started.status_code == 200, started.get_json()
    auth_url = started.get_json()["authUrl"]
    assert auth_url.startswith(f"{provider.url}/authorize?")
    at_provider = requests.get(auth_url, allow_redirects=False, timeout=5)
    assert at_provider.status_code == 302
    back = urlsplit(at_provider.headers["Location"])
    assert back.path == "/api/auth/callback"
    answer = client.get(f"{back.path}?{back.query}")
    assert answer.status_code == 302, answer.get_json()
    assert answer.headers["Cache-Control"] == "no-store"
    return answer.headers["Location"]


def token_of(location: str) -> tuple[str, int]:
    parts = urlsplit(location)
    fragment = parse_qs(parts.fragment)
    return fragment["token"][0], int(fragment["expires_in"][0])


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_sso_button_signs_in_and_the_ui_reads_the_user(ui_app, provider):
    provider.user = FakeUser(sub="ui-1", username="uma", email="uma@example.com",
                             name="Uma U", groups=["platform-admins"])
    client = ui_app.test_client()
    location = ui_sign_in(client, provider)
    assert location.startswith(f"{PORTAL}/auth/callback#")
    token, expires_in = token_of(location)
    assert expires_in == 24 * 3600  # a UI session lasts as long as upstream's
    me = client.get("/api/v1/auth/me", headers=bearer(token))
    assert me.status_code == 200
    user = me.get_json()
    assert {"id", "username", "email", "name", "roles"} <= set(user)
    assert (user["username"], user["email"], user["name"]) == ("uma", "uma@example.com", "Uma U")
    assert set(user["roles"]) == {"admin", "user"}
    with ui_app.app_context():
        claims = decode_token(token)
        assert claims["type"] == "access" and claims["sid"]
        assert claims["exp"] - claims["iat"] == 24 * 3600
        session = db.session.get(UserSession, claims["sid"])
        assert session is not None and session.revoked_at is None


def test_state_pkce_and_nonce_are_kept_in_the_ui_flow(ui_app, provider):
    client = ui_app.test_client()
    auth_url = client.post("/api/auth/login", json={}).get_json()["authUrl"]
    query = parse_qs(urlsplit(auth_url).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"][0]
    assert query["redirect_uri"] == ["http://localhost/api/auth/callback"]
    cookie = client.get_cookie("litemaas_oauth", path="/api/auth/callback")
    assert cookie is not None and cookie.http_only
    callback = urlsplit(requests.get(auth_url, allow_redirects=False, timeout=5)
                        .headers["Location"])
    stranger = ui_app.test_client()  # the state is bound to the browser that started it
    refused = stranger.get(f"{callback.path}?{callback.query}")
    assert refused.status_code == 302
    assert parse_qs(urlsplit(refused.headers["Location"]).fragment)["error"] == [
        "invalid_state"]
    provider.knobs.sign_with_wrong_key = True  # and the id_token is still verified
    location = urlsplit(client.get(f"{callback.path}?{callback.query}").headers["Location"])
    assert "token" not in parse_qs(location.fragment)


def test_forged_id_token_sends_the_ui_back_with_an_error(ui_app, provider):
    provider.knobs.sign_with_wrong_key = True
    location = urlsplit(ui_sign_in(ui_app.test_client(), provider))
    fragment = parse_qs(location.fragment)
    assert fragment["error"] == ["authentication_failed"] and "token" not in fragment
    with ui_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_logout_ends_the_ui_session_at_once(ui_app, provider):
    client = ui_app.test_client()
    token, _ = token_of(ui_sign_in(client, provider))
    response = client.post("/api/auth/logout", json={}, headers=bearer(token))
    assert response.status_code == 200
    assert response.get_json()["logoutUrl"] == f"{provider.url}/logout"
    assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 401


@pytest.mark.parametrize("change", ["deactivate", "demote"])
def test_deactivation_and_role_changes_end_the_ui_session_at_once(ui_app, provider, change):
    provider.user = FakeUser(sub="ui-2", username="vic", groups=["developers"])
    client = ui_app.test_client()
    token, _ = token_of(ui_sign_in(client, provider))
    assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 200
    with ui_app.app_context():
        from app.services import sessions

        admin = User(username="boss", oauth_provider="mock", oauth_subject="boss",
                     roles=["admin", "user"])
        db.session.add(admin)
        db.session.flush()
        admin_token = sessions.start(admin, "127.0.0.1", "test")["access_token"]
        vic = db.session.scalar(select(User).where(User.username == "vic"))
        vic_id = str(vic.id)
        db.session.commit()
    body = {"isActive": False} if change == "deactivate" else {"roles": ["user",
                                                                          "admin-readonly"]}
    changed = client.patch(f"/api/v1/users/{vic_id}", json=body, headers=bearer(admin_token))
    assert changed.status_code == 200, changed.get_json()
    assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 401


def test_the_ui_token_cannot_be_refreshed(ui_app, provider):
    client = ui_app.test_client()
    token, _ = token_of(ui_sign_in(client, provider))
    response = client.post("/api/v1/auth/refresh", json={"refreshToken": token})
    assert response.status_code == 401


def test_without_frontend_url_the_ui_flow_comes_back_to_this_origin(settings, provider):
    with extra_app(settings, **oidc_settings(provider)) as same_origin:
        location = ui_sign_in(same_origin.test_client(), provider)
    assert location.startswith("/auth/callback#token=")


def test_ui_login_without_oauth_configured_answers_503(client):
    response = client.post("/api/auth/login", json={})
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "SERVICE_UNAVAILABLE"


def test_ui_login_refuses_unknown_fields(ui_app):
    response = ui_app.test_client().post("/api/auth/login", json={"redirect": "https://evil"})
    assert response.status_code == 400
    assert set(response.get_json()) == {"error"}


# --- mock mode: the login page's test button and the dev token -------------------------------


def test_dev_token_signs_in_a_mock_user_with_its_own_roles(app, client):
    response = client.post("/api/auth/dev-token",
                           json={"username": "user", "roles": ["admin", "user"]})
    assert response.status_code == 200
    body = response.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 3600
    assert body["user"]["username"] == "user"
    assert body["user"]["roles"] == ["user"]  # asked roles are ignored: no self-promotion
    me = client.get("/api/v1/auth/me", headers=bearer(body["access_token"])).get_json()
    assert me["roles"] == ["user"] and me["name"] == "Regular User"


def test_dev_token_before_every_request_reuses_one_session(app, client):
    tokens = [client.post("/api/auth/dev-token", json={"username": "admin", "roles": []})
              .get_json()["access_token"] for _ in range(5)]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(UserSession)) == 1
        assert db.session.scalar(select(func.count()).select_from(AuditLog)
                                 .where(AuditLog.action == "LOGIN")) == 1
    assert all(client.get("/api/v1/auth/me", headers=bearer(t)).status_code == 200
               for t in tokens)


def test_dev_token_is_refused_when_mock_sign_in_is_off(ui_app):
    response = ui_app.test_client().post("/api/auth/dev-token", json={"username": "admin"})
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "NOT_FOUND"


def test_dev_token_validates_the_username(client):
    response = client.post("/api/auth/dev-token", json={"username": "<script>"})
    assert response.status_code == 400
    assert "username" in str(response.get_json()["error"]["details"])


def test_dev_token_before_every_request_is_not_rate_limited_in_mock_mode(settings):
    with extra_app(settings, RATE_LIMIT_ANONYMOUS=2) as limited:
        client = limited.test_client()
        statuses = [client.post("/api/auth/dev-token", json={"username": "admin"}).status_code
                    for _ in range(5)]
    assert statuses == [200] * 5


def test_either_callback_path_serves_either_flow(settings, provider):
    """One registered redirect URI serves both: an API client's sign-in started at
    /api/v1/auth/login still gets its JSON token pair at /api/auth/callback."""
    with extra_app(settings, OAUTH_CALLBACK_URL="http://localhost/api/auth/callback",
                   **oidc_settings(provider)) as app:
        client = app.test_client()
        started = client.get("/api/v1/auth/login")
        at_provider = requests.get(started.headers["Location"], allow_redirects=False,
                                   timeout=5)
        back = urlsplit(at_provider.headers["Location"])
        assert back.path == "/api/auth/callback"
        answer = client.get(f"{back.path}?{back.query}")
        assert answer.status_code == 200, answer.get_json()
        assert {"accessToken", "refreshToken"} <= set(answer.get_json())
        assert ui_sign_in(client, provider).startswith("/auth/callback#token=")
