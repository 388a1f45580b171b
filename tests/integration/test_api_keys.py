"""API keys through the API, provisioned in the LiteLLM simulator by a real worker."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from app.extensions import db
from app.models import ApiKey, AuditLog
from tests.integration.provisioning_support import (
    chat,
    create_key,
    seed_models,
    sim_calls,
    sim_key,
    subscribe,
    user_id,
)
from tests.support.jobs import wait_for_job

OPEN, OTHER, RESTRICTED = "gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet-20240620"


@pytest.fixture
def subscribed(app, client, login, sim):
    """A user subscribed to two open models (a third one is restricted)."""
    seed_models(app, sim, restricted=(RESTRICTED,))
    user = login("user")
    subscribe(client, user, OPEN)
    subscribe(client, user, OTHER)
    return user


def test_created_key_works_in_litellm_with_the_limits_sent(app, client, sim, subscribed):
    expires = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    body = create_key(client, subscribed, [OPEN, OTHER], name="ci bot", maxBudget=12.5,
                      budgetDuration="30d", tpmLimit=1000, rpmLimit=10, softBudget=10,
                      expiresAt=expires)
    raw = body["key"]
    assert raw.startswith("sk-") and len(raw) == 51
    assert body["status"] == "active" and body["isActive"] is True and body["jobId"] is None
    assert body["keyPrefix"] == f"{raw[:8]}\u2026{raw[-4:]}"
    assert body["models"] == [OPEN, OTHER]
    assert body["modelDetails"][0] == {"id": OPEN, "name": OPEN, "provider": "openai"}

    sent = [c["json"] for c in sim_calls(sim, "/key/generate")][-1]
    owner = user_id(client, subscribed)
    assert sent["key"] == raw and sent["user_id"] == owner
    assert sorted(sent["models"]) == [OPEN, OTHER]
    assert (sent["max_budget"], sent["tpm_limit"], sent["rpm_limit"]) == (12.5, 1000, 10)
    assert sent["budget_duration"] == "30d" and sent["soft_budget"] == 10.0
    assert sent["metadata"]["litemaas_key_id"] == body["id"]
    assert sent["key_alias"].startswith("ci-bot_")
    assert owner in sim.state.users  # the owner exists in LiteLLM before the key

    assert chat(sim, raw, OPEN).status_code == 200
    assert chat(sim, raw, RESTRICTED).status_code == 403  # not one of the key's models
    litellm_row = sim_key(sim, raw)
    assert litellm_row["spend"] > 0 and litellm_row["expires"] is not None
    with app.app_context():
        stored = db.session.get(ApiKey, uuid.UUID(body["id"]))
        assert stored.key_hash == hashlib.sha256(raw.encode()).hexdigest()
        assert stored.litellm_key_token == stored.key_hash
        assert stored.encrypted_key is None  # no ENCRYPTION_KEY configured


def test_the_key_authenticates_against_litemaas_as_its_owner(client, sim, subscribed):
    body = create_key(client, subscribed, [OPEN])
    mine = client.get("/api/v1/api-keys", headers={"X-API-Key": body["key"]})
    assert mine.status_code == 200
    assert [k["id"] for k in mine.get_json()["data"]] == [body["id"]]
    assert all("key" not in item for item in mine.get_json()["data"])


def test_keys_only_for_models_with_an_active_subscription(client, login, subscribed):
    pending = client.post("/api/v1/subscriptions", json={"modelId": RESTRICTED},
                          headers=subscribed).get_json()
    assert pending["status"] == "pending"
    refused = create_key(client, subscribed, [OPEN, RESTRICTED, "claude-3-haiku-20240307",
                                              "no-such-model"], expect=422)
    assert refused["error"]["code"] == "MODELS_NOT_ALLOWED"
    assert refused["error"]["details"]["reasons"] == {
        RESTRICTED: "subscription_pending", "claude-3-haiku-20240307": "not_subscribed",
        "no-such-model": "unknown_model"}
    other = login("bob")
    assert create_key(client, other, [OPEN], expect=422)["error"]["details"]["modelIds"] == [
        OPEN]


@pytest.mark.parametrize("fields", [
    {"modelIds": []},
    {"maxBudget": -1},
    {"tpmLimit": 1.5},
    {"rpmLimit": -3},
    {"budgetDuration": "fortnightly"},
    {"maxBudget": 5, "softBudget": 6},
    {"expiresAt": "2001-01-01T00:00:00Z"},
    {"name": ""},
    {"unexpected": True},
])
def test_invalid_key_requests_are_400(client, subscribed, fields):
    body = {"name": "k", "modelIds": [OPEN], **fields}
    response = client.post("/api/v1/api-keys", json=body, headers=subscribed)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"]["code"] == "VALIDATION_ERROR"


def test_users_see_only_their_own_keys(app, client, login, sim, subscribed):
    mine = create_key(client, subscribed, [OPEN])
    other, admin, readonly = login("bob"), login("admin"), login("adminro")
    url = f"/api/v1/api-keys/{mine['id']}"
    assert client.get(url, headers=other).status_code == 404
    assert client.patch(url, json={"name": "x"}, headers=other).status_code == 404
    assert client.delete(url, headers=other).status_code == 404
    assert client.post(f"{url}/rotate", headers=other).status_code == 404
    assert client.get("/api/v1/api-keys", headers=other).get_json()["data"] == []
    shown = client.get(url, headers=subscribed).get_json()
    assert shown["id"] == mine["id"] and "key" not in shown
    assert client.get(url, headers=admin).status_code == 200
    listed = client.get(f"/api/v1/admin/api-keys?userId={mine['userId']}",
                        headers=readonly).get_json()
    assert [k["id"] for k in listed["data"]] == [mine["id"]]
    assert listed["data"][0]["user"]["username"] == "user"


def test_list_filters(client, sim, subscribed):
    first = create_key(client, subscribed, [OPEN], name="alpha")
    create_key(client, subscribed, [OTHER], name="beta")
    by_model = client.get(f"/api/v1/api-keys?modelId={OPEN}", headers=subscribed).get_json()
    assert [k["id"] for k in by_model["data"]] == [first["id"]]
    by_name = client.get("/api/v1/api-keys?search=bet", headers=subscribed).get_json()
    assert [k["name"] for k in by_name["data"]] == ["beta"]
    by_name = client.get("/api/v1/api-keys?sort=name", headers=subscribed).get_json()
    assert [k["name"] for k in by_name["data"]] == ["alpha", "beta"]
    active = client.get("/api/v1/api-keys?isActive=true", headers=subscribed).get_json()
    assert active["pagination"]["total"] == 2


def test_edit_is_pushed_to_litellm_by_a_job(app, client, sim, celery_worker, subscribed):
    body = create_key(client, subscribed, [OPEN], name="first")
    changed = client.patch(f"/api/v1/api-keys/{body['id']}", headers=subscribed, json={
        "name": "renamed", "modelIds": [OPEN, OTHER], "rpmLimit": 7, "maxBudget": 3,
        "budgetDuration": None})
    assert changed.status_code == 200
    view = changed.get_json()
    assert view["name"] == "renamed" and view["models"] == [OPEN, OTHER]
    assert view["rpmLimit"] == 7 and view["maxBudget"] == 3
    job = wait_for_job(client, subscribed, view["jobId"])
    assert job["status"] == "succeeded" and job["kind"] == "update_key"
    row = sim_key(sim, body["key"])
    assert sorted(row["models"]) == [OPEN, OTHER]
    assert (row["rpm_limit"], row["max_budget"]) == (7, 3.0)
    assert row["key_alias"].startswith("renamed_")
    assert chat(sim, body["key"], OTHER).status_code == 200

    unchanged = client.patch(f"/api/v1/api-keys/{body['id']}", json={"rpmLimit": 7},
                             headers=subscribed)
    assert unchanged.status_code == 200 and unchanged.get_json()["jobId"] is None
    refused = client.patch(f"/api/v1/api-keys/{body['id']}", json={"modelIds": [RESTRICTED]},
                           headers=subscribed)
    assert refused.status_code == 422


def test_rotate_gives_a_new_value_and_the_old_one_stops_working(
        app, client, sim, celery_worker, subscribed):
    body = create_key(client, subscribed, [OPEN])
    old = body["key"]
    rotated = client.post(f"/api/v1/api-keys/{body['id']}/rotate", headers=subscribed)
    assert rotated.status_code == 200
    new = rotated.get_json()
    assert new["id"] == body["id"] and new["key"] != old
    assert new["oldPrefix"] == body["keyPrefix"] and new["keyPrefix"] == new["key"][:8] + \
        "\u2026" + new["key"][-4:]
    assert client.get("/api/v1/api-keys", headers={"X-API-Key": old}).status_code == 401
    assert client.get("/api/v1/api-keys", headers={"X-API-Key": new["key"]}).status_code == 200
    assert wait_for_job(client, subscribed, new["jobId"])["status"] == "succeeded"
    assert sim_key(sim, old) is None
    assert chat(sim, old, OPEN).status_code == 401
    assert chat(sim, new["key"], OPEN).status_code == 200
    assert sorted(sim_key(sim, new["key"])["models"]) == [OPEN]
    shown = client.get(f"/api/v1/api-keys/{body['id']}", headers=subscribed).get_json()
    assert shown["keyPrefix"] == new["keyPrefix"] and shown["status"] == "active"


def test_revoked_key_is_refused_here_at_once_and_in_litellm_after_the_job(
        app, client, sim, celery_worker, subscribed):
    body = create_key(client, subscribed, [OPEN])
    api_key = {"X-API-Key": body["key"]}
    assert client.get("/api/v1/api-keys", headers=api_key).status_code == 200  # now cached
    revoked = client.delete(f"/api/v1/api-keys/{body['id']}", headers=subscribed)
    assert revoked.status_code == 202
    assert revoked.headers["Location"] == revoked.get_json()["links"]["self"]
    assert client.get("/api/v1/api-keys", headers=api_key).status_code == 401
    job = wait_for_job(client, subscribed, revoked.get_json()["jobId"])
    assert job["status"] == "succeeded" and job["result"]["deletedInLitellm"] is True
    assert sim_key(sim, body["key"]) is None
    assert chat(sim, body["key"], OPEN).status_code == 401
    shown = client.get(f"/api/v1/api-keys/{body['id']}", headers=subscribed).get_json()
    assert shown["status"] == "revoked" and shown["revokedAt"] and shown["isActive"] is False
    again = client.delete(f"/api/v1/api-keys/{body['id']}", headers=subscribed)
    assert again.status_code == 409
    assert client.patch(f"/api/v1/api-keys/{body['id']}", json={"name": "x"},
                        headers=subscribed).status_code == 409
    assert client.post(f"/api/v1/api-keys/{body['id']}/rotate",
                       headers=subscribed).status_code == 409


def test_admin_revokes_anyones_key_and_readonly_admin_cannot(
        app, client, login, sim, celery_worker, subscribed):
    body = create_key(client, subscribed, [OPEN])
    url = f"/api/v1/admin/api-keys/{body['id']}/revoke"
    assert client.post(url, json={}, headers=login("adminro")).status_code == 403
    assert client.post(url, json={}, headers=subscribed).status_code == 403
    revoked = client.post(url, json={"reason": "leaked in a repo"}, headers=login("admin"))
    assert revoked.status_code == 202
    assert wait_for_job(client, login("admin"), revoked.get_json()["jobId"])[
        "status"] == "succeeded"
    assert chat(sim, body["key"], OPEN).status_code == 401
    with app.app_context():
        details = db.session.scalar(select(AuditLog.details).where(
            AuditLog.action == "API_KEY_REVOKED", AuditLog.resource_id == body["id"]))
    assert details["byAdmin"] is True and details["reason"] == "leaked in a repo"


def test_reveal_is_off_without_an_encryption_key(client, subscribed):
    body = create_key(client, subscribed, [OPEN])
    response = client.post(f"/api/v1/api-keys/{body['id']}/reveal", headers=subscribed)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "REVEAL_DISABLED"


def test_reveal_with_an_encryption_key_is_audited_and_limited(app, client, sim, subscribed,
                                                               monkeypatch):
    monkeypatch.setitem(app.config, "ENCRYPTION_KEY", Fernet.generate_key().decode())
    body = create_key(client, subscribed, [OPEN])
    url = f"/api/v1/api-keys/{body['id']}/reveal"
    with app.app_context():
        stored = db.session.get(ApiKey, uuid.UUID(body["id"])).encrypted_key
    assert stored and body["key"].encode() not in bytes(stored)
    assert client.post(url, headers={"X-API-Key": body["key"]}).status_code == 403
    limit = app.config["KEY_REVEAL_LIMIT_PER_HOUR"]
    for _ in range(limit):
        shown = client.post(url, headers=subscribed)
        assert shown.status_code == 200
        assert shown.get_json()["key"] == body["key"]
        assert shown.headers["Cache-Control"] == "no-store"
    limited = client.post(url, headers=subscribed)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    with app.app_context():
        revealed = db.session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "API_KEY_REVEALED", AuditLog.resource_id == body["id"]))
    assert revealed == limit


def test_admin_api_key_cannot_own_keys(client, subscribed):
    admin_key = {"X-API-Key": "ltm_admin_test_key_0123456789"}
    response = client.post("/api/v1/api-keys", json={"name": "x", "modelIds": [OPEN]},
                           headers=admin_key)
    assert response.status_code == 403


def test_key_count_is_limited_per_user(app, client, subscribed, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_API_KEYS_PER_USER", 2)
    create_key(client, subscribed, [OPEN])
    create_key(client, subscribed, [OPEN])
    refused = create_key(client, subscribed, [OPEN], expect=409)
    assert refused["error"]["code"] == "API_KEY_LIMIT_REACHED"


def test_litellm_refusing_a_key_answers_502_and_keeps_nothing(app, client, sim, subscribed):
    sim.configure(master_key="sk-a-different-master-key")  # LiteLLM now refuses our calls
    response = client.post("/api/v1/api-keys", json={"name": "x", "modelIds": [OPEN]},
                           headers=subscribed)
    assert response.status_code == 502
    assert response.get_json()["error"]["code"] == "LITELLM_ERROR"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ApiKey)) == 0
        failed = db.session.scalar(select(AuditLog.success).where(
            AuditLog.action == "API_KEY_CREATE_FAILED"))
    assert failed is False


def test_rotation_while_litellm_is_down_changes_nothing(app, client, sim, subscribed):
    body = create_key(client, subscribed, [OPEN])
    sim.configure(down=True)
    response = client.post(f"/api/v1/api-keys/{body['id']}/rotate", headers=subscribed)
    assert response.status_code == 503 and response.headers["Retry-After"]
    sim.configure(down=False)
    assert client.get("/api/v1/api-keys", headers={"X-API-Key": body["key"]}).status_code == 200
    assert chat(sim, body["key"], OPEN).status_code == 200


def test_admin_api_key_owns_no_keys_or_subscriptions(client, subscribed):
    create_key(client, subscribed, [OPEN])
    admin_key = {"X-API-Key": "ltm_admin_test_key_0123456789"}
    assert client.get("/api/v1/api-keys", headers=admin_key).get_json()["data"] == []
    assert client.get("/api/v1/subscriptions", headers=admin_key).get_json()["data"] == []
    assert client.get("/api/v1/admin/api-keys", headers=admin_key).get_json()[
        "pagination"]["total"] == 1
