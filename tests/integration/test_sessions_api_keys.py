"""API keys as credentials (owner's user rights, cached lookup, revocation and expiry at once)
and admin API keys (admin rights, every use audited)."""

from __future__ import annotations

import hashlib
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.auth import invalidate_api_key_cache
from app.extensions import db, redis_client
from app.models import ApiKey, AuditLog, User

ADMIN_KEY = "ltm_admin_test_key_0123456789"


def make_key(app, username: str, **fields) -> tuple[str, str]:
    """A user's key straight in the database; returns (raw key, its sha256)."""
    raw = f"sk-{uuid.uuid4().hex}{uuid.uuid4().hex[:16]}"
    digest = hashlib.sha256(raw.encode()).hexdigest()
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        db.session.add(ApiKey(user_id=user.id, name="test", key_prefix=raw[:10], key_hash=digest,
                              provisioning_state="active", **fields))
        db.session.commit()
    return raw, digest


def me(client, headers):
    return client.get("/api/v1/auth/me", headers=headers)


def test_bearer_and_x_api_key_authenticate_as_the_owner_with_user_rights(client, login, app):
    login("admin")
    raw, _ = make_key(app, "admin")
    for headers in ({"Authorization": f"Bearer {raw}"}, {"X-API-Key": raw}):
        body = me(client, headers).get_json()
        assert body["username"] == "admin"
        assert body["authMethod"] == "api_key"
        assert body["roles"] == ["user"]  # an admin's key is still only a user's key
        assert client.get("/api/v1/users", headers=headers).status_code == 403


def test_use_is_recorded_as_last_used_at_once_a_minute(client, login, app):
    login("user")
    raw, digest = make_key(app, "user")
    assert me(client, {"X-API-Key": raw}).status_code == 200
    with app.app_context():
        first = db.session.scalar(select(ApiKey.last_used_at).where(ApiKey.key_hash == digest))
        db.session.remove()
    assert first is not None
    assert me(client, {"X-API-Key": raw}).status_code == 200
    with app.app_context():
        again = db.session.scalar(select(ApiKey.last_used_at).where(ApiKey.key_hash == digest))
    assert again == first  # no write per request


def test_lookup_is_cached_in_redis_with_a_short_ttl(client, login, app):
    login("user")
    raw, digest = make_key(app, "user")
    assert me(client, {"X-API-Key": raw}).status_code == 200
    with app.app_context():
        from app.auth.api_keys import _cache_key

        ttl = redis_client().ttl(_cache_key(digest))
    assert 0 < ttl <= app.config["API_KEY_CACHE_TTL_SECONDS"]


def test_revoked_key_is_refused_at_once_after_invalidation(client, login, app):
    login("user")
    raw, digest = make_key(app, "user")
    headers = {"X-API-Key": raw}
    assert me(client, headers).status_code == 200  # now cached
    with app.app_context():
        key = db.session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
        key.revoked_at = datetime.now(UTC)
        key.provisioning_state = "revoked"
        db.session.commit()
        invalidate_api_key_cache(digest)
    response = me(client, headers)
    assert response.status_code == 401
    with app.app_context():
        failure = db.session.scalars(select(AuditLog).where(AuditLog.action == "AUTH_FAILED")
                                     .order_by(AuditLog.created_at.desc())).first()
        assert failure.details["reason"] == "revoked_api_key"


def test_expired_key_is_refused_even_while_cached(client, login, app):
    login("user")
    raw, _ = make_key(app, "user", expires_at=datetime.now(UTC) + timedelta(seconds=1))
    headers = {"X-API-Key": raw}
    assert me(client, headers).status_code == 200
    time.sleep(1.1)
    assert me(client, headers).status_code == 401


def test_deactivating_the_owner_refuses_their_keys_at_once(client, login, app):
    owner = login("bob")
    raw, _ = make_key(app, "bob")
    headers = {"X-API-Key": raw}
    assert me(client, headers).status_code == 200
    bob_id = me(client, owner).get_json()["id"]
    patched = client.patch(f"/api/v1/users/{bob_id}", json={"isActive": False},
                           headers=login("admin"))
    assert patched.status_code == 200
    assert me(client, headers).status_code == 401


def test_unknown_key_is_refused_and_audited_without_the_key(client, app):
    raw = "sk-" + "x" * 48
    assert me(client, {"Authorization": f"Bearer {raw}"}).status_code == 401
    with app.app_context():
        [failure] = db.session.scalars(select(AuditLog).where(AuditLog.action == "AUTH_FAILED"))
        assert failure.details["reason"] == "unknown_api_key"
        assert raw not in str(failure.details) and raw[:20] not in str(failure.details)


def test_each_admin_api_key_use_is_audited_as_admin(client, app):
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    assert me(client, headers).get_json()["roles"] == ["admin"]
    assert client.get("/api/v1/users", headers=headers).status_code == 200
    with app.app_context():
        uses = db.session.scalars(select(AuditLog)
                                  .where(AuditLog.action == "ADMIN_API_KEY_USED")).all()
        assert sorted(u.details["path"] for u in uses) == ["/api/v1/auth/me", "/api/v1/users"]
        assert all(u.actor_label.startswith("admin_api_key:") for u in uses)
        assert all(ADMIN_KEY not in str(u.details) + u.actor_label for u in uses)
    assert me(client, {"X-API-Key": ADMIN_KEY + "x"}).status_code == 401


def test_public_endpoints_ignore_bad_credentials_without_auditing(client, app):
    response = client.get("/api/v1/auth/config", headers={"Authorization": "Bearer junk"})
    assert response.status_code == 200
    with app.app_context():
        assert db.session.scalars(select(AuditLog)).all() == []
