"""Subscriptions through the API: self-service for open models, review for restricted ones."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update

from app.extensions import db
from app.models import AuditLog, Model, Subscription, SubscriptionStatusHistory, User
from tests.integration.provisioning_support import (
    seed_models,
    subscribe,
    user_id,
)

OPEN, RESTRICTED = "gpt-4o", "claude-3-5-sonnet-20240620"


def make_admin(client, login, username: str) -> dict:
    """A second admin: sign in once, grant the role in the database, sign in again."""
    login(username)
    with client.application.app_context():
        db.session.execute(update(User).where(User.username == username)
                           .values(roles=["admin", "user"]))
        db.session.commit()
        db.session.remove()
    return login(username)


def history_of(app, subscription_id) -> list[tuple[str | None, str]]:
    with app.app_context():
        rows = db.session.scalars(
            select(SubscriptionStatusHistory)
            .where(SubscriptionStatusHistory.subscription_id == uuid.UUID(subscription_id))
            .order_by(SubscriptionStatusHistory.changed_at, SubscriptionStatusHistory.id)).all()
        return [(row.old_status, row.new_status) for row in rows]


def audit_actions(app, subscription_id) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(
            select(AuditLog.action).where(AuditLog.resource_type == "subscription",
                                          AuditLog.resource_id == subscription_id)
            .order_by(AuditLog.created_at)))


def test_open_model_subscription_is_active_at_once(app, client, login, sim):
    seed_models(app, sim, restricted=(RESTRICTED,))
    user = login("user")
    body = subscribe(client, user, OPEN)
    assert body["status"] == "active"
    assert body["modelId"] == OPEN and body["provider"] == "openai"
    assert body["userId"] == user_id(client, user)
    assert history_of(app, body["id"]) == [(None, "active")]
    assert audit_actions(app, body["id"]) == ["SUBSCRIPTION_CREATED"]


def test_restricted_model_waits_for_another_admin_and_requester_cannot_approve(
        app, client, login, sim):
    seed_models(app, sim, restricted=(RESTRICTED,))
    user, admin = login("user"), login("admin")
    requested = client.post("/api/v1/subscriptions", json={
        "modelId": RESTRICTED, "reason": "evaluation for project X"}, headers=user)
    assert requested.status_code == 201
    sub = requested.get_json()
    assert sub["status"] == "pending" and sub["statusReason"] == "evaluation for project X"

    refused = client.post(f"/api/v1/admin/subscriptions/{sub['id']}/approve", json={},
                          headers=user)
    assert refused.status_code == 403
    queue = client.get("/api/v1/admin/subscriptions?status=pending", headers=admin).get_json()
    assert [item["id"] for item in queue["data"]] == [sub["id"]]
    assert queue["data"][0]["user"]["username"] == "user"
    assert queue["data"][0]["model"] == {"id": RESTRICTED, "name": RESTRICTED,
                                         "provider": "anthropic", "restrictedAccess": True,
                                         "availability": "available"}

    approved = client.post(f"/api/v1/admin/subscriptions/{sub['id']}/approve",
                           json={"reason": "ok for X"}, headers=admin)
    assert approved.status_code == 200
    assert approved.get_json()["status"] == "active"
    assert approved.get_json()["reviewedBy"] == user_id(client, admin)
    mine = client.get(f"/api/v1/subscriptions/{sub['id']}", headers=user).get_json()
    assert mine["status"] == "active" and mine["statusReason"] == "ok for X"
    assert history_of(app, sub["id"]) == [(None, "pending"), ("pending", "active")]
    assert audit_actions(app, sub["id"]) == ["SUBSCRIPTION_REQUESTED", "SUBSCRIPTION_APPROVED"]


def test_admin_cannot_approve_their_own_request(app, client, login, sim):
    seed_models(app, sim, restricted=(RESTRICTED,))
    admin, other_admin = login("admin"), make_admin(client, login, "admin2")
    sub = subscribe(client, admin, RESTRICTED)
    assert sub["status"] == "pending"  # never self-approved on creation either

    for verb in ("approve",):
        own = client.post(f"/api/v1/admin/subscriptions/{sub['id']}/{verb}", json={},
                          headers=admin)
        assert own.status_code == 403
        assert own.get_json()["error"]["code"] == "SELF_APPROVAL_FORBIDDEN"
    assert client.get(f"/api/v1/subscriptions/{sub['id']}", headers=admin).get_json()[
        "status"] == "pending"
    assert "SUBSCRIPTION_SELF_REVIEW_REFUSED" in audit_actions(app, sub["id"])

    approved = client.post(f"/api/v1/admin/subscriptions/{sub['id']}/approve", json={},
                           headers=other_admin)
    assert approved.status_code == 200 and approved.get_json()["status"] == "active"


def test_admin_cannot_reactivate_their_own_suspended_subscription(app, client, login, sim):
    seed_models(app, sim)
    admin, other_admin = login("admin"), make_admin(client, login, "admin2")
    sub = subscribe(client, admin, OPEN)
    suspended = client.post(f"/api/v1/admin/subscriptions/{sub['id']}/suspend",
                            json={"reason": "audit"}, headers=other_admin)
    assert suspended.status_code == 200
    own = client.post(f"/api/v1/admin/subscriptions/{sub['id']}/reactivate", json={},
                      headers=admin)
    assert own.status_code == 403
    back = client.post(f"/api/v1/admin/subscriptions/{sub['id']}/reactivate", json={},
                       headers=other_admin)
    assert back.status_code == 200 and back.get_json()["status"] == "active"
    assert history_of(app, sub["id"]) == [(None, "active"), ("active", "suspended"),
                                          ("suspended", "active")]


def test_duplicate_unknown_and_unavailable_models_are_refused(app, client, login, sim):
    seed_models(app, sim)
    user = login("user")
    subscribe(client, user, OPEN)
    duplicate = client.post("/api/v1/subscriptions", json={"modelId": OPEN}, headers=user)
    assert duplicate.status_code == 409
    assert duplicate.get_json()["error"]["code"] == "ALREADY_EXISTS"
    unknown = client.post("/api/v1/subscriptions", json={"modelId": "no/such:model"},
                          headers=user)
    assert unknown.status_code == 404
    with app.app_context():
        db.session.execute(update(Model).where(Model.id == "gpt-4o-mini")
                           .values(availability="unavailable"))
        db.session.commit()
    gone = client.post("/api/v1/subscriptions", json={"modelId": "gpt-4o-mini"}, headers=user)
    assert gone.status_code == 422
    assert gone.get_json()["error"]["code"] == "MODEL_UNAVAILABLE"
    bad = client.post("/api/v1/subscriptions", json={"modelId": ""}, headers=user)
    assert bad.status_code == 400
    extra = client.post("/api/v1/subscriptions", json={"modelId": OPEN, "quota": 5},
                        headers=user)
    assert extra.status_code == 400


def test_cancelled_subscription_is_requested_again_on_the_same_row(app, client, login, sim):
    seed_models(app, sim)
    user = login("user")
    sub = subscribe(client, user, OPEN)
    cancelled = client.delete(f"/api/v1/subscriptions/{sub['id']}", headers=user)
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    assert cancelled.get_json()["jobId"]  # the model leaves the user's keys
    again = subscribe(client, user, OPEN)
    assert again["id"] == sub["id"] and again["status"] == "active"
    assert history_of(app, sub["id"]) == [(None, "active"), ("active", "cancelled"),
                                          ("cancelled", "active")]
    twice = client.delete(f"/api/v1/subscriptions/{sub['id']}", headers=user)
    assert twice.status_code == 200
    thrice = client.delete(f"/api/v1/subscriptions/{sub['id']}", headers=user)
    assert thrice.status_code == 409


def test_denied_request_tells_the_owner_why_and_may_be_asked_again(app, client, login, sim):
    seed_models(app, sim, restricted=(RESTRICTED,))
    user, admin = login("user"), login("admin")
    sub = subscribe(client, user, RESTRICTED)
    no_reason = client.post(f"/api/v1/admin/subscriptions/{sub['id']}/deny", json={},
                            headers=admin)
    assert no_reason.status_code == 400
    denied = client.post(f"/api/v1/admin/subscriptions/{sub['id']}/deny",
                         json={"reason": "use the open model"}, headers=admin)
    assert denied.status_code == 200 and denied.get_json()["status"] == "denied"
    seen = client.get(f"/api/v1/subscriptions/{sub['id']}", headers=user).get_json()
    assert seen["statusReason"] == "use the open model"

    again = client.patch(f"/api/v1/subscriptions/{sub['id']}",
                         json={"status": "pending", "reason": "it must be this one"},
                         headers=user)
    assert again.status_code == 200 and again.get_json()["status"] == "pending"
    history = client.get(f"/api/v1/subscriptions/{sub['id']}/history", headers=user)
    assert [(e["oldStatus"], e["newStatus"]) for e in history.get_json()["data"]] == [
        (None, "pending"), ("pending", "denied"), ("denied", "pending")]


def test_owner_may_only_cancel_or_ask_again(app, client, login, sim):
    seed_models(app, sim)
    user = login("user")
    sub = subscribe(client, user, OPEN)
    url = f"/api/v1/subscriptions/{sub['id']}"
    assert client.patch(url, json={"status": "active"}, headers=user).status_code == 400
    assert client.patch(url, json={"status": "suspended"}, headers=user).status_code == 400
    assert client.patch(url, json={}, headers=user).status_code == 400
    annotate = client.patch(url, json={"reason": "note"}, headers=user)
    assert annotate.status_code == 409  # only a pending request carries a justification
    ask = client.patch(url, json={"status": "pending"}, headers=user)
    assert ask.status_code == 409  # already active
    cancel = client.patch(url, json={"status": "cancelled"}, headers=user)
    assert cancel.status_code == 200 and cancel.get_json()["status"] == "cancelled"


def test_users_see_only_their_own_subscriptions(app, client, login, sim):
    seed_models(app, sim)
    user, other, admin = login("user"), login("bob"), login("admin")
    mine = subscribe(client, user, OPEN)
    subscribe(client, other, "gpt-4o-mini")
    listed = client.get("/api/v1/subscriptions", headers=user).get_json()
    assert [s["id"] for s in listed["data"]] == [mine["id"]]
    assert listed["pagination"] == {"page": 1, "limit": 20, "total": 1, "totalPages": 1}
    url = f"/api/v1/subscriptions/{mine['id']}"
    assert client.get(url, headers=other).status_code == 404
    assert client.delete(url, headers=other).status_code == 404
    assert client.patch(url, json={"status": "cancelled"}, headers=other).status_code == 404
    assert client.get(f"/api/v1/subscriptions/{uuid.uuid4()}", headers=user).status_code == 404
    assert client.get(url, headers=admin).status_code == 200
    everyone = client.get("/api/v1/admin/subscriptions", headers=admin).get_json()
    assert everyone["pagination"]["total"] == 2


def test_list_filters_and_pages(app, client, login, sim):
    models = seed_models(app, sim, restricted=(RESTRICTED,))
    user = login("user")
    for model_id in models:
        subscribe(client, user, model_id)
    pending = client.get("/api/v1/subscriptions?status=pending", headers=user).get_json()
    assert [s["modelId"] for s in pending["data"]] == [RESTRICTED]
    by_model = client.get(f"/api/v1/subscriptions?modelId={OPEN}", headers=user).get_json()
    assert [s["modelId"] for s in by_model["data"]] == [OPEN]
    page = client.get("/api/v1/subscriptions?limit=2&page=3&sort=modelId",
                      headers=user).get_json()
    assert page["pagination"] == {"page": 3, "limit": 2, "total": 5, "totalPages": 3}
    assert [s["modelId"] for s in page["data"]] == sorted(models)[4:]
    assert client.get("/api/v1/subscriptions?status=nope", headers=user).status_code == 400
    assert client.get("/api/v1/subscriptions?limit=101", headers=user).status_code == 400


def test_admin_list_filters_by_user_model_and_dates(app, client, login, sim):
    seed_models(app, sim)
    user, other, admin = login("user"), login("bob"), login("admin")
    subscribe(client, user, OPEN)
    subscribe(client, other, OPEN)
    subscribe(client, other, "gpt-4o-mini")
    bob = user_id(client, other)
    by_user = client.get(f"/api/v1/admin/subscriptions?userId={bob}", headers=admin).get_json()
    assert {s["modelId"] for s in by_user["data"]} == {OPEN, "gpt-4o-mini"}
    assert all(s["user"]["id"] == bob for s in by_user["data"])
    both = client.get(f"/api/v1/admin/subscriptions?userId={bob}&modelId={OPEN}",
                      headers=admin).get_json()
    assert both["pagination"]["total"] == 1
    future = client.get("/api/v1/admin/subscriptions?dateFrom=2999-01-01",
                        headers=admin).get_json()
    assert future["pagination"]["total"] == 0
    reversed_range = client.get(
        "/api/v1/admin/subscriptions?dateFrom=2025-02-01&dateTo=2025-01-01", headers=admin)
    assert reversed_range.status_code == 400


def test_readonly_admin_reads_the_queue_but_reviews_nothing(app, client, login, sim):
    seed_models(app, sim, restricted=(RESTRICTED,))
    user, readonly = login("user"), login("adminro")
    sub = subscribe(client, user, RESTRICTED)
    assert client.get("/api/v1/admin/subscriptions?status=pending",
                      headers=readonly).status_code == 200
    for verb, body in (("approve", {}), ("deny", {"reason": "x"}),
                       ("suspend", {"reason": "x"}), ("reactivate", {})):
        response = client.post(f"/api/v1/admin/subscriptions/{sub['id']}/{verb}", json=body,
                               headers=readonly)
        assert response.status_code == 403, verb
    with app.app_context():
        assert db.session.get(Subscription, uuid.UUID(sub["id"])).status == "pending"


def test_review_transitions_are_checked(app, client, login, sim):
    seed_models(app, sim, restricted=(RESTRICTED,))
    user, admin = login("user"), login("admin")
    active = subscribe(client, user, OPEN)
    pending = subscribe(client, user, RESTRICTED)
    base = "/api/v1/admin/subscriptions"
    assert client.post(f"{base}/{active['id']}/approve", json={},
                       headers=admin).status_code == 409
    assert client.post(f"{base}/{active['id']}/deny", json={"reason": "x"},
                       headers=admin).status_code == 409
    assert client.post(f"{base}/{pending['id']}/suspend", json={"reason": "x"},
                       headers=admin).status_code == 409
    assert client.post(f"{base}/{pending['id']}/reactivate", json={},
                       headers=admin).status_code == 409
    assert client.post(f"{base}/{uuid.uuid4()}/approve", json={},
                       headers=admin).status_code == 404
    conflict = client.post(f"{base}/{active['id']}/approve", json={}, headers=admin)
    assert conflict.get_json()["error"]["code"] == "INVALID_STATUS_TRANSITION"
    with app.app_context():
        db.session.execute(update(Model).where(Model.id == RESTRICTED)
                           .values(availability="unavailable"))
        db.session.commit()
    gone = client.post(f"{base}/{pending['id']}/approve", json={}, headers=admin)
    assert gone.status_code == 422
