"""Mock sign-in, the current identity, and the permission table's enforcement."""

import jwt
import pytest

from app import create_app
from config.settings import ConfigError


def test_mock_login_returns_token_pair_and_user(client):
    response = client.post("/api/v1/auth/login", json={"username": "admin"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["tokenType"] == "Bearer"
    assert body["expiresIn"] > 0 and body["accessToken"] and body["refreshToken"]
    assert body["user"]["username"] == "admin"
    assert set(body["user"]["roles"]) == {"admin", "user"}


@pytest.mark.parametrize(("username", "roles"), [
    ("admin", {"admin", "user"}),
    ("adminro", {"admin-readonly", "user"}),
    ("user", {"user"}),
    ("someone.new", {"user"}),
])
def test_me_reports_roles_of_each_mock_user(client, login, username, roles):
    me = client.get("/api/v1/auth/me", headers=login(username)).get_json()
    assert me["username"] == username
    assert set(me["roles"]) == roles
    assert me["authMethod"] == "jwt"
    assert ("jobs:cancel" in me["permissions"]) == ("admin" in roles)


def test_me_requires_authentication(client):
    response = client.get("/api/v1/auth/me")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "UNAUTHORIZED"


def test_tampered_and_alg_none_tokens_are_refused(client, login):
    token = login("user")["Authorization"].split()[1]
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["roles"] = ["admin"]
    forged = jwt.encode(claims, "wrong-secret", algorithm="HS256")
    unsigned = jwt.encode(claims, None, algorithm="none")
    for bad in (forged, unsigned, token[:-3] + "abc", "garbage"):
        response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {bad}"})
        assert response.status_code == 401, bad


def test_refresh_token_is_not_an_access_token(client):
    body = client.post("/api/v1/auth/login", json={"username": "user"}).get_json()
    response = client.get("/api/v1/auth/me",
                          headers={"Authorization": f"Bearer {body['refreshToken']}"})
    assert response.status_code == 401


def test_admin_api_key_acts_as_admin(client):
    headers = {"X-API-Key": "ltm_admin_test_key_0123456789"}
    me = client.get("/api/v1/auth/me", headers=headers).get_json()
    assert me["roles"] == ["admin"] and me["authMethod"] == "admin_api_key"
    assert client.get("/api/v1/jobs", headers=headers).status_code == 200
    wrong = {"X-API-Key": "ltm_admin_test_key_wrong"}
    assert client.get("/api/v1/jobs", headers=wrong).status_code == 401


def test_auth_config_shows_mock_users(client):
    body = client.get("/api/v1/auth/config").get_json()
    assert body["mockEnabled"] is True
    assert set(body["mockUsers"]) == {"admin", "adminro", "user"}


def test_mock_auth_refuses_to_start_in_production(settings):
    with pytest.raises(ConfigError, match="OAUTH_MOCK"):
        create_app(settings.with_overrides(APP_ENV="production", OAUTH_MOCK=True,
                                           JWT_SECRET="x" * 40))


def test_mock_login_is_404_when_mock_disabled(settings):
    app = create_app(settings.with_overrides(OAUTH_MOCK=False))
    response = app.test_client().post("/api/v1/auth/login", json={"username": "admin"})
    assert response.status_code == 404


def test_permission_denials_are_audited(client, login, app):
    client.get("/api/v1/jobs", headers=login("user"))
    with app.app_context():
        from app.extensions import db
        from app.models import AuditLog

        rows = db.session.query(AuditLog).filter_by(action="PERMISSION_DENIED").all()
        assert len(rows) == 1
        assert rows[0].success is False and rows[0].resource_id == "jobs:list"
