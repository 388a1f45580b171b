"""The approvals page (upstream's admin Subscriptions page): list filters, bulk approve/deny
with a result per item, revert, delete, stats; nobody approves their own request, whatever the
route or credential."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import ApiKeyModel, AuditLog, Subscription
from tests.integration.provisioning_support import (
    create_key,
    seed_models,
    subscribe,
    user_id,
)
from tests.integration.test_subscriptions import make_admin
from tests.support.jobs import wait_for_job

BASE = "/api/v1/admin/subscriptions"
OPEN, RESTRICTED = "gpt-4o", "claude-3-5-sonnet-20240620"
ADMIN_KEY = {"X-API-Key": "ltm_admin_test_key_0123456789"}


@pytest.fixture
def queue(app, client, login, sim):
    """Three users asking for the restricted model, one of them an admin; one open model."""
    seed_models(app, sim, restricted=(RESTRICTED,))
    admin, alice, bob = login("admin"), login("alice"), login("bob")
    return {
        "admin": admin, "alice": alice, "bob": bob,
        "a": subscribe(client, alice, RESTRICTED), "b": subscribe(client, bob, RESTRICTED),
        "own": subscribe(client, admin, RESTRICTED), "open": subscribe(client, alice, OPEN),
    }


def ids(response) -> set[str]:
    assert response.status_code == 200, response.get_json()
    return {item["id"] for item in response.get_json()["data"]}


def test_list_filters_statuses_users_models_and_search(client, queue):
    admin = queue["admin"]
    pending = {queue[n]["id"] for n in ("a", "b", "own")}
    assert ids(client.get(f"{BASE}?statuses=pending", headers=admin)) == pending
    assert ids(client.get(f"{BASE}?statuses=pending&statuses=active", headers=admin)) == {
        *pending, queue["open"]["id"]}
    alice = user_id(client, queue["alice"])
    assert ids(client.get(f"{BASE}?userIds={alice}", headers=admin)) == {
        queue["a"]["id"], queue["open"]["id"]}
    assert ids(client.get(f"{BASE}?modelIds={OPEN}", headers=admin)) == {queue["open"]["id"]}
    assert ids(client.get(f"{BASE}?search=BOB", headers=admin)) == {queue["b"]["id"]}
    assert ids(client.get(f"{BASE}?search=claude&statuses=pending&userIds={alice}",
                          headers=admin)) == {queue["a"]["id"]}
    assert ids(client.get(f"{BASE}?search=%25_", headers=admin)) == set()  # literal, no LIKE
    # the UI sends instants (toISOString)
    assert ids(client.get(f"{BASE}?dateFrom=2020-01-01T00:00:00.000Z&dateTo=2999-01-01"
                          "T00:00:00.000Z", headers=admin)) == {*pending, queue["open"]["id"]}
    assert ids(client.get(f"{BASE}?dateTo=2020-01-01T00:00:00.000Z", headers=admin)) == set()
    item = client.get(f"{BASE}?statuses=pending&search=bob", headers=admin).get_json()["data"][0]
    assert item["user"]["username"] == "bob" and item["model"]["restrictedAccess"] is True


@pytest.mark.parametrize("query", [
    "statuses=nope", "userIds=not-a-uuid", "dateFrom=yesterday", "dateFrom=2026-01-01T10:00",
    "search=", "limit=0", "statuses=" + "&statuses=".join(["pending"] * 11),
])
def test_bad_list_filters_are_400(client, login, query):
    assert client.get(f"{BASE}?{query}", headers=login("admin")).status_code == 400


def test_bulk_approve_reports_each_item_and_never_the_admins_own(app, client, queue):
    admin = queue["admin"]
    missing = str(uuid.uuid4())
    body = {"subscriptionIds": [queue["a"]["id"], queue["own"]["id"], missing,
                                queue["open"]["id"], queue["b"]["id"]],
            "reason": "ok for the project"}
    answer = client.post(f"{BASE}/approve", json=body, headers=admin)
    assert answer.status_code == 200, answer.get_json()
    result = answer.get_json()
    assert (result["successful"], result["failed"]) == (2, 3)
    by_id = {item["subscriptionId"]: item for item in result["results"]}
    assert [item["subscriptionId"] for item in result["results"]] == body["subscriptionIds"]
    assert by_id[queue["a"]["id"]]["status"] == by_id[queue["b"]["id"]]["status"] == "active"
    assert by_id[queue["own"]["id"]]["code"] == "SELF_APPROVAL_FORBIDDEN"
    assert by_id[missing]["code"] == "NOT_FOUND"
    assert by_id[queue["open"]["id"]]["code"] == "INVALID_STATUS_TRANSITION"
    assert {e["subscription"] for e in result["errors"]} == {
        queue["own"]["id"], missing, queue["open"]["id"]}
    own = client.get(f"/api/v1/subscriptions/{queue['own']['id']}", headers=admin).get_json()
    assert own["status"] == "pending"
    with app.app_context():
        refused = db.session.scalars(select(AuditLog).where(
            AuditLog.action == "SUBSCRIPTION_SELF_REVIEW_REFUSED")).all()
        assert [r.resource_id for r in refused] == [queue["own"]["id"]]
        db.session.remove()


def test_nobody_approves_their_own_request_whatever_the_route_or_credential(
        app, client, login, queue):
    admin, own = queue["admin"], queue["own"]["id"]
    tries = [
        client.post(f"{BASE}/approve", json={"subscriptionIds": [own]}, headers=admin),
        client.post(f"{BASE}/approve", json={"subscriptionIds": [own]}, headers=ADMIN_KEY),
    ]
    assert all(t.status_code == 200 and t.get_json()["successful"] == 0 for t in tries)
    assert tries[1].get_json()["results"][0]["code"] == "REVIEWER_REQUIRED"
    assert client.post(f"{BASE}/{own}/approve", json={}, headers=admin).status_code == 403
    assert client.post(f"{BASE}/{own}/revert", json={"newStatus": "active"},
                       headers=admin).status_code == 403
    assert client.post(f"{BASE}/{own}/revert", json={"newStatus": "active"},
                       headers=ADMIN_KEY).status_code == 403
    # deny then revert to active: still an approval of one's own request
    assert client.post(f"{BASE}/deny", json={"subscriptionIds": [own], "reason": "no"},
                       headers=admin).get_json()["successful"] == 1
    assert client.post(f"{BASE}/{own}/revert", json={"newStatus": "active"},
                       headers=admin).status_code == 403
    assert client.post(f"{BASE}/approve", json={"subscriptionIds": [own]},
                       headers=admin).get_json()["successful"] == 0
    # opening the model does not grant it either
    assert client.put(f"/api/v1/admin/models/{RESTRICTED}", json={"restrictedAccess": False},
                      headers=admin).status_code == 200
    with app.app_context():
        assert db.session.get(Subscription, uuid.UUID(own)).status == "denied"
        db.session.remove()
    # another admin may
    other = make_admin(client, login, "admin2")
    assert client.post(f"{BASE}/{own}/revert", json={"newStatus": "active"},
                       headers=other).status_code == 200


def test_bulk_deny_needs_a_reason_and_strips_active_access(app, client, login, queue,
                                                           celery_worker):
    admin, alice = queue["admin"], queue["alice"]
    assert client.post(f"{BASE}/deny", json={"subscriptionIds": [queue["a"]["id"]]},
                       headers=admin).status_code == 400
    key = create_key(client, alice, [OPEN])
    answer = client.post(f"{BASE}/deny", headers=admin, json={
        "subscriptionIds": [queue["a"]["id"], queue["open"]["id"]], "reason": "over budget"})
    result = answer.get_json()
    assert result["successful"] == 2, result
    job_id = {i["subscriptionId"]: i for i in result["results"]}[queue["open"]["id"]]["jobId"]
    assert wait_for_job(client, admin, job_id)["status"] == "succeeded"
    mine = client.get(f"/api/v1/subscriptions/{queue['a']['id']}", headers=alice).get_json()
    assert (mine["status"], mine["statusReason"]) == ("denied", "over budget")
    with app.app_context():
        assert not db.session.scalars(select(ApiKeyModel)
                                      .where(ApiKeyModel.api_key_id == key["id"])).all()
        db.session.remove()


def test_revert_moves_between_active_denied_and_pending(client, login, queue):
    admin, sub = queue["admin"], queue["a"]["id"]
    same = client.post(f"{BASE}/{sub}/revert", json={"newStatus": "pending"}, headers=admin)
    assert same.status_code == 409
    approved = client.post(f"{BASE}/{sub}/revert", json={"newStatus": "active",
                                                         "reason": "fine"}, headers=admin)
    assert approved.status_code == 200 and approved.get_json()["status"] == "active"
    back = client.post(f"{BASE}/{sub}/revert", json={"newStatus": "pending"}, headers=admin)
    assert back.get_json()["status"] == "pending" and back.get_json()["reviewedBy"] is None
    denied = client.post(f"{BASE}/{sub}/revert", json={"newStatus": "denied"}, headers=admin)
    assert denied.get_json()["status"] == "denied"
    client.delete(f"/api/v1/subscriptions/{queue['open']['id']}", headers=queue["alice"])
    cancelled = client.post(f"{BASE}/{queue['open']['id']}/revert",
                            json={"newStatus": "active"}, headers=admin)
    assert cancelled.status_code == 409
    assert client.post(f"{BASE}/{uuid.uuid4()}/revert", json={"newStatus": "active"},
                       headers=admin).status_code == 404


def test_delete_removes_the_subscription_and_its_history(app, client, login, queue):
    admin = queue["admin"]
    gone = client.delete(f"{BASE}/{queue['b']['id']}", json={"reason": "duplicate"},
                         headers=admin)
    assert gone.status_code == 200 and gone.get_json()["success"] is True
    assert client.get(f"/api/v1/subscriptions/{queue['b']['id']}",
                      headers=queue["bob"]).status_code == 404
    assert client.delete(f"{BASE}/{queue['b']['id']}", headers=admin).status_code == 404
    with app.app_context():
        audit = db.session.scalar(select(AuditLog).where(
            AuditLog.action == "SUBSCRIPTION_DELETED"))
        assert audit.details["reason"] == "duplicate"
        db.session.remove()
    # bob may ask again
    assert subscribe(client, queue["bob"], RESTRICTED)["status"] == "pending"


def test_stats(client, queue):
    admin = queue["admin"]
    client.post(f"{BASE}/approve", json={"subscriptionIds": [queue["a"]["id"]]}, headers=admin)
    client.post(f"{BASE}/deny", json={"subscriptionIds": [queue["b"]["id"]], "reason": "no"},
                headers=admin)
    stats = client.get(f"{BASE}/stats", headers=admin).get_json()
    assert stats == {"pendingCount": 1, "approvedToday": 1, "deniedToday": 1,
                     "totalRequests": 4}


@pytest.mark.parametrize(("path", "body"), [
    ("approve", {}), ("approve", {"subscriptionIds": []}),
    ("approve", {"subscriptionIds": ["nope"]}), ("approve", {"subscriptionIds": "x"}),
    ("approve", {"subscriptionIds": [str(uuid.uuid4())] * 501}),
    ("approve", {"subscriptionIds": [str(uuid.uuid4())], "extra": 1}),
    ("deny", {"subscriptionIds": [str(uuid.uuid4())], "reason": ""}),
    ("deny", {"subscriptionIds": [str(uuid.uuid4())], "reason": "x" * 2001}),
])
def test_bad_bulk_input_is_400(client, login, path, body):
    assert client.post(f"{BASE}/{path}", json=body, headers=login("admin")).status_code == 400


@pytest.mark.parametrize("body", [{}, {"newStatus": "suspended"}, {"newStatus": "active",
                                                                  "other": 1}])
def test_bad_revert_input_is_400(client, login, body):
    response = client.post(f"{BASE}/{uuid.uuid4()}/revert", json=body, headers=login("admin"))
    assert response.status_code == 400


def test_readonly_admin_reads_the_queue_and_changes_nothing(client, login, queue):
    readonly = login("adminro")
    assert client.get(f"{BASE}?statuses=pending", headers=readonly).status_code == 200
    assert client.get(f"{BASE}/stats", headers=readonly).status_code == 200
    sub = queue["a"]["id"]
    for method, path, body in (("post", "approve", {"subscriptionIds": [sub]}),
                               ("post", "deny", {"subscriptionIds": [sub], "reason": "x"}),
                               ("post", f"{sub}/revert", {"newStatus": "active"}),
                               ("delete", sub, None)):
        response = getattr(client, method)(f"{BASE}/{path}", json=body, headers=readonly)
        assert response.status_code == 403, (path, response.get_json())
    assert client.get(f"/api/v1/subscriptions/{sub}", headers=queue["alice"]).get_json()[
        "status"] == "pending"
