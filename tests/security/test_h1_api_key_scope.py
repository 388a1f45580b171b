"""H1 — an API key used as a credential here has a narrow scope: it reads the catalogue, its own
usage and itself, and never manages keys, subscriptions, teams, sessions or the account (it
cannot rotate its siblings, raise its own budget, remove its expiry, revoke the owner's sessions
or read their activity). Admin API keys from ADMIN_API_KEYS stay admins."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import ApiKey, User, UserSession
from app.services import sessions

ADMIN_KEY = "ltm_admin_test_key_0123456789"


def _key(owner: User, name: str) -> tuple[ApiKey, str]:
    raw = "sk-" + secrets.token_urlsafe(36)[:48]
    digest = hashlib.sha256(raw.encode()).hexdigest()
    key = ApiKey(id=uuid.uuid4(), user_id=owner.id, name=name, key_prefix=raw[:10],
                 key_hash=digest, litellm_key_token=digest, provisioning_state="active",
                 max_budget=5, expires_at=datetime.now(UTC) + timedelta(days=7))
    db.session.add(key)
    return key, raw


@pytest.fixture
def owner(app):
    """A user with a session (a second device) and two keys: ``leaked`` and ``sibling``."""
    with app.app_context():
        user = User(username="owner", oauth_provider="mock", oauth_subject="owner",
                    roles=["user"])
        db.session.add(user)
        db.session.flush()
        device = sessions.start(user, "10.0.0.7", "laptop")
        leaked, raw = _key(user, "leaked")
        sibling, _ = _key(user, "sibling")
        db.session.commit()
        yield {"raw": raw, "leaked": str(leaked.id), "sibling": str(sibling.id),
               "session": str(device["session_id"]), "user": str(user.id)}
        db.session.remove()


def as_key(owner) -> dict:
    return {"Authorization": f"Bearer {owner['raw']}"}


def test_a_key_reads_the_catalogue_its_own_usage_and_itself(client, owner):
    headers = as_key(owner)
    assert client.get("/api/v1/models", headers=headers).status_code == 200
    assert client.get("/api/v1/usage/summary", headers=headers).status_code == 200
    itself = client.get(f"/api/v1/api-keys/{owner['leaked']}", headers=headers)
    assert itself.status_code == 200
    listed = client.get("/api/v1/api-keys", headers=headers).get_json()["data"]
    assert [k["id"] for k in listed] == [owner["leaked"]]  # not its siblings
    me = client.get("/api/v1/auth/me", headers=headers).get_json()
    assert me["credential"] == "api_key"
    assert set(me["permissions"]) == {"authenticated", "usage:read", "api_keys:read"}


def test_a_key_does_not_see_its_siblings_or_their_usage(client, owner):
    headers = as_key(owner)
    assert client.get(f"/api/v1/api-keys/{owner['sibling']}", headers=headers).status_code == 404
    usage = client.get(f"/api/v1/usage/summary?apiKeyId={owner['sibling']}", headers=headers)
    assert usage.status_code == 404


@pytest.mark.parametrize(("method", "path", "body"), [
    ("post", "/api/v1/api-keys/{sibling}/rotate", None),  # would hand out the new value
    ("post", "/api/v1/api-keys/{leaked}/rotate", None),
    ("post", "/api/v1/api-keys/{sibling}/reveal", None),
    ("post", "/api/v1/api-keys", {"name": "forever", "modelIds": ["gpt-4o"]}),
    ("patch", "/api/v1/api-keys/{leaked}", {"maxBudget": 100000}),  # raise its own budget
    ("patch", "/api/v1/api-keys/{leaked}", {"expiresAt": None}),  # remove its expiry
    ("delete", "/api/v1/api-keys/{sibling}", None),
    ("get", "/api/v1/auth/sessions", None),
    ("delete", "/api/v1/auth/sessions/{session}", None),  # sign the owner out
    ("post", "/api/v1/auth/logout", None),
    ("get", "/api/v1/users/me", None),
    ("patch", "/api/v1/users/me", {"fullName": "Pwned"}),
    ("get", "/api/v1/users/me/activity", None),  # the owner's IPs and user agents
    ("get", "/api/v1/subscriptions", None),
    ("post", "/api/v1/subscriptions", {"modelId": "gpt-4o"}),
    ("get", "/api/v1/teams", None),
])
def test_a_key_cannot_manage_anything(app, client, owner, method, path, body):
    url = path.format(**owner)
    response = getattr(client, method)(url, headers=as_key(owner), json=body)
    assert response.status_code == 403, response.get_json()
    assert response.get_json()["error"]["details"]["credential"] == "api_key"
    with app.app_context():
        keys = {k.name: k for k in db.session.scalars(select(ApiKey))}
        assert keys["leaked"].max_budget == 5 and keys["leaked"].expires_at is not None
        assert keys["sibling"].revoked_at is None and len(keys) == 2
        device = db.session.get(UserSession, uuid.UUID(owner["session"]))
        assert device.revoked_at is None
        assert db.session.get(User, uuid.UUID(owner["user"])).full_name is None


def test_the_signed_in_owner_still_manages_the_same_things(client, owner, app):
    with app.app_context():
        user = db.session.get(User, uuid.UUID(owner["user"]))
        token = sessions.start(user, "127.0.0.1", "t")["access_token"]
        db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/users/me/activity", headers=headers).status_code == 200
    assert client.get("/api/v1/auth/sessions", headers=headers).status_code == 200
    listed = client.get("/api/v1/api-keys", headers=headers).get_json()["data"]
    assert len(listed) == 2


def test_admin_api_keys_remain_admins(client, owner):
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    assert client.get("/api/v1/users", headers=headers).status_code == 200
    assert client.get(f"/api/v1/api-keys/{owner['sibling']}", headers=headers).status_code == 200


def test_each_operations_documentation_states_the_api_key_scope(client):
    spec = client.get("/docs/json").get_json()
    rotate = spec["paths"]["/api/v1/api-keys/{key_id}/rotate"]["post"]["description"]
    summary = spec["paths"]["/api/v1/usage/summary"]["get"]["description"]
    assert "**API keys:** a user's API key is refused" in rotate
    assert "**API keys:** a user's API key may call this operation" in summary
