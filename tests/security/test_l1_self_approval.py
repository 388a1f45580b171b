"""L1: an admin cannot approve their own restricted-model request by the back doors: an admin
API key (nobody in particular) approves nothing, and flipping the model's restricted flag
grants the flipping admin nothing (their pending request stays pending; access taken while the
model was open needs approval again once it is restricted)."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import ApiKeyModel
from tests.integration.provisioning_support import (
    create_key,
    seed_models,
    subscribe,
    user_id,
)
from tests.integration.test_subscriptions import make_admin
from tests.support.jobs import settle_jobs

RESTRICTED = "claude-3-5-sonnet-20240620"
ADMIN_KEY = {"X-API-Key": "ltm_admin_test_key_0123456789"}
MODEL = f"/api/v1/models/{RESTRICTED}"


def status_of(client, headers, sub) -> str:
    return client.get(f"/api/v1/subscriptions/{sub['id']}", headers=headers).get_json()["status"]


def test_admin_api_key_cannot_approve_or_reactivate(app, client, login, sim):
    seed_models(app, sim, restricted=(RESTRICTED,))
    admin = login("admin")
    sub = subscribe(client, admin, RESTRICTED)
    refused = client.post(f"/api/v1/admin/subscriptions/{sub['id']}/approve", json={},
                          headers=ADMIN_KEY)
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "REVIEWER_REQUIRED"
    assert status_of(client, admin, sub) == "pending"

    other = make_admin(client, login, "admin2")
    assert client.post(f"/api/v1/admin/subscriptions/{sub['id']}/approve", json={},
                       headers=other).status_code == 200
    assert client.post(f"/api/v1/admin/subscriptions/{sub['id']}/suspend",
                       json={"reason": "audit"}, headers=ADMIN_KEY).status_code == 200
    again = client.post(f"/api/v1/admin/subscriptions/{sub['id']}/reactivate", json={},
                        headers=ADMIN_KEY)
    assert again.status_code == 403 and status_of(client, admin, sub) == "suspended"


def test_opening_the_model_grants_others_but_not_the_admin_who_opens_it(app, client, login,
                                                                        sim):
    seed_models(app, sim, restricted=(RESTRICTED,))
    admin, user = login("admin"), login("user")
    own, others = subscribe(client, admin, RESTRICTED), subscribe(client, user, RESTRICTED)

    opened = client.patch(MODEL, json={"restrictedAccess": False}, headers=admin)
    assert opened.status_code == 200

    assert status_of(client, admin, own) == "pending"  # another admin must approve it
    assert status_of(client, user, others) == "active"
    granted = client.get(f"/api/v1/subscriptions/{others['id']}", headers=user).get_json()
    assert granted["reviewedBy"] == user_id(client, admin)  # a named reviewer, audited


def test_opening_with_an_admin_api_key_grants_nothing(app, client, login, sim):
    seed_models(app, sim, restricted=(RESTRICTED,))
    admin, user = login("admin"), login("user")
    own, others = subscribe(client, admin, RESTRICTED), subscribe(client, user, RESTRICTED)
    assert client.patch(MODEL, json={"restrictedAccess": False},
                        headers=ADMIN_KEY).status_code == 200
    assert status_of(client, admin, own) == status_of(client, user, others) == "pending"


def test_access_taken_while_the_model_was_open_needs_approval_once_restricted(
        app, client, login, sim, celery_worker):
    seed_models(app, sim, restricted=(RESTRICTED,))
    admin = login("admin")
    own = subscribe(client, admin, RESTRICTED)
    client.patch(MODEL, json={"restrictedAccess": False}, headers=admin)
    # the admin cancels their pending request and asks again while the model is open...
    client.patch(f"/api/v1/subscriptions/{own['id']}", json={"status": "cancelled"},
                 headers=admin)
    again = client.patch(f"/api/v1/subscriptions/{own['id']}", json={"status": "pending"},
                         headers=admin)
    assert again.get_json()["status"] == "active"
    key = create_key(client, admin, [RESTRICTED])
    # ...then restricts it again: that access was never reviewed, so it is pending again
    assert client.patch(MODEL, json={"restrictedAccess": True}, headers=admin).status_code == 200
    assert status_of(client, admin, own) == "pending"
    settle_jobs(app)
    with app.app_context():
        left = db.session.scalars(select(ApiKeyModel.model_id)
                                  .where(ApiKeyModel.api_key_id == key["id"])).all()
    assert RESTRICTED not in left


def test_restricting_sends_even_reviewed_access_back_to_review(app, client, login, sim):
    """As upstream: marking a model restricted moves every active subscription back to
    pending (reviewed or not); the reviewer of the old grant is forgotten."""
    seed_models(app, sim, restricted=(RESTRICTED,))
    admin, user = login("admin"), login("user")
    sub = subscribe(client, user, RESTRICTED)
    assert client.post(f"/api/v1/admin/subscriptions/{sub['id']}/approve", json={},
                       headers=admin).status_code == 200
    client.patch(MODEL, json={"restrictedAccess": False}, headers=admin)
    client.patch(MODEL, json={"restrictedAccess": True}, headers=admin)
    again = client.get(f"/api/v1/subscriptions/{sub['id']}", headers=user).get_json()
    assert (again["status"], again["reviewedBy"]) == ("pending", None)
