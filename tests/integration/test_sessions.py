"""Access and refresh tokens, rotation with reuse detection, logout, the session list, and
revocation that takes effect at once (deactivation, role changes)."""

from __future__ import annotations

import time

import redis
from sqlalchemy import select

from app.extensions import db
from app.models import AuditLog, User, UserSession
from tests.support.apps import extra_app


def sign_in(client, username="user"):
    response = client.post("/api/v1/auth/login", json={"username": username})
    assert response.status_code == 200
    return response.get_json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def refresh(client, refresh_token: str):
    return client.post("/api/v1/auth/refresh", json={"refreshToken": refresh_token})


def actions(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditLog.action).order_by(AuditLog.created_at)))


def test_refresh_issues_a_new_pair_and_retires_the_old_refresh_token(client, app):
    first = sign_in(client)
    time.sleep(1.01)  # a new iat, so the new tokens differ from the old ones
    second = refresh(client, first["refreshToken"])
    assert second.status_code == 200
    body = second.get_json()
    assert body["sessionId"] == first["sessionId"]
    assert body["refreshToken"] != first["refreshToken"]
    assert client.get("/api/v1/auth/me", headers=bearer(body["accessToken"])).status_code == 200
    assert "TOKEN_REFRESH" in actions(app)


def test_reusing_a_rotated_refresh_token_revokes_the_whole_session(client, app):
    first = sign_in(client)
    rotated = refresh(client, first["refreshToken"]).get_json()
    replay = refresh(client, first["refreshToken"])  # stolen copy presented again
    assert replay.status_code == 401
    assert "reuse" in replay.get_json()["error"]["message"].lower()
    # every token of the session is dead now, including the legitimate holder's newest ones
    assert client.get("/api/v1/auth/me",
                      headers=bearer(rotated["accessToken"])).status_code == 401
    assert refresh(client, rotated["refreshToken"]).status_code == 401
    with app.app_context():
        session = db.session.get(UserSession, first["sessionId"])
        assert session.revoked_at is not None
        assert session.revoked_reason == "refresh_token_reuse"
    assert "TOKEN_REUSE_DETECTED" in actions(app)


def test_other_sessions_survive_a_reuse_in_one_session(client):
    phone, laptop = sign_in(client), sign_in(client)
    refresh(client, phone["refreshToken"])
    refresh(client, phone["refreshToken"])
    assert client.get("/api/v1/auth/me", headers=bearer(laptop["accessToken"])).status_code == 200


def test_access_token_is_not_a_refresh_token(client):
    tokens = sign_in(client)
    assert refresh(client, tokens["accessToken"]).status_code == 401
    assert refresh(client, "not-a-jwt").status_code == 401
    assert client.post("/api/v1/auth/refresh", json={}).status_code == 400


def test_logout_revokes_access_and_refresh_tokens_at_once(client, app):
    tokens = sign_in(client)
    response = client.post("/api/v1/auth/logout", headers=bearer(tokens["accessToken"]))
    assert response.status_code == 200
    assert response.get_json() == {"message": "Signed out", "logoutUrl": None}
    assert client.get("/api/v1/auth/me", headers=bearer(tokens["accessToken"])).status_code == 401
    assert refresh(client, tokens["refreshToken"]).status_code == 401
    assert "LOGOUT" in actions(app)


def test_session_list_shows_own_active_sessions_and_marks_the_current_one(client):
    one, two = sign_in(client), sign_in(client)
    sign_in(client, "admin")  # someone else's session is not listed
    page = client.get("/api/v1/auth/sessions", headers=bearer(two["accessToken"])).get_json()
    assert page["pagination"]["total"] == 2
    by_id = {s["id"]: s for s in page["data"]}
    assert set(by_id) == {one["sessionId"], two["sessionId"]}
    assert by_id[two["sessionId"]]["current"] is True
    assert by_id[one["sessionId"]]["current"] is False


def test_revoking_a_session_ends_its_tokens_but_not_the_others(client, app):
    lost_device, here = sign_in(client), sign_in(client)
    response = client.delete(f"/api/v1/auth/sessions/{lost_device['sessionId']}",
                             headers=bearer(here["accessToken"]))
    assert response.status_code == 204
    assert client.get("/api/v1/auth/me",
                      headers=bearer(lost_device["accessToken"])).status_code == 401
    assert refresh(client, lost_device["refreshToken"]).status_code == 401
    assert client.get("/api/v1/auth/me", headers=bearer(here["accessToken"])).status_code == 200
    assert "SESSION_REVOKED" in actions(app)


def test_another_users_session_id_answers_404(client):
    victim, attacker = sign_in(client, "user"), sign_in(client, "mallory")
    response = client.delete(f"/api/v1/auth/sessions/{victim['sessionId']}",
                             headers=bearer(attacker["accessToken"]))
    assert response.status_code == 404
    assert client.get("/api/v1/auth/me", headers=bearer(victim["accessToken"])).status_code == 200


def test_deactivating_a_user_invalidates_every_token_at_once(client, login, app):
    victim = sign_in(client, "bob")
    admin = login("admin")
    response = client.patch(f"/api/v1/users/{victim['user']['id']}", json={"isActive": False},
                            headers=admin)
    assert response.status_code == 200, response.get_json()
    assert client.get("/api/v1/auth/me", headers=bearer(victim["accessToken"])).status_code == 401
    assert refresh(client, victim["refreshToken"]).status_code == 401
    with app.app_context():
        assert db.session.get(UserSession, victim["sessionId"]).revoked_reason == (
            "access_changed")


def test_changing_roles_invalidates_tokens_carrying_the_old_roles(client, login):
    promoted = sign_in(client, "bob")
    response = client.patch(f"/api/v1/users/{promoted['user']['id']}",
                            json={"roles": ["admin-readonly", "user"]}, headers=login("admin"))
    assert response.status_code == 200
    assert client.get("/api/v1/auth/me",
                      headers=bearer(promoted["accessToken"])).status_code == 401
    again = sign_in(client, "bob")
    me = client.get("/api/v1/auth/me", headers=bearer(again["accessToken"])).get_json()
    assert set(me["roles"]) == {"admin-readonly", "user"}


def test_revocation_holds_when_redis_forgot_it(client, app):
    """Redis is the fast path; the database refuses the refresh token anyway."""
    tokens = sign_in(client)
    client.post("/api/v1/auth/logout", headers=bearer(tokens["accessToken"]))
    with app.app_context():
        from app.extensions import redis_client
        from app.services.sessions import _revoked_key

        redis_client().delete(_revoked_key(tokens["sessionId"]))
    assert refresh(client, tokens["refreshToken"]).status_code == 401


def test_session_checks_fall_back_to_the_database_when_redis_is_down(settings, client, app):
    tokens = sign_in(client)
    client.post("/api/v1/auth/logout", headers=bearer(tokens["accessToken"]))
    live = sign_in(client)
    with extra_app(settings, REDIS_URL="redis://127.0.0.1:1/0") as no_redis:
        other = no_redis.test_client()
        assert other.get("/api/v1/auth/me",
                         headers=bearer(tokens["accessToken"])).status_code == 401
        assert other.get("/api/v1/auth/me", headers=bearer(live["accessToken"])).status_code == 200
        with no_redis.app_context():
            try:
                no_redis.extensions["redis"].ping()
                raise AssertionError("expected Redis to be unreachable")
            except redis.RedisError:
                pass


def test_inactive_user_row_refuses_even_a_fresh_token(client, app):
    tokens = sign_in(client)
    with app.app_context():
        user = db.session.get(User, tokens["user"]["id"])
        user.is_active = False
        db.session.commit()
    assert client.get("/api/v1/auth/me", headers=bearer(tokens["accessToken"])).status_code == 401
