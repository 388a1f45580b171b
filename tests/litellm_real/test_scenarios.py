"""The scenarios that talk to LiteLLM, run against the REAL proxy through this backend's API
and a real Celery worker, reading LiteLLM's state back with the master key (issue 15).

C1 and C2 of issue 14 are shown here for real: a provisioned user's key is refused by LiteLLM's
/key/generate while it chats, and a rotated key keeps the spend of the value it replaces.
"""

from __future__ import annotations

import os
import uuid
from datetime import date

import openai
import pytest
import requests

from app.litellm import LiteLLMNotFound
from tests.litellm_real.conftest import (
    CHAT,
    EMBED,
    MASTER_KEY,
    MOCK,
    REAL_URL,
    as_key,
    chat,
    create_key,
    eventually,
    key_row,
    subscribe,
    wait_job,
)

ADMIN_ONLY = "Only proxy admin can be used to generate, delete, update info"


def provisioned(master, uid: str) -> dict:
    """The LiteLLM user made by the sign-in's job."""
    return eventually(lambda: _user_info(master, uid), f"LiteLLM user {uid}")


def _user_info(master, uid: str) -> dict | None:
    try:
        return master.user_info(uid)["user_info"]
    except LiteLLMNotFound:
        return None


def reconcile(client, admin) -> dict:
    response = client.post("/api/v1/admin/reconcile", headers=admin)
    assert response.status_code == 202
    job = wait_job(client, admin, response.get_json()["jobId"], timeout=120)
    assert job["status"] == "succeeded", job
    return job["result"]


def test_catalogue_is_synced_from_the_real_proxy(client, admin):
    body = client.get("/api/v1/models?limit=100", headers=admin).get_json()
    models = {m["id"]: m for m in body["data"]}
    assert {CHAT, EMBED, MOCK} <= set(models)
    assert models[CHAT]["inputCostPerToken"] == pytest.approx(1e-6)
    assert models[CHAT]["outputCostPerToken"] == pytest.approx(2e-6)
    assert models[CHAT]["contextLength"] == 8192 and models[CHAT]["supportsFunctionCalling"]


def test_c1_a_users_key_chats_but_cannot_mint_keys_in_litellm(app, client, admin, person,
                                                              master):
    headers, uid = person()
    remote_user = provisioned(master, uid)
    assert remote_user["user_role"] == "internal_user_viewer"
    assert remote_user["max_budget"] == 100.0  # LiteMaaS's default, pushed at sign-in
    budget = client.get("/api/v1/usage/budget", headers=headers).get_json()
    assert budget["maxBudget"] == 100.0 and budget["maxBudgetSource"] == "default"

    subscribe(client, headers, CHAT)
    issued = create_key(client, headers, [CHAT], maxBudget=5, softBudget=4, tpmLimit=10000,
                        rpmLimit=60, budgetDuration="monthly")
    raw = issued["key"]
    row = key_row(master, raw)
    assert (row["user_id"], row["models"], row["max_budget"]) == (uid, [CHAT], 5.0)
    assert (row["tpm_limit"], row["rpm_limit"], row["budget_duration"]) == (10000, 60, "monthly")
    assert row["litellm_budget_table"]["soft_budget"] == 4.0  # where LiteLLM keeps it

    answer = openai.OpenAI(base_url=REAL_URL, api_key=raw, max_retries=0).chat.completions.create(
        model=CHAT, messages=[{"role": "user", "content": "hello"}])
    assert answer.choices[0].message.content == "pong from fake upstream"
    assert chat(raw, MOCK).status_code == 403  # not one of the key's models

    for path, body in (("/key/generate", {}), ("/key/generate", {"models": [MOCK]}),
                       ("/key/update", {"key": raw, "max_budget": 1e6}),
                       ("/key/delete", {"keys": [raw]}),
                       ("/user/update", {"user_id": uid, "max_budget": 1e6}),
                       ("/team/new", {"team_alias": "mine"})):
        refused = as_key(raw, "POST", path, json=body)
        assert refused.status_code == 401, (path, refused.text)
        assert ADMIN_ONLY in refused.json()["error"]["message"]
    assert key_row(master, raw)["max_budget"] == 5.0
    assert chat(raw).status_code == 200


def test_c2_rotation_keeps_the_spend_and_the_budget_period(app, client, admin, person, master):
    headers, _uid = person()
    subscribe(client, headers, CHAT)
    issued = create_key(client, headers, [CHAT], maxBudget=0.00001, budgetDuration="monthly")
    old = issued["key"]
    assert chat(old).status_code == 200  # ~1.7e-5: over the budget at once
    refused = chat(old)
    assert refused.status_code == 422 and "Budget has been exceeded" in refused.text
    spent = eventually(lambda: key_row(master, old)["spend"], "spend written by LiteLLM")
    before = key_row(master, old)

    response = client.post(f"/api/v1/api-keys/{issued['id']}/rotate", headers=headers)
    assert response.status_code == 200, response.get_json()
    new = response.get_json()["key"]

    after = key_row(master, new)
    assert after["spend"] == pytest.approx(spent)
    assert after["budget_duration"] == "monthly"
    assert after["budget_reset_at"] == before["budget_reset_at"]
    still = chat(new)
    assert still.status_code == 422 and "Budget has been exceeded" in still.text
    assert wait_job(client, headers, response.get_json()["jobId"])["status"] == "succeeded"
    assert master.key_info(old)["info"]["status"] == "deleted"
    assert chat(old).status_code == 401


def test_teams_budgets_and_members_reach_litellm_and_deleting_removes_the_team(
        app, client, admin, person, master):
    _owner_headers, owner = person("owner")
    _member_headers, member = person("member")
    created = client.post("/api/v1/teams", json={
        "name": f"team-{uuid.uuid4().hex[:6]}", "ownerId": owner, "maxBudget": 50,
        "budgetDuration": "monthly", "tpmLimit": 1000}, headers=admin)
    assert created.status_code == 201, created.get_json()
    team = created.get_json()
    assert wait_job(client, admin, team["jobId"])["status"] == "succeeded"
    info = master.team_info(team["id"])["team_info"]
    assert (info["max_budget"], info["budget_duration"], info["tpm_limit"]) == (
        50.0, "monthly", 1000)
    members = {m["user_id"]: m["role"] for m in info["members_with_roles"]}
    assert members[owner] == "user"  # LiteLLM OSS refuses "admin"; ownership lives here

    added = client.post(f"/api/v1/teams/{team['id']}/members", json={"userId": member},
                        headers=admin)
    assert added.status_code == 201, added.get_json()
    assert wait_job(client, admin, added.get_json()["jobId"])["status"] == "succeeded"
    changed = client.patch(f"/api/v1/teams/{team['id']}",
                           json={"maxBudget": 75, "budgetDuration": "weekly"}, headers=admin)
    assert changed.status_code == 202, changed.get_json()
    assert wait_job(client, admin, changed.get_json()["jobId"])["status"] == "succeeded"
    info = master.team_info(team["id"])["team_info"]
    assert (info["max_budget"], info["budget_duration"]) == (75.0, "weekly")
    assert {m["user_id"]: m["role"] for m in info["members_with_roles"]
            if m["user_id"] in (owner, member)} == {owner: "user", member: "user"}

    deleted = client.delete(f"/api/v1/teams/{team['id']}", headers=admin)
    assert deleted.status_code == 202
    assert wait_job(client, admin, deleted.get_json()["jobId"])["status"] == "succeeded"
    with pytest.raises(LiteLLMNotFound):
        master.team_info(team["id"])


def test_user_budgets_and_every_duration_word_reach_litellm(app, client, admin, person, master):
    headers, uid = person()
    provisioned(master, uid)
    patched = client.patch(f"/api/v1/users/{uid}", json={
        "maxBudget": 12.5, "budgetDuration": "weekly", "tpmLimit": 500}, headers=admin)
    assert patched.status_code == 202, patched.get_json()
    assert wait_job(client, admin, patched.get_json()["jobId"])["status"] == "succeeded"
    info = master.user_info(uid)["user_info"]
    assert (info["max_budget"], info["budget_duration"], info["tpm_limit"]) == (
        12.5, "weekly", 500)
    assert info["user_role"] == "internal_user_viewer"

    subscribe(client, headers, CHAT)
    yearly = create_key(client, headers, [CHAT], maxBudget=3, budgetDuration="yearly")
    assert key_row(master, yearly["key"])["budget_duration"] == "365d"
    refused = client.post("/api/v1/api-keys", headers=headers, json={
        "name": "k", "modelIds": [CHAT], "budgetDuration": "2mo"})
    assert refused.status_code == 400  # LiteLLM would refuse it too


def test_deactivating_a_user_blocks_their_keys_and_reactivating_unblocks(
        app, client, admin, person, master):
    headers, uid = person()
    subscribe(client, headers, CHAT)
    raw = create_key(client, headers, [CHAT])["key"]
    assert chat(raw).status_code == 200

    off = client.patch(f"/api/v1/users/{uid}", json={"isActive": False}, headers=admin)
    assert off.status_code in (200, 202), off.get_json()
    eventually(lambda: key_row(master, raw)["blocked"] is True, "key blocked in LiteLLM")
    assert chat(raw).status_code == 401

    on = client.patch(f"/api/v1/users/{uid}", json={"isActive": True}, headers=admin)
    assert on.status_code in (200, 202), on.get_json()
    eventually(lambda: not key_row(master, raw)["blocked"], "key unblocked in LiteLLM")
    assert chat(raw).status_code == 200


def test_a_model_removed_from_litellm_is_taken_off_keys(app, client, admin, person, master):
    name = f"e2e-tmp-{uuid.uuid4().hex[:8]}"
    added = requests.post(f"{REAL_URL}/model/new", timeout=30,
                          headers={"Authorization": f"Bearer {MASTER_KEY}"},
                          json={"model_name": name, "litellm_params": {
                              "model": "openai/fake-chat", "api_base": "http://127.0.0.1:"
                              f"{_fake_port()}/v1", "api_key": "sk-fake-upstream"}})
    assert added.status_code == 200, added.text
    model_id = added.json()["model_id"]
    sync = client.post("/api/v1/models/sync", headers=admin)
    assert wait_job(client, admin, sync.get_json()["jobId"])["status"] == "succeeded"
    headers, _uid = person()
    subscribe(client, headers, name)
    subscribe(client, headers, CHAT)
    raw = create_key(client, headers, [name, CHAT])["key"]
    assert chat(raw, name).status_code == 200

    gone = requests.post(f"{REAL_URL}/model/delete", json={"id": model_id}, timeout=30,
                         headers={"Authorization": f"Bearer {MASTER_KEY}"})
    assert gone.status_code == 200, gone.text
    sync = client.post("/api/v1/models/sync", headers=admin)
    assert wait_job(client, admin, sync.get_json()["jobId"])["status"] == "succeeded"
    shown = client.get(f"/api/v1/models/{name}", headers=admin).get_json()
    assert shown["availability"] == "unavailable"
    eventually(lambda: key_row(master, raw)["models"] == [CHAT], "model taken off the key")
    assert chat(raw).status_code == 200


def _fake_port() -> str:
    return os.environ.get("FAKE_PORT", "4012")


def test_usage_rollup_equals_litellms_own_spend(app, client, admin, person, master):
    headers, uid = person()
    for model in (CHAT, EMBED):
        subscribe(client, headers, model)
    raw = create_key(client, headers, [CHAT, EMBED])["key"]
    openai_client = openai.OpenAI(base_url=REAL_URL, api_key=raw, max_retries=0)
    for n in range(3):
        openai_client.chat.completions.create(
            model=CHAT, messages=[{"role": "user", "content": f"count to {n}"}])
    vectors = openai_client.embeddings.create(model=EMBED, input=["a", "b"])
    assert len(vectors.data) == 2

    today = date.today().isoformat()

    def litellm_totals():
        meta = master.user_daily_activity(today, today, user_id=uid)["metadata"]
        return meta if meta.get("total_api_requests") == 4 else None

    totals = eventually(litellm_totals, "LiteLLM's daily activity", timeout=60)
    rollup = client.post("/api/v1/admin/usage/rollup", json={}, headers=admin)
    assert rollup.status_code == 202, rollup.get_json()
    assert wait_job(client, admin, rollup.get_json()["jobId"])["status"] == "succeeded"

    summary = client.get("/api/v1/usage/summary", headers=headers).get_json()["totals"]
    assert summary["requests"] == 4
    assert summary["spend"] == pytest.approx(totals["total_spend"], abs=1e-6)
    assert summary["promptTokens"] == totals["total_prompt_tokens"]
    assert summary["completionTokens"] == totals["total_completion_tokens"]
    by_model = {m["modelId"]: m["metrics"] for m in
                client.get("/api/v1/usage/models", headers=headers).get_json()["data"]}
    assert (by_model[CHAT]["requests"], by_model[EMBED]["requests"]) == (3, 1)


def test_reconciliation_repairs_drift_and_finds_keys_litemaas_did_not_make(
        app, client, admin, person, master, monkeypatch):
    headers, uid = person()
    provisioned(master, uid)
    subscribe(client, headers, CHAT)
    issued = create_key(client, headers, [CHAT], maxBudget=5, softBudget=4)
    raw = issued["key"]
    master.key_update(key=raw, max_budget=500, soft_budget=1)  # behind LiteMaaS's back
    master.user_update(user_id=uid, user_role="internal_user")  # as provisioned before C1
    foreign = master.key_generate(user_id=uid, models=[], key_alias=f"minted-{uid[:8]}")["key"]

    result = reconcile(client, admin)

    repaired = {(r["action"], r["resourceId"]): r for r in result["repairs"]}
    pushed = repaired[("key_repushed", issued["id"])]
    assert sorted(pushed["fields"]) == ["max_budget", "soft_budget"]
    row = key_row(master, raw)
    assert row["max_budget"] == 5.0 and row["litellm_budget_table"]["soft_budget"] == 4.0
    assert "user_role" in repaired[("user_repushed", uid)]["fields"]
    assert master.user_info(uid)["user_info"]["user_role"] == "internal_user_viewer"
    [finding] = [f for f in result["findings"] if f["userId"] == uid]
    assert finding["kind"] == "foreign_key" and finding["deleted"] is False
    assert chat(foreign).status_code == 200  # reported, not deleted by default

    monkeypatch.setitem(app.config, "RECONCILE_DELETE_FOREIGN_KEYS", True)
    result = reconcile(client, admin)
    [finding] = [f for f in result["findings"] if f["userId"] == uid]
    assert finding["deleted"] is True
    assert master.key_info(foreign)["info"]["status"] == "deleted"
    assert chat(foreign).status_code == 401
    assert chat(raw).status_code == 200
