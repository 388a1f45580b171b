"""Model management against the REAL LiteLLM (STORE_MODEL_IN_DB: ``store_model_in_db: true``
in ../shared/litellm-real/litellm.yaml): an admin creates a model in LiteLLM from LiteMaaS,
tests the connection, a user chats with it through a LiteMaaS key, the admin edits it,
restricts it (the cascade takes it off the key), and deletes it.

Skipped only when ``LITELLM_REAL=0``.
"""

from __future__ import annotations

import json
import os
import uuid

import pytest
import requests

from app.extensions import db
from app.models import Model
from tests.litellm_real.conftest import (
    CHAT,
    MASTER_KEY,
    REAL_URL,
    chat,
    create_key,
    eventually,
    key_row,
    subscribe,
    wait_job,
)

pytestmark = pytest.mark.skipif(os.environ.get("LITELLM_REAL") == "0",
                                reason="LITELLM_REAL=0: no real LiteLLM wanted")

PROVIDER_KEY = "fake-upstream-provider-key-0123456789"


def _fake_base() -> str:
    return f"http://127.0.0.1:{os.environ.get('FAKE_PORT', '4012')}/v1"


def litellm_models(name: str) -> list[dict]:
    answer = requests.get(f"{REAL_URL}/model/info", timeout=30,
                          headers={"Authorization": f"Bearer {MASTER_KEY}"})
    assert answer.status_code == 200, answer.text
    return [m for m in answer.json()["data"] if m["model_name"] == name]


def test_admin_model_lifecycle_in_the_real_litellm(app, client, admin, person, master):
    name = f"lm-admin-{uuid.uuid4().hex[:8]}"
    form = {"model_name": name, "backend_model_name": "fake-chat", "description": "made here",
            "api_base": _fake_base(), "api_key": PROVIDER_KEY,
            "input_cost_per_token": 0.000001, "output_cost_per_token": 0.000002,
            "tpm": 1000, "rpm": 100, "max_tokens": 1024, "supports_vision": False,
            "supports_function_calling": True, "supports_parallel_function_calling": False,
            "supports_tool_choice": True, "restrictedAccess": False}

    # the connection test is a real call from LiteLLM to the deployment
    tested = client.post("/api/v1/admin/models/test", headers=admin, json={
        "api_base": _fake_base(), "backend_model_name": "fake-chat", "api_key": PROVIDER_KEY})
    assert tested.status_code == 200 and tested.get_json()["result"] == "model_found", \
        tested.get_json()
    refused = client.post("/api/v1/admin/models/test", headers=admin, json={
        "api_base": f"{REAL_URL}/v1", "backend_model_name": CHAT, "api_key": "sk-not-a-key"})
    assert refused.get_json()["result"] == "auth_error", refused.get_json()
    unreachable = client.post("/api/v1/admin/models/test", headers=admin, json={
        "api_base": "http://127.0.0.1:9/v1", "backend_model_name": "x", "api_key": "k"})
    assert unreachable.get_json()["result"] == "connection_error", unreachable.get_json()

    # create: LiteLLM stores it (db_model), lists it without the key; the catalogue has it
    created = client.post("/api/v1/admin/models", json=form, headers=admin)
    assert created.status_code == 201, created.get_json()
    litellm_id = created.get_json()["model"]["litellm_model_id"]
    (listed,) = litellm_models(name)
    assert listed["model_info"]["id"] == litellm_id and listed["model_info"]["db_model"]
    assert PROVIDER_KEY not in json.dumps(listed)
    shown = client.get(f"/api/v1/models/{name}", headers=admin).get_json()
    assert (shown["apiBase"], shown["rpm"], shown["description"]) == (
        _fake_base(), 100, "made here")
    with app.app_context():
        stored = db.session.get(Model, name).encrypted_api_key
        assert stored and PROVIDER_KEY.encode() not in stored
        db.session.remove()
    # the stored key serves a later test
    again = client.post("/api/v1/admin/models/test", headers=admin, json={
        "api_base": _fake_base(), "backend_model_name": "fake-chat", "model_id": name})
    assert again.get_json()["result"] == "model_found", again.get_json()

    # a user subscribes and chats with it through LiteLLM, with a LiteMaaS key
    headers, _uid = person()
    subscribe(client, headers, name)
    subscribe(client, headers, CHAT)
    raw = create_key(client, headers, [name, CHAT])["key"]
    answer = chat(raw, name)
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"] == "pong from fake upstream"

    # edit in LiteLLM
    edited = client.put(f"/api/v1/admin/models/{name}", headers=admin,
                        json={"rpm": 42, "description": "edited"})
    assert edited.status_code == 200, edited.get_json()
    (listed,) = litellm_models(name)
    assert listed["litellm_params"]["rpm"] == 42
    assert client.get(f"/api/v1/models/{name}").get_json()["description"] == "edited"

    # restrict: the subscription waits for approval again and the key loses the model
    restricted = client.put(f"/api/v1/admin/models/{name}", headers=admin,
                            json={"restrictedAccess": True})
    assert restricted.status_code == 200, restricted.get_json()
    assert wait_job(client, admin, restricted.get_json()["jobId"])["status"] == "succeeded"
    mine = client.get("/api/v1/subscriptions?limit=100", headers=headers).get_json()["data"]
    assert {s["modelId"]: s["status"] for s in mine}[name] == "pending"
    eventually(lambda: key_row(master, raw)["models"] == [CHAT], "model taken off the key")
    assert chat(raw, name).status_code in (401, 403)

    # delete: gone from LiteLLM and from the catalogue
    deleted = client.delete(f"/api/v1/admin/models/{name}", headers=admin)
    assert deleted.status_code == 200, deleted.get_json()
    assert litellm_models(name) == []
    assert client.get(f"/api/v1/models/{name}").get_json()["availability"] == "unavailable"
    names = [m["id"] for m in client.get("/api/v1/models?limit=1000").get_json()["data"]]
    assert name not in names
    # and the next sync agrees
    synced = client.post("/api/v1/models/sync", headers=admin)
    assert wait_job(client, admin, synced.get_json()["jobId"])["status"] == "succeeded"
    assert client.get(f"/api/v1/models/{name}").get_json()["availability"] == "unavailable"


def test_config_file_models_are_refused_by_the_real_litellm_too(client, admin):
    changed = client.put(f"/api/v1/admin/models/{CHAT}", headers=admin, json={"rpm": 5})
    assert changed.status_code == 409, changed.get_json()
