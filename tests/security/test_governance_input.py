"""Governance routes (issue 19) refuse bad input and other people's resources: 4xx in the error
envelope, nothing changed; nobody renews their own time-boxed access."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.models import NotificationChannel, Subscription, User
from tests.integration.provisioning_support import create_key, seed_models, subscribe


@pytest.fixture
def world(app, client, login, sim, celery_worker):
    models = seed_models(app, sim, count=2)
    user, admin = login("user"), login("admin")
    sub = subscribe(client, user, models[0])
    key = create_key(client, user, [models[0]])
    ends = datetime.now(UTC) + timedelta(days=3)
    with app.app_context():
        db.session.execute(update(Subscription).where(Subscription.id == uuid.UUID(sub["id"]))
                           .values(expires_at=ends))
        db.session.commit()
    return {"user": user, "admin": admin, "sub": sub["id"], "key": key["id"],
            "models": models}


@pytest.mark.parametrize("body", [
    {}, {"expiresAt": "tomorrow"}, {"expiresAt": 12}, {"expiresAt": "2030-01-01T00:00:00"},
    {"expiresAt": None, "extra": 1}, {"expiresAt": None, "reason": "x" * 1001}])
def test_renewal_with_bad_bodies_is_400_and_changes_nothing(app, client, world, body):
    response = client.post(f"/api/v1/admin/access-reviews/{world['sub']}/renew",
                           headers=world["admin"], json=body)
    assert response.status_code == 400, response.get_json()
    assert set(response.get_json()) == {"error"}
    with app.app_context():
        assert db.session.get(Subscription, uuid.UUID(world["sub"])).expires_at is not None


def test_renewal_to_a_past_date_is_422(client, world):
    response = client.post(f"/api/v1/admin/access-reviews/{world['sub']}/renew",
                           headers=world["admin"], json={"expiresAt": "2020-01-01T00:00:00Z"})
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "EXPIRY_IN_PAST"


def test_nobody_renews_their_own_access(app, client, login, world):
    with app.app_context():
        admin_id = db.session.scalar(select(User.id).where(User.username == "admin"))
        own = Subscription(user_id=admin_id, model_id=world["models"][1], status="active",
                           expires_at=datetime.now(UTC) + timedelta(days=1))
        db.session.add(own)
        db.session.commit()
        own_id = own.id
    response = client.post(f"/api/v1/admin/access-reviews/{own_id}/renew",
                           headers=world["admin"], json={"expiresAt": None})
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "SELF_APPROVAL_FORBIDDEN"
    with app.app_context():
        assert db.session.get(Subscription, own_id).expires_at is not None


def test_others_cannot_touch_a_users_renewal_key_or_notices(client, login, world):
    other = login("other")
    assert client.post(f"/api/v1/subscriptions/{world['sub']}/request-renewal",
                       headers=other).status_code == 404
    assert client.post(f"/api/v1/api-keys/{world['key']}/enable",
                       headers=other).status_code == 404
    assert client.post(f"/api/v1/notifications/{uuid.uuid4()}/read",
                       headers=other).status_code == 404
    # the owner may ask (time-boxed), but not for an unknown one
    assert client.post(f"/api/v1/subscriptions/{world['sub']}/request-renewal",
                       headers=world["user"]).status_code == 200
    assert client.post(f"/api/v1/subscriptions/{uuid.uuid4()}/request-renewal",
                       headers=world["user"]).status_code == 404


@pytest.mark.parametrize("body", [
    {"name": "x", "kind": "webhook", "url": "javascript:alert(1)", "events": ["*"]},
    {"name": "x", "kind": "webhook", "url": "https://a.b/" + "x" * 2000, "events": ["*"]},
    {"name": "", "kind": "webhook", "url": "https://a.b", "events": ["*"]},
    {"name": "x", "kind": "webhook", "url": "https://a.b", "events": []},
    {"name": "x", "kind": "email", "recipients": ["not-an-address"], "events": ["*"]},
    {"name": "x", "kind": "email", "recipients": [], "events": ["*"]},
    {"name": "x", "kind": "webhook", "url": "https://a.b", "events": ["*"], "secret": 5},
])
def test_bad_channels_are_400_and_store_nothing(app, client, world, body):
    response = client.post("/api/v1/admin/notifications/channels", headers=world["admin"],
                           json=body)
    assert response.status_code == 400, response.get_json()
    with app.app_context():
        assert db.session.scalar(select(NotificationChannel.id)) is None


@pytest.mark.parametrize("query", ["unread=maybe", "event=nope", "limit=1000", "page=0",
                                   "severity=loud"])
def test_bad_notice_queries_are_400(client, world, query):
    assert client.get(f"/api/v1/notifications?{query}", headers=world["user"]).status_code == 400
