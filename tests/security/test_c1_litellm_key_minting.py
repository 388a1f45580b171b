"""C1: no LiteMaaS-issued key may create, change or delete keys, users or teams in LiteLLM.

LiteMaaS provisions its users as ``internal_user_viewer`` (chat works, key management is
refused with LiteLLM's 401 "Only proxy admin can ..."), team owners as plain team members,
moves users made with another role over at reconciliation, and reports (optionally deletes)
keys of its users that it did not make. The simulator enforces LiteLLM's route check, so each
test fails when provisioning goes back to ``internal_user`` or team ``admin``.
"""

from __future__ import annotations

import pytest
import requests

from app.services.litellm_accounts import LITELLM_USER_ROLE
from tests.integration.provisioning_support import (
    chat,
    create_key,
    seed_models,
    sim_key,
    subscribe,
    user_id,
)
from tests.support.jobs import wait_for_job

MODEL, OTHER = "gpt-4o", "gpt-4o-mini"
ADMIN_ONLY = ("Only proxy admin can be used to generate, delete, update info for new "
              "keys/users/teams")


def as_key(sim, raw: str, path: str, body: dict) -> requests.Response:
    """A call to LiteLLM's admin API made with a user's own LiteMaaS-issued key."""
    return requests.post(f"{sim.url}{path}", json=body, timeout=5,
                         headers={"Authorization": f"Bearer {raw}"})


@pytest.fixture
def user_key(app, client, login, sim, celery_worker):
    seed_models(app, sim)
    headers = login("user")
    subscribe(client, headers, MODEL)
    issued = create_key(client, headers, [MODEL])
    assert issued["status"] == "active", issued
    return headers, issued["key"]


def reconcile(client, login) -> dict:
    admin = login("admin")
    response = client.post("/api/v1/admin/reconcile", headers=admin)
    assert response.status_code == 202
    job = wait_for_job(client, admin, response.get_json()["jobId"])
    assert job["status"] == "succeeded", job
    return job["result"]


def test_users_key_cannot_mint_keys_in_litellm_but_chats(client, sim, user_key):
    headers, raw = user_key
    uid = user_id(client, headers)
    assert sim.state.users[uid]["user_role"] == LITELLM_USER_ROLE == "internal_user_viewer"
    keys_before = len(sim.state.keys)

    for body in ({}, {"models": [OTHER]}, {"models": [MODEL], "max_budget": 1e6}):
        minted = as_key(sim, raw, "/key/generate", body)
        assert minted.status_code == 401, minted.text
        assert ADMIN_ONLY in minted.json()["error"]["message"]
        assert "Your role=internal_user_viewer" in minted.json()["error"]["message"]
    assert len(sim.state.keys) == keys_before
    assert chat(sim, raw, MODEL).status_code == 200  # the key still does its job


@pytest.mark.parametrize(("path", "body"), [
    ("/key/update", {"key": "SELF", "max_budget": 1e6, "models": []}),
    ("/key/delete", {"keys": ["SELF"]}),
    ("/user/new", {"user_id": "someone-else"}),
    ("/user/update", {"user_id": "SELF_USER", "max_budget": 1e6}),
    ("/user/delete", {"user_ids": ["SELF_USER"]}),
    ("/team/new", {"team_id": "my-own-team", "max_budget": 1e6}),
])
def test_users_key_cannot_change_keys_users_or_teams(client, sim, user_key, path, body):
    headers, raw = user_key
    uid = user_id(client, headers)
    filled = {name: (raw if value == "SELF" else uid if value == "SELF_USER" else value)
              for name, value in body.items()}
    filled = {name: ([raw if v == "SELF" else uid if v == "SELF_USER" else v for v in value]
                     if isinstance(value, list) else value) for name, value in filled.items()}
    refused = as_key(sim, raw, path, filled)
    assert refused.status_code == 401, refused.text
    assert ADMIN_ONLY in refused.json()["error"]["message"]
    row = sim_key(sim, raw)
    assert row is not None and row["max_budget"] is None and row["models"] == [MODEL]
    assert sim.state.users[uid]["max_budget"] == 100.0
    assert "my-own-team" not in sim.state.teams


def test_team_owner_is_a_plain_member_in_litellm(app, client, login, sim, celery_worker):
    admin, owner = login("admin"), login("user")
    owner_id = user_id(client, owner)
    response = client.post("/api/v1/teams", json={"name": "research", "ownerId": owner_id},
                           headers=admin)
    assert response.status_code == 201, response.get_json()
    team = response.get_json()
    job = wait_for_job(client, admin, team["jobId"])
    assert job["status"] == "succeeded", job  # "admin" is a premium feature: 400 in LiteLLM
    members = sim.state.teams[team["id"]]["members_with_roles"]
    assert {m["user_id"]: m["role"] for m in members
            if m["user_id"] != "default_user_id"} == {owner_id: "user"}


def test_reconciliation_moves_litellm_users_to_the_viewer_role(client, login, sim, user_key):
    headers, raw = user_key
    uid = user_id(client, headers)
    with sim.state.lock:  # as provisioned before the fix
        sim.state.users[uid]["user_role"] = "internal_user"
    assert as_key(sim, raw, "/key/generate", {}).status_code == 200  # the hole, as it was

    result = reconcile(client, login)
    assert sim.state.users[uid]["user_role"] == "internal_user_viewer"
    assert any(r["action"] == "user_repushed" and "user_role" in r["fields"]
               and r["resourceId"] == uid for r in result["repairs"]), result
    assert as_key(sim, raw, "/key/generate", {}).status_code == 401


@pytest.mark.parametrize("delete", [False, True])
def test_reconciliation_finds_keys_litemaas_did_not_make(app, client, login, sim, user_key,
                                                         monkeypatch, delete):
    monkeypatch.setitem(app.config, "RECONCILE_DELETE_FOREIGN_KEYS", delete)
    headers, raw = user_key
    uid = user_id(client, headers)
    with sim.state.lock:
        sim.state.users[uid]["user_role"] = "internal_user"
    minted = as_key(sim, raw, "/key/generate", {"key_alias": "mine-now"})
    assert minted.status_code == 200
    foreign = minted.json()["key"]
    assert chat(sim, foreign, OTHER).status_code == 200  # every model, no subscription

    result = reconcile(client, login)
    [finding] = [f for f in result["findings"] if f["kind"] == "foreign_key"]
    assert finding["userId"] == uid and finding["keyAlias"] == "mine-now"
    assert finding["deleted"] is delete
    assert raw not in str(result) and foreign not in str(result)
    assert sim_key(sim, raw) is not None  # LiteMaaS's own key is left alone
    if delete:
        assert sim_key(sim, foreign) is None
        assert chat(sim, foreign, OTHER).status_code == 401
    else:
        assert sim_key(sim, foreign) is not None


def test_simulator_refuses_team_admins_like_open_source_litellm(sim):
    master = {"Authorization": f"Bearer {sim.master_key}"}
    requests.post(f"{sim.url}/team/new", json={"team_id": "t1"}, headers=master, timeout=5)
    refused = requests.post(f"{sim.url}/team/member_add", headers=master, timeout=5,
                            json={"team_id": "t1", "member": {"user_id": "u1", "role": "admin"}})
    assert refused.status_code == 400
    assert refused.json()["detail"]["error"].startswith(
        "Assigning team admins is a premium feature")
    added = requests.post(f"{sim.url}/team/member_add", headers=master, timeout=5,
                          json={"team_id": "t1", "member": {"user_id": "u1", "role": "user"}})
    assert added.status_code == 200
