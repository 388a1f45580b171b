"""The admin user dialog (``/admin/users/{id}/…``) and bulk limits: keys made, edited and
revoked for a user under the owner's rules, subscriptions granted (never to oneself for a
restricted model), budgets pushed to LiteLLM by jobs; readonly admins change nothing."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.models import ApiKey, AuditLog, Job, Subscription, User
from tests.integration.provisioning_support import (
    chat,
    seed_models,
    sim_key,
    subscribe,
    user_id,
)
from tests.support.jobs import settle_jobs, wait_for_job

OPEN, OTHER, RESTRICTED = "gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet-20240620"


@pytest.fixture
def world(app, client, login, sim):
    seed_models(app, sim, restricted=(RESTRICTED,))
    headers = {name: login(name) for name in ("admin", "adminro", "user")}
    ids = {name: user_id(client, h) for name, h in headers.items()}
    subscribe(client, headers["user"], OPEN)
    return headers, ids


def _url(ids, tail=""):
    return f"/api/v1/admin/users/{ids['user']}{tail}"


def test_detail_has_counts_budget_and_spend(client, world, app):
    headers, ids = world
    body = client.get(_url(ids), headers=headers["adminro"]).get_json()
    assert body["username"] == "user"
    assert body["subscriptionsCount"] == 1 and body["activeSubscriptionsCount"] == 1
    assert body["apiKeysCount"] == 0 and body["currentSpend"] == 0
    assert body["syncStatus"] in ("synced", "pending")
    assert body["effectiveLimits"]["maxBudget"] == app.config["DEFAULT_USER_MAX_BUDGET"]
    # the dialog shows what LiteLLM enforces (the default here), and the user's own values
    assert body["maxBudget"] == app.config["DEFAULT_USER_MAX_BUDGET"]
    assert body["rpmLimit"] == app.config["DEFAULT_USER_RPM_LIMIT"]
    assert body["ownLimits"] == {"maxBudget": None, "tpmLimit": None, "rpmLimit": None,
                                 "budgetDuration": None}
    missing = client.get(f"/api/v1/admin/users/{uuid.uuid4()}", headers=headers["admin"])
    assert missing.status_code == 404


def test_admin_creates_edits_and_revokes_a_key_for_the_user(client, world, app, sim,
                                                            celery_worker):
    headers, ids = world
    admin = headers["admin"]
    made = client.post(_url(ids, "/api-keys"), headers=admin,
                       json={"name": "for user", "modelIds": [OPEN, OTHER], "maxBudget": 5})
    assert made.status_code == 201, made.get_json()
    key = made.get_json()
    assert key["userId"] == ids["user"] and key["key"].startswith("sk-")
    assert made.headers["Cache-Control"] == "no-store"
    # the key is the user's, hashed here, and works in LiteLLM for the user's models
    with app.app_context():
        row = db.session.get(ApiKey, uuid.UUID(key["id"]))
        assert row.user_id == uuid.UUID(ids["user"])
        assert row.key_hash == hashlib.sha256(key["key"].encode()).hexdigest()
        granted = db.session.scalar(select(Subscription).where(
            Subscription.user_id == uuid.UUID(ids["user"]), Subscription.model_id == OTHER))
        assert granted.status == "active"  # OTHER was granted on the way
        created = db.session.scalar(select(AuditLog).where(
            AuditLog.action == "API_KEY_CREATED", AuditLog.resource_id == key["id"]))
        assert created.actor_id == uuid.UUID(ids["admin"])
        assert created.details["ownerId"] == ids["user"] and created.details["byAdmin"]
        assert key["key"] not in str(created.details)
    assert sim_key(sim, key["key"])["user_id"] == ids["user"]
    assert chat(sim, key["key"], OPEN).status_code == 200
    listed = client.get(_url(ids, "/api-keys"), headers=headers["adminro"]).get_json()
    assert [k["id"] for k in listed["data"]] == [key["id"]] and listed["total"] == 1
    assert "key" not in listed["data"][0]

    edited = client.patch(_url(ids, f"/api-keys/{key['id']}"), headers=admin,
                          json={"name": "renamed", "modelIds": [OPEN], "tpmLimit": 500})
    assert edited.status_code == 200, edited.get_json()
    job = wait_for_job(client, admin, edited.get_json()["jobId"])
    assert job["status"] == "succeeded"
    remote = sim_key(sim, key["key"])
    assert remote["models"] == [OPEN] and remote["tpm_limit"] == 500

    revoked = client.delete(_url(ids, f"/api-keys/{key['id']}"), headers=admin)
    assert revoked.status_code == 202
    wait_for_job(client, admin, revoked.get_json()["jobId"])
    assert sim_key(sim, key["key"]) is None
    history = client.get(_url(ids, "/api-keys"), headers=admin).get_json()["data"]
    assert history[0]["status"] in ("revoking", "revoked") and history[0]["isActive"] is False


def test_a_key_path_of_another_user_is_404(client, world, login):
    headers, ids = world
    mine = client.post(_url(ids, "/api-keys"), headers=headers["admin"],
                       json={"name": "k", "modelIds": [OPEN]}).get_json()
    wrong = f"/api/v1/admin/users/{ids['adminro']}/api-keys/{mine['id']}"
    assert client.patch(wrong, json={"name": "x"}, headers=headers["admin"]).status_code == 404
    assert client.delete(wrong, headers=headers["admin"]).status_code == 404
    assert client.post(wrong + "/reset-spend", headers=headers["admin"]).status_code == 404


def test_admin_key_for_a_user_obeys_the_runtime_maximums(client, world):
    headers, ids = world
    admin = headers["admin"]
    saved = client.put("/api/v1/admin/settings/api-key-defaults", headers=admin,
                       json={"defaults": {"maxBudget": 3, "rpmLimit": 7},
                             "maximums": {"maxBudget": 10, "rpmLimit": 20}})
    assert saved.status_code == 200, saved.get_json()
    over = client.post(_url(ids, "/api-keys"), headers=admin,
                       json={"name": "big", "modelIds": [OPEN], "maxBudget": 11})
    assert over.status_code == 400
    assert "maxBudget" in over.get_json()["error"]["details"]["fields"]
    made = client.post(_url(ids, "/api-keys"), headers=admin,
                       json={"name": "filled", "modelIds": [OPEN]}).get_json()
    assert made["maxBudget"] == 3 and made["rpmLimit"] == 7  # runtime defaults filled in
    too_fast = client.patch(_url(ids, f"/api-keys/{made['id']}"), headers=admin,
                            json={"rpmLimit": 21})
    assert too_fast.status_code == 400


def test_admin_adds_subscriptions_restricted_ones_never_for_oneself(client, world, app):
    headers, ids = world
    admin = headers["admin"]
    added = client.post(_url(ids, "/subscriptions"), headers=admin,
                        json={"modelIds": [OPEN, OTHER, RESTRICTED]})
    assert added.status_code == 201, added.get_json()
    body = added.get_json()
    assert body["alreadyActive"] == [OPEN]
    assert {c["modelId"] for c in body["created"]} == {OTHER, RESTRICTED}
    page = client.get(_url(ids, "/subscriptions?status=active"),
                      headers=headers["adminro"]).get_json()
    assert {s["modelId"] for s in page["data"]} == {OPEN, OTHER, RESTRICTED}
    assert page["data"][0]["modelName"] and page["data"][0]["status"] == "active"
    # an admin granting themself a restricted model would approve their own request (L1)
    own = client.post(f"/api/v1/admin/users/{ids['admin']}/subscriptions", headers=admin,
                      json={"modelIds": [RESTRICTED]})
    assert own.status_code == 403
    assert own.get_json()["error"]["code"] == "SELF_APPROVAL_FORBIDDEN"
    own_key = client.post(f"/api/v1/admin/users/{ids['admin']}/api-keys", headers=admin,
                          json={"name": "sneaky", "modelIds": [RESTRICTED]})
    assert own_key.status_code == 403
    admin_key = {"X-API-Key": "ltm_admin_test_key_0123456789"}
    by_key = client.post(f"/api/v1/admin/users/{ids['adminro']}/subscriptions",
                         headers=admin_key, json={"modelIds": [RESTRICTED]})
    assert by_key.status_code == 403  # an admin API key is nobody in particular
    with app.app_context():
        assert db.session.scalar(select(Subscription).where(
            Subscription.user_id == uuid.UUID(ids["admin"]),
            Subscription.model_id == RESTRICTED)) is None
    unknown = client.post(_url(ids, "/subscriptions"), headers=admin,
                          json={"modelIds": ["no-such-model"]})
    assert unknown.status_code == 422


def test_budget_limits_and_spend_reset_reach_litellm(client, world, app, sim, celery_worker):
    headers, ids = world
    admin = headers["admin"]
    changed = client.patch(_url(ids, "/budget-limits"), headers=admin,
                           json={"maxBudget": 42, "tpmLimit": 900, "rpmLimit": 9,
                                 "budgetDuration": "monthly"})
    assert changed.status_code == 202, changed.get_json()
    body = changed.get_json()
    assert body["maxBudget"] == 42 and body["budgetDuration"] == "monthly"
    assert wait_for_job(client, admin, body["jobId"])["status"] == "succeeded"
    remote = sim.state.users[ids["user"]]
    assert (remote["max_budget"], remote["tpm_limit"], remote["rpm_limit"]) == (42, 900, 9)
    detail = client.get(_url(ids), headers=admin).get_json()
    assert detail["maxBudget"] == 42 and detail["budgetResetAt"]
    sim.state.users[ids["user"]]["spend"] = 12.5
    reset = client.post(_url(ids, "/reset-spend"), headers=admin)
    assert reset.status_code == 200 and reset.get_json()["currentSpend"] == 0
    assert wait_for_job(client, admin, reset.get_json()["jobId"])["status"] == "succeeded"
    assert sim.state.users[ids["user"]]["spend"] == 0
    with app.app_context():
        actions = set(db.session.scalars(select(AuditLog.action).where(
            AuditLog.resource_id == ids["user"])))
        assert {"USER_UPDATE", "USER_SPEND_RESET"} <= actions


def test_bulk_limits_update_every_active_user_with_counts(client, world, app, sim,
                                                         celery_worker):
    headers, ids = world
    with app.app_context():
        db.session.get(User, uuid.UUID(ids["adminro"])).is_active = False
        db.session.commit()
    response = client.post("/api/v1/admin/users/bulk-update-limits", headers=headers["admin"],
                           json={"maxBudget": 77, "rpmLimit": 33})
    assert response.status_code in (200, 202), response.get_json()
    body = response.get_json()
    job = wait_for_job(client, headers["admin"], body["jobId"])
    assert job["status"] == "succeeded" and job["progress"] == 100
    assert job["result"]["totalUsers"] == 2 and job["result"]["successCount"] == 2
    if response.status_code == 200:
        assert body["totalUsers"] == 2 and body["failedCount"] == 0
    for name in ("admin", "user"):
        assert sim.state.users[ids[name]]["max_budget"] == 77
        assert sim.state.users[ids[name]]["rpm_limit"] == 33
    with app.app_context():
        assert db.session.get(User, uuid.UUID(ids["adminro"])).max_budget is None  # inactive
        assert db.session.scalar(select(AuditLog).where(
            AuditLog.action == "USERS_BULK_LIMITS_UPDATED")) is not None


def test_readonly_admin_reads_every_tab_and_changes_nothing(client, world):
    headers, ids = world
    ro = headers["adminro"]
    key = client.post(_url(ids, "/api-keys"), headers=headers["admin"],
                      json={"name": "k", "modelIds": [OPEN]}).get_json()
    for path in ("", "/api-keys", "/subscriptions"):
        assert client.get(_url(ids, path), headers=ro).status_code == 200, path
    writes = [("patch", _url(ids, "/budget-limits"), {"maxBudget": 1}),
              ("post", _url(ids, "/reset-spend"), None),
              ("post", _url(ids, "/api-keys"), {"name": "x", "modelIds": [OPEN]}),
              ("patch", _url(ids, f"/api-keys/{key['id']}"), {"name": "x"}),
              ("delete", _url(ids, f"/api-keys/{key['id']}"), None),
              ("post", _url(ids, f"/api-keys/{key['id']}/reset-spend"), None),
              ("post", _url(ids, "/subscriptions"), {"modelIds": [OTHER]}),
              ("post", "/api/v1/admin/users/bulk-update-limits", {"maxBudget": 1})]
    for method, url, body in writes:
        response = getattr(client, method)(url, json=body, headers=ro)
        assert response.status_code == 403, (method, url)
    for method, url, body in writes:
        response = getattr(client, method)(url, json=body, headers=headers["user"])
        assert response.status_code == 403, (method, url)


def test_a_second_bulk_update_with_other_values_is_refused_while_one_runs(client, world,
                                                                          app):
    headers, _ = world
    with app.app_context():
        db.session.add(Job(kind="bulk_update_user_limits", status="running",
                           flight_key="bulk_update_user_limits",
                           params={"changes": {"max_budget": 5.0}}))
        db.session.commit()
    url = "/api/v1/admin/users/bulk-update-limits"
    other = client.post(url, json={"maxBudget": 6}, headers=headers["admin"])
    assert other.status_code == 409
    assert other.get_json()["error"]["code"] == "BULK_UPDATE_RUNNING"
    with app.app_context():
        db.session.execute(update(Job).values(status="cancelled"))
        db.session.commit()


@pytest.mark.parametrize("path,method,body", [
    ("/budget-limits", "patch", {}),
    ("/budget-limits", "patch", {"maxBudget": -1}),
    ("/budget-limits", "patch", {"tpmLimit": 1.5}),
    ("/budget-limits", "patch", {"budgetDuration": "forever"}),
    ("/budget-limits", "patch", {"roles": ["admin"]}),
    ("/api-keys", "post", {"name": "x"}),
    ("/api-keys", "post", {"name": "x", "modelIds": []}),
    ("/api-keys", "post", {"name": "<b>", "modelIds": ["gpt-4o"]}),
    ("/api-keys", "post", {"name": "x", "modelIds": ["gpt-4o"], "maxBudget": "NaN"}),
    ("/subscriptions", "post", {}),
    ("/subscriptions", "post", {"modelIds": "gpt-4o"}),
    ("/subscriptions", "post", {"modelIds": [""]}),
    ("/api-keys?isActive=maybe", "get", None),
    ("/subscriptions?status=bogus", "get", None),
    ("/api-keys?limit=1000", "get", None),
])
def test_bad_input_is_400(client, world, path, method, body):
    headers, ids = world
    response = getattr(client, method)(_url(ids, path), json=body, headers=headers["admin"])
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"]["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize("body", [{}, {"maxBudget": -5}, {"tpmLimit": "many"},
                                  {"budgetDuration": "1d"}, {"maxBudget": None}])
def test_bulk_bad_input_is_400(client, world, body):
    headers, _ = world
    response = client.post("/api/v1/admin/users/bulk-update-limits", json=body,
                           headers=headers["admin"])
    assert response.status_code == 400


@pytest.fixture(autouse=True)
def _settle(request, app):
    yield
    if "celery_worker" in request.fixturenames:
        settle_jobs(app)
