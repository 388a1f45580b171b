"""Issue 13, part 5: API keys as the upstream LiteMaaS web UI manages them (ApiKeysPage: create
and edit with metadata and per-model limits, defaults and maximums, view, reveal, delete, spend
reset; the usage page's key filter)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from app.extensions import db
from app.models import ApiKey
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

OPEN, OTHER = "gpt-4o", "gpt-4o-mini"
KEYS = "/api/v1/api-keys"


@pytest.fixture
def subscribed(app, client, login, sim):
    seed_models(app, sim)
    user = login("user")
    subscribe(client, user, OPEN)
    subscribe(client, user, OTHER)
    return user


def ui_create_body(**overrides) -> dict:
    """What ApiKeysPage.handleSaveApiKey posts for a new key."""
    return {
        "modelIds": [OPEN, OTHER], "name": "notebook",
        "expiresAt": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
        "maxBudget": 20, "budgetDuration": "yearly", "tpmLimit": 10000, "rpmLimit": 60,
        "modelRpmLimit": {OPEN: 10}, "modelTpmLimit": {OPEN: 5000},
        "metadata": {"description": "for the team notebook", "permissions": [],
                     "rateLimit": 1000},
        **overrides,
    }


def stored_keys(app) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(ApiKey))
        db.session.remove()
    return count


def test_create_with_the_ui_body_keeps_and_pushes_everything(app, client, sim, subscribed):
    created = client.post(KEYS, json={**ui_create_body(), "maxParallelRequests": 3},
                          headers=subscribed)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["key"].startswith("sk-") and body["isActive"] is True
    assert body["metadata"] == {"description": "for the team notebook", "permissions": [],
                                "rateLimit": 1000}
    assert body["modelRpmLimit"] == {OPEN: 10} and body["modelTpmLimit"] == {OPEN: 5000}
    assert body["budgetDuration"] == "yearly" and body["maxParallelRequests"] == 3

    sent = [c["json"] for c in sim_calls(sim, "/key/generate")][-1]
    assert sent["metadata"]["description"] == "for the team notebook"
    assert sent["metadata"]["litemaas_key_id"] == body["id"]
    assert sent["model_rpm_limit"] == {OPEN: 10} and sent["model_tpm_limit"] == {OPEN: 5000}
    assert sent["budget_duration"] == "365d"  # LiteLLM has no "yearly" and refuses "12mo"
    assert sent["max_parallel_requests"] == 3
    assert "model_max_budget" not in sent
    row = sim_key(sim, body["key"])
    assert row["metadata"]["model_rpm_limit"] == {OPEN: 10}
    assert row["metadata"]["description"] == "for the team notebook"
    assert chat(sim, body["key"], OPEN).status_code == 200

    listed = client.get(f"{KEYS}?page=1&limit=20", headers=subscribed).get_json()
    assert listed["total"] == 1
    item = listed["data"][0]
    assert item["metadata"]["description"] == "for the team notebook"
    assert item["modelTpmLimit"] == {OPEN: 5000} and "key" not in item
    assert item["keyPrefix"] and item["isActive"] is True and item["revokedAt"] is None


def test_edit_with_the_ui_body_is_pushed_to_litellm(app, client, sim, celery_worker,
                                                    subscribed):
    key = create_key(client, subscribed, [OPEN, OTHER], modelRpmLimit={OPEN: 10, OTHER: 20})
    update = {**ui_create_body(), "name": "renamed", "modelIds": [OTHER],
              "modelTpmLimit": {OTHER: 700},
              "metadata": {"description": "changed", "permissions": ["read"],
                           "rateLimit": 1000}}
    del update["modelRpmLimit"]  # the UI leaves out empty per-model maps: kept as they are
    changed = client.patch(f"{KEYS}/{key['id']}", json=update, headers=subscribed)
    assert changed.status_code == 200, changed.get_json()
    view = changed.get_json()
    assert view["metadata"]["description"] == "changed"
    assert view["modelRpmLimit"] == {OTHER: 20}  # the model that left the key took its limit
    assert view["modelTpmLimit"] == {OTHER: 700}
    assert wait_for_job(client, subscribed, view["jobId"])["status"] == "succeeded"
    row = sim_key(sim, key["key"])
    assert row["metadata"]["description"] == "changed"
    assert row["metadata"]["model_rpm_limit"] == {OTHER: 20}
    assert row["metadata"]["model_tpm_limit"] == {OTHER: 700}
    assert row["budget_duration"] == "365d" and row["models"] == [OTHER]
    cleared = client.patch(f"{KEYS}/{key['id']}", json={"modelRpmLimit": None},
                           headers=subscribed).get_json()
    assert cleared["modelRpmLimit"] is None
    assert wait_for_job(client, subscribed, cleared["jobId"])["status"] == "succeeded"
    assert not sim_key(sim, key["key"])["metadata"].get("model_rpm_limit")


@pytest.mark.parametrize("fields", [
    {"metadata": {"description": "x", "secret": "y"}},
    {"metadata": {"rateLimit": "fast"}},
    {"metadata": {"permissions": "read"}},
    {"modelRpmLimit": {OPEN: 0}},
    {"modelTpmLimit": {OPEN: 1.5}},
    {"modelRpmLimit": ["gpt-4o"]},
    {"maxParallelRequests": -1},
    {"budgetDuration": "annually"},
    {"modelMaxBudget": {OPEN: {"budgetLimit": 5}}},
])
def test_bad_ui_fields_are_400_and_store_nothing(app, client, subscribed, fields):
    response = client.post(KEYS, json={"name": "k", "modelIds": [OPEN], **fields},
                           headers=subscribed)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"]["code"] == "VALIDATION_ERROR"
    assert stored_keys(app) == 0


def test_per_model_limits_must_name_the_keys_models_and_stay_under_its_limits(
        app, client, subscribed):
    outside = client.post(KEYS, json={"name": "k", "modelIds": [OPEN],
                                      "modelRpmLimit": {OTHER: 5}}, headers=subscribed)
    assert outside.status_code == 400
    assert "modelRpmLimit" in outside.get_json()["error"]["details"]["fields"]
    above = client.post(KEYS, json={"name": "k", "modelIds": [OPEN], "rpmLimit": 10,
                                    "modelRpmLimit": {OPEN: 11}}, headers=subscribed)
    assert above.status_code == 400
    assert stored_keys(app) == 0


def test_defaults_and_maximums_are_enforced_on_the_server(app, client, monkeypatch,
                                                          subscribed):
    for name, value in (("API_KEY_DEFAULT_MAX_BUDGET", 5.0), ("API_KEY_DEFAULT_RPM_LIMIT", 30),
                        ("API_KEY_DEFAULT_BUDGET_DURATION", "monthly"),
                        ("API_KEY_DEFAULT_EXPIRATION_DAYS", 30), ("API_KEY_MAX_BUDGET", 50.0),
                        ("API_KEY_MAX_RPM_LIMIT", 100), ("API_KEY_MAX_TPM_LIMIT", 1000),
                        ("API_KEY_MAX_EXPIRATION_DAYS", 90)):
        monkeypatch.setitem(app.config, name, value)
    plain = create_key(client, subscribed, [OPEN])
    assert (plain["maxBudget"], plain["rpmLimit"], plain["budgetDuration"]) == (5, 30,
                                                                                 "monthly")
    expires = datetime.fromisoformat(plain["expiresAt"])
    assert timedelta(days=29) < expires - datetime.now(UTC) <= timedelta(days=30)

    far = (datetime.now(UTC) + timedelta(days=200)).isoformat()
    for fields in ({"maxBudget": 51}, {"rpmLimit": 101}, {"tpmLimit": 1001},
                   {"expiresAt": far}, {"modelTpmLimit": {OPEN: 2000}}):
        refused = client.post(KEYS, json={"name": "k", "modelIds": [OPEN], **fields},
                              headers=subscribed)
        assert refused.status_code == 400, (fields, refused.get_json())
    assert stored_keys(app) == 1
    # "never" on a new key takes the default expiry (as upstream); on an edit it is refused
    never_new = create_key(client, subscribed, [OPEN], expiresAt=None)
    assert never_new["expiresAt"] is not None
    edit = client.patch(f"{KEYS}/{plain['id']}", json={"rpmLimit": 500}, headers=subscribed)
    assert edit.status_code == 400
    never = client.patch(f"{KEYS}/{plain['id']}", json={"expiresAt": None}, headers=subscribed)
    assert never.status_code == 400
    assert client.get(f"{KEYS}/{plain['id']}", headers=subscribed).get_json()["rpmLimit"] == 30


def test_per_model_budgets_need_an_enterprise_litellm(app, client, sim, monkeypatch,
                                                      subscribed):
    budget = {OPEN: {"budgetLimit": 2.5, "timePeriod": "monthly"}}
    refused = client.post(KEYS, json={"name": "k", "modelIds": [OPEN],
                                      "modelMaxBudget": budget}, headers=subscribed)
    assert refused.status_code == 422
    assert refused.get_json()["error"]["code"] == "ENTERPRISE_FEATURE"
    assert stored_keys(app) == 0
    monkeypatch.setitem(app.config, "LITELLM_ENTERPRISE", True)
    sim.configure(premium=True)
    key = create_key(client, subscribed, [OPEN], modelMaxBudget=budget)
    assert key["modelMaxBudget"] == budget
    sent = [c["json"] for c in sim_calls(sim, "/key/generate")][-1]
    assert sent["model_max_budget"] == {OPEN: {"budget_limit": 2.5, "time_period": "monthly"}}


def test_reset_spend_sets_the_key_back_to_zero_here_and_in_litellm(
        app, client, login, sim, celery_worker, subscribed):
    key = create_key(client, subscribed, [OPEN])
    assert chat(sim, key["key"], OPEN).status_code == 200
    assert sim_key(sim, key["key"])["spend"] > 0
    with app.app_context():
        db.session.get(ApiKey, uuid.UUID(key["id"])).spend = Decimal("1.25")
        db.session.commit()
        db.session.remove()
    url = f"{KEYS}/{key['id']}/reset-spend"
    assert client.post(url, headers=login("bob")).status_code == 404
    reset = client.post(url, headers=subscribed)
    assert reset.status_code == 200, reset.get_json()
    body = reset.get_json()
    assert body["id"] == key["id"] and body["currentSpend"] == 0 and body["resetAt"]
    assert wait_for_job(client, subscribed, body["jobId"])["status"] == "succeeded"
    assert sim_key(sim, key["key"])["spend"] == 0
    assert client.get(f"{KEYS}/{key['id']}", headers=subscribed).get_json()["currentSpend"] == 0
    client.delete(f"{KEYS}/{key['id']}", headers=subscribed)
    assert client.post(url, headers=subscribed).status_code == 409


def test_view_reveal_and_delete_as_the_page_does(app, client, sim, monkeypatch, subscribed):
    monkeypatch.setitem(app.config, "ENCRYPTION_KEY", Fernet.generate_key().decode())
    key = create_key(client, subscribed, [OPEN])
    shown = client.get(f"{KEYS}/{key['id']}", headers=subscribed).get_json()
    assert shown["models"] == [OPEN] and shown["modelDetails"][0]["id"] == OPEN
    revealed = client.post(f"{KEYS}/{key['id']}/reveal", headers=subscribed)
    assert revealed.status_code == 200
    assert revealed.get_json()["key"] == key["key"]
    assert revealed.get_json()["keyType"] == "litellm" and revealed.get_json()["retrievedAt"]
    deleted = client.delete(f"{KEYS}/{key['id']}", headers=subscribed)
    assert deleted.status_code == 202
    assert client.get(KEYS, headers=subscribed).get_json()["data"] == []  # gone from the page
    history = [row for state in ("revoking", "revoked")
               for row in client.get(f"{KEYS}?status={state}", headers=subscribed)
               .get_json()["data"]]
    after = history[0]
    assert after["revokedAt"] is not None and after["isActive"] is False


def test_the_usage_page_key_filter_answers_a_user_with_their_own_keys(
        client, login, sim, subscribed):
    mine = create_key(client, subscribed, [OPEN], name="mine")
    me = user_id(client, subscribed)
    bob = login("bob")
    bob_id = user_id(client, bob)
    answer = client.get(f"/api/v1/admin/api-keys?userIds={me}", headers=subscribed)
    assert answer.status_code == 200, answer.get_json()
    options = answer.get_json()["apiKeys"]
    assert [(o["id"], o["name"], o["username"]) for o in options] == [
        (mine["id"], "mine", "user")]
    assert options[0]["keyAlias"] and options[0]["keyAlias"].startswith("mine_")
    assert client.get(f"/api/v1/admin/api-keys?userIds={bob_id}",
                      headers=subscribed).status_code == 403
    assert client.get(f"/api/v1/admin/api-keys?userIds={me}&userIds={bob_id}",
                      headers=subscribed).status_code == 403
    plain = client.get("/api/v1/admin/api-keys", headers=bob).get_json()
    assert plain["data"] == []  # a user without userIds sees only their own (none)
    admin = client.get(f"/api/v1/admin/api-keys?userIds={me}", headers=login("adminro"))
    assert [o["id"] for o in admin.get_json()["apiKeys"]] == [mine["id"]]
