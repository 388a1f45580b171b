"""Model management from LiteMaaS (upstream's admin Models page): create, edit, test and delete
models in LiteLLM (the simulator, which answers as LiteLLM 1.108.7 with STORE_MODEL_IN_DB),
the provider key encrypted and never returned, the catalogue changed at once, the restriction
cascade, and the "Refresh models" answer with counts."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import ApiKeyModel, AuditLog, Model
from tests.integration.provisioning_support import (
    create_key,
    seed_models,
    sim_calls,
    subscribe,
)
from tests.integration.test_subscriptions import make_admin
from tests.support.jobs import settle_jobs, wait_for_job

ADMIN_MODELS = "/api/v1/admin/models"
PROVIDER_KEY = "prov-Secret-0123456789abcdef"  # not an sk- value: must be hidden all the same


def new_model(sim, name: str = "team-llama", **overrides) -> dict:
    """What the web UI's create dialog sends (its own field names)."""
    return {"model_name": name, "backend_model_name": "gpt-4o", "description": "Our llama",
            "api_base": f"{sim.url}/v1", "api_key": PROVIDER_KEY,
            "input_cost_per_token": 0.000001, "output_cost_per_token": 0.000002,
            "tpm": 1000, "rpm": 100, "max_tokens": 4096, "supports_vision": False,
            "supports_function_calling": True, "supports_parallel_function_calling": False,
            "supports_tool_choice": True, "supports_embeddings": False,
            "supports_tokenize": False, "supports_convert": False, "restrictedAccess": False,
            **overrides}


def catalogue_ids(client, headers=None) -> list[str]:
    body = client.get("/api/v1/models?limit=1000", headers=headers or {}).get_json()
    return [m["id"] for m in body["data"]]


def test_admin_creates_a_model_in_litellm_and_the_catalogue_shows_it_at_once(
        app, client, login, sim, celery_worker, monkeypatch):
    monkeypatch.setitem(app.config, "MODEL_SYNC_WAIT_SECONDS", 20)
    admin = login("admin")
    before = client.get("/api/v1/models?limit=1000")  # cached answer, now stale
    assert "team-llama" not in [m["id"] for m in before.get_json()["data"]]

    created = client.post(ADMIN_MODELS, json=new_model(sim), headers=admin)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["success"] is True and body["model"]["id"] == "team-llama"
    assert PROVIDER_KEY not in created.get_data(as_text=True)

    # LiteLLM got the model with the provider key and our shape
    (call,) = sim_calls(sim, "/model/new")
    params = call["json"]["litellm_params"]
    assert params["model"] == "openai/gpt-4o" and params["api_key"] == PROVIDER_KEY
    assert params["api_base"] == f"{sim.url}/v1" and call["json"]["model_info"]["db_model"]

    # the catalogue shows it at once (no sync ran), apiBase only to admins
    assert "team-llama" in catalogue_ids(client)
    item = client.get("/api/v1/models/team-llama", headers=admin).get_json()
    assert item["description"] == "Our llama" and item["backendModelName"] == "gpt-4o"
    assert item["apiBase"] == f"{sim.url}/v1" and (item["tpm"], item["rpm"]) == (1000, 100)
    assert item["litellmModelId"] == body["model"]["litellm_model_id"]
    assert client.get("/api/v1/models/team-llama").get_json()["apiBase"] is None
    assert login("adminro") and client.get(
        "/api/v1/models/team-llama", headers=login("adminro")).get_json()["apiBase"]

    # the key is stored encrypted, and nowhere in clear
    with app.app_context():
        model = db.session.get(Model, "team-llama")
        assert model.encrypted_api_key and PROVIDER_KEY.encode() not in model.encrypted_api_key
        assert PROVIDER_KEY not in json.dumps(model.litellm_info)
        audits = db.session.scalars(select(AuditLog).where(
            AuditLog.resource_id == "team-llama")).all()
        assert [a.action for a in audits] == ["MODEL_CREATED"]
        assert PROVIDER_KEY not in json.dumps([a.details for a in audits])
        db.session.remove()

    # a later sync agrees with what we wrote (no second row, nothing lost)
    synced = client.post("/api/v1/models/sync", json={}, headers=admin)
    assert synced.status_code == 200, synced.get_json()
    assert client.get("/api/v1/models/team-llama").get_json()["description"] == "Our llama"


def test_a_model_name_already_in_the_catalogue_is_refused(app, client, login, sim):
    seed_models(app, sim)
    refused = client.post(ADMIN_MODELS, json=new_model(sim, name="gpt-4o"),
                          headers=login("admin"))
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "MODEL_EXISTS"
    assert not sim_calls(sim, "/model/new")


def test_litellm_without_store_model_in_db_is_a_clear_502(app, client, login, sim):
    sim.state.configure(store_model_in_db=False)
    refused = client.post(ADMIN_MODELS, json=new_model(sim), headers=login("admin"))
    assert refused.status_code == 502
    error = refused.get_json()["error"]
    assert error["code"] == "LITELLM_STORE_MODEL_IN_DB_REQUIRED"
    assert "STORE_MODEL_IN_DB" in error["message"] and PROVIDER_KEY not in json.dumps(error)
    assert "team-llama" not in catalogue_ids(client)


def test_litellm_down_answers_503_and_writes_nothing(app, client, login, sim):
    sim.state.configure(down=True)
    refused = client.post(ADMIN_MODELS, json=new_model(sim), headers=login("admin"))
    assert refused.status_code == 503
    sim.state.configure(down=False)
    assert "team-llama" not in catalogue_ids(client)


def test_admin_edits_a_model_in_litellm(app, client, login, sim):
    admin = login("admin")
    assert client.post(ADMIN_MODELS, json=new_model(sim), headers=admin).status_code == 201
    # the UI's edit dialog sends the whole form back, without the key it never shows
    form = new_model(sim, rpm=7, input_cost_per_token=0.000005, description="Better llama")
    del form["api_key"]
    changed = client.put(f"{ADMIN_MODELS}/team-llama", json=form, headers=admin)
    assert changed.status_code == 200, changed.get_json()
    (call,) = sim_calls(sim, f"/model/{changed.get_json()['model']['litellm_model_id']}/update")
    assert call["method"] == "PATCH" and call["json"]["litellm_params"]["rpm"] == 7
    assert "api_key" not in call["json"]["litellm_params"]
    # only what changed goes to LiteLLM (the form sends every field)
    assert set(call["json"]["litellm_params"]) == {"rpm", "input_cost_per_token"}
    assert "model_info" not in call["json"]
    item = client.get("/api/v1/models/team-llama").get_json()
    assert (item["rpm"], item["inputCostPerToken"], item["description"]) == (
        7, 0.000005, "Better llama")
    renamed = client.put(f"{ADMIN_MODELS}/team-llama", json={"model_name": "other"},
                         headers=admin)
    assert renamed.status_code == 400


def test_models_of_litellms_config_file_cannot_be_changed_or_deleted_here(
        app, client, login, sim):
    seed_models(app, sim)
    admin = login("admin")
    changed = client.put(f"{ADMIN_MODELS}/gpt-4o", json={"rpm": 5}, headers=admin)
    assert changed.status_code == 409
    assert changed.get_json()["error"]["code"] == "MODEL_NOT_MANAGED"
    assert client.delete(f"{ADMIN_MODELS}/gpt-4o", headers=admin).status_code == 409
    # LiteMaaS' own fields still change on any model; what the UI's form sends for
    # LiteLLM's part is reported as ignored
    own = client.put(f"{ADMIN_MODELS}/gpt-4o", headers=admin, json={
        "description": "Flagship", "restrictedAccess": True, "rpm": 100, "tpm": 1000,
        "max_tokens": 4000, "supports_vision": True, "api_key": "never-sent"})
    assert own.status_code == 200, own.get_json()
    assert own.get_json()["ignoredFields"] == [
        "api_key", "max_tokens", "rpm", "supports_vision", "tpm"]  # seeded without flags
    assert "config file" in own.get_json()["message"]
    shown = client.get("/api/v1/models/gpt-4o").get_json()
    assert (shown["description"], shown["restrictedAccess"]) == ("Flagship", True)
    assert not sim_calls(sim, "/model/gpt-4o/update") and not [
        c for c in sim.state.calls if c["path"].endswith("/update")]
    assert client.put(f"{ADMIN_MODELS}/nope", json={"rpm": 5}, headers=admin).status_code == 404


def test_admin_deletes_a_model_keys_lose_it_and_the_catalogue_drops_it(
        app, client, login, sim, celery_worker):
    admin, user = login("admin"), login("user")
    assert client.post(ADMIN_MODELS, json=new_model(sim), headers=admin).status_code == 201
    seed_models(app, sim)
    subscribe(client, user, "team-llama")
    subscribe(client, user, "gpt-4o")
    key = create_key(client, user, ["team-llama", "gpt-4o"])

    deleted = client.delete(f"{ADMIN_MODELS}/team-llama", headers=admin)
    assert deleted.status_code == 200, deleted.get_json()
    assert deleted.get_json()["model"]["availability"] == "unavailable"
    assert wait_for_job(client, admin, deleted.get_json()["jobId"])["status"] == "succeeded"
    assert "team-llama" not in catalogue_ids(client)
    assert not [m for m in sim.state.catalog.visible() if m["model_name"] == "team-llama"]
    with app.app_context():
        left = db.session.scalars(select(ApiKeyModel.model_id)
                                  .where(ApiKeyModel.api_key_id == key["id"])).all()
        assert left == ["gpt-4o"]
        assert db.session.get(Model, "team-llama").encrypted_api_key is None
        db.session.remove()
    assert client.delete(f"{ADMIN_MODELS}/team-llama", headers=admin).status_code == 409
    # the name can be used again
    again = client.post(ADMIN_MODELS, json=new_model(sim), headers=admin)
    assert again.status_code == 201 and "team-llama" in catalogue_ids(client)


def test_connection_test_goes_through_litellm_for_real(app, client, login, sim):
    admin = login("admin")
    probe = {"api_base": f"{sim.url}/v1", "backend_model_name": "gpt-4o"}
    ok = client.post(f"{ADMIN_MODELS}/test", json={**probe, "api_key": sim.master_key},
                     headers=admin)
    assert ok.status_code == 200 and ok.get_json()["result"] == "model_found", ok.get_json()
    (call,) = sim_calls(sim, "/health/test_connection")
    assert call["json"]["litellm_params"]["model"] == "openai/gpt-4o"

    wrong_key = client.post(f"{ADMIN_MODELS}/test", json={**probe, "api_key": "sk-wrong-1"},
                            headers=admin).get_json()
    assert (wrong_key["success"], wrong_key["result"]) == (False, "auth_error")
    assert "sk-wrong-1" not in json.dumps(wrong_key)
    unknown = client.post(f"{ADMIN_MODELS}/test", headers=admin, json={
        **probe, "backend_model_name": "no-such-model", "api_key": sim.master_key}).get_json()
    assert unknown["result"] == "model_not_found"
    down = client.post(f"{ADMIN_MODELS}/test", headers=admin, json={
        **probe, "api_base": "http://127.0.0.1:9/v1", "api_key": "x"}).get_json()
    assert down["result"] == "connection_error"

    # an existing model's stored key is used when none is typed; none stored → asked for it
    assert client.post(ADMIN_MODELS, json=new_model(sim, api_key=sim.master_key),
                       headers=admin).status_code == 201
    stored = client.post(f"{ADMIN_MODELS}/test", json={**probe, "model_id": "team-llama"},
                         headers=admin).get_json()
    assert stored["result"] == "model_found"
    seed_models(app, sim)
    missing = client.post(f"{ADMIN_MODELS}/test", json={**probe, "model_id": "gpt-4o"},
                          headers=admin).get_json()
    assert missing["result"] == "missing_stored_key"


def test_restricting_a_model_sends_active_subscriptions_back_to_pending_and_out_of_keys(
        app, client, login, sim, celery_worker):
    admin, user = login("admin"), login("user")
    other_admin = make_admin(client, login, "admin2")
    assert client.post(ADMIN_MODELS, json=new_model(sim), headers=admin).status_code == 201
    sub = subscribe(client, user, "team-llama")
    own = subscribe(client, other_admin, "team-llama")
    key = create_key(client, user, ["team-llama"])

    restricted = client.put(f"{ADMIN_MODELS}/team-llama", json={"restrictedAccess": True},
                            headers=admin)
    assert restricted.status_code == 200 and restricted.get_json()["jobId"]
    assert wait_for_job(client, admin, restricted.get_json()["jobId"])["status"] == "succeeded"
    for headers, subscription in ((user, sub), (other_admin, own)):
        got = client.get(f"/api/v1/subscriptions/{subscription['id']}", headers=headers)
        assert got.get_json()["status"] == "pending"
    with app.app_context():
        assert not db.session.scalars(select(ApiKeyModel)
                                      .where(ApiKeyModel.api_key_id == key["id"])).all()
        db.session.remove()
    assert sim.state.keys  # the key lives on in LiteLLM, blocked or without the model
    assert client.get("/api/v1/models/team-llama").get_json()["restrictedAccess"] is True

    # opening it approves the pending requests, except the opening admin's own
    opened = client.put(f"{ADMIN_MODELS}/team-llama", json={"restrictedAccess": False},
                        headers=other_admin)
    assert opened.status_code == 200
    assert client.get(f"/api/v1/subscriptions/{sub['id']}", headers=user).get_json()[
        "status"] == "active"
    assert client.get(f"/api/v1/subscriptions/{own['id']}", headers=other_admin).get_json()[
        "status"] == "pending"
    settle_jobs(app)


def test_refresh_models_answers_the_counts_when_the_sync_finishes(
        app, client, login, sim, celery_worker, monkeypatch):
    monkeypatch.setitem(app.config, "MODEL_SYNC_WAIT_SECONDS", 20)
    admin = login("admin")
    answer = client.post("/api/v1/models/sync", json={}, headers=admin)
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["jobId"] and body["status"] == "succeeded" and body["success"] is True
    assert body["totalModels"] == 12 and body["newModels"] == 12
    assert body["updatedModels"] == 0 and body["errors"] == [] and body["syncedAt"]
    again = client.post("/api/v1/models/sync", json={}, headers=admin).get_json()
    assert (again["totalModels"], again["newModels"]) == (12, 0)
    # a client that does not want to wait says so (RFC 7240)
    quick = client.post("/api/v1/models/sync", json={},
                        headers={**admin, "Prefer": "respond-async"})
    assert quick.status_code == 202 and "totalModels" not in quick.get_json()
    settle_jobs(app)


def test_a_sync_that_fails_within_the_wait_is_a_502_with_its_job(
        app, client, login, sim, celery_worker, monkeypatch):
    monkeypatch.setitem(app.config, "MODEL_SYNC_WAIT_SECONDS", 20)
    sim.state.configure(garbage="wrong_shape")  # a permanent error: fails at once
    answer = client.post("/api/v1/models/sync", json={}, headers=login("admin"))
    assert answer.status_code == 502, answer.get_json()
    error = answer.get_json()["error"]
    assert error["code"] == "SYNC_FAILED" and error["details"]["jobId"]


def test_refresh_models_answers_202_with_the_job_when_the_wait_runs_out(
        app, client, login, sim, celery_worker, monkeypatch):
    monkeypatch.setitem(app.config, "MODEL_SYNC_WAIT_SECONDS", 0.5)
    sim.state.configure(latency_ms=2500)  # the fetch outlasts the wait
    answer = client.post("/api/v1/models/sync", json={}, headers=login("admin"))
    assert answer.status_code == 202
    assert answer.headers["Location"].endswith(answer.get_json()["jobId"])
    assert "totalModels" not in answer.get_json()
    settle_jobs(app)


BAD_CREATES = [
    ({"model_name": ""}, "model_name"),
    ({"model_name": "bad\x00name"}, "model_name"),
    ({"model_name": "bad\x07name"}, "model_name"),
    ({"api_base": "ftp://x"}, "api_base"),
    ({"api_base": "not a url"}, "api_base"),
    ({"input_cost_per_token": -1}, "input_cost_per_token"),
    ({"output_cost_per_token": "NaN"}, "output_cost_per_token"),
    ({"tpm": 0}, "tpm"),
    ({"rpm": 1.5}, "rpm"),
    ({"max_tokens": 2**40}, "max_tokens"),
    ({"supports_vision": "maybe"}, "supports_vision"),
    ({"restrictedAccess": "yes please"}, "restrictedAccess"),
    ({"unknown_field": 1}, "unknown_field"),
    ({"api_key": ""}, "api_key"),
]


@pytest.mark.parametrize(("change", "field"), BAD_CREATES)
def test_bad_model_input_is_400_and_reaches_no_litellm(app, client, login, sim, change, field):
    response = client.post(ADMIN_MODELS, json=new_model(sim, **change), headers=login("admin"))
    assert response.status_code == 400, response.get_json()
    text = json.dumps(response.get_json()["error"])
    assert field in text or "NUL" in text
    assert not sim_calls(sim, "/model/new")


@pytest.mark.parametrize("body", [
    {}, {"api_base": "http://x/v1"}, {"api_base": "http://x/v1", "backend_model_name": ""},
    {"api_base": "javascript:alert(1)", "backend_model_name": "m"}, [], "text",
])
def test_bad_test_input_is_400(client, login, body):
    response = client.post(f"{ADMIN_MODELS}/test", json=body, headers=login("admin"))
    assert response.status_code == 400


def test_bad_update_input_is_400(app, client, login, sim):
    admin = login("admin")
    assert client.put(f"{ADMIN_MODELS}/x", json={}, headers=admin).status_code == 400
    assert client.put(f"{ADMIN_MODELS}/x", json={"tpm": -5}, headers=admin).status_code == 400


def test_readonly_admin_and_users_change_nothing(app, client, login, sim):
    seed_models(app, sim)
    for headers in (login("adminro"), login("user")):
        assert client.post(ADMIN_MODELS, json=new_model(sim), headers=headers).status_code == 403
        assert client.put(f"{ADMIN_MODELS}/gpt-4o", json={"description": "x"},
                          headers=headers).status_code == 403
        assert client.delete(f"{ADMIN_MODELS}/gpt-4o", headers=headers).status_code == 403
        assert client.post(f"{ADMIN_MODELS}/test", headers=headers, json={
            "api_base": f"{sim.url}/v1", "backend_model_name": "gpt-4o",
            "api_key": "x"}).status_code == 403
    assert not sim_calls(sim, "/model/new") and not sim_calls(sim, "/health/test_connection")
