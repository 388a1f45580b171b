"""The catalogue API: public list and detail (filters, sort, paging, odd ids), admin edits,
sync statistics, the integrity report and sync health."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import select, text

from app.extensions import db
from app.litellm.errors import LiteLLMInvalidResponse
from app.models import ApiKey, ApiKeyModel, AuditLog, Subscription, User

MODELS = "/api/v1/models"


@pytest.fixture
def synced(app, sim):
    """The simulator's 12 captured models, synced by the service itself (no worker needed)."""
    from app.services.model_sync import ModelSyncService

    def _sync(extra: list | None = None):
        if extra:
            with sim.state.lock:
                payload = {"data": [*sim.state.catalog.visible(), *extra]}
                sim.state.catalog._model_info_bytes = json.dumps(payload).encode()
        with app.app_context():
            outcome = ModelSyncService().sync("manual")
            db.session.remove()
        return outcome

    return _sync


def ids(response) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [item["id"] for item in response.get_json()["data"]]


def set_unavailable(app, model_id: str) -> None:
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text("UPDATE models SET availability = 'unavailable', "
                          "unavailable_since = now() WHERE id = :id"), {"id": model_id})


def test_catalogue_is_public_and_lists_available_models_by_default(client, app, synced):
    synced()
    set_unavailable(app, "command-r-plus")
    body = client.get(MODELS).get_json()
    assert body["pagination"] == {"page": 1, "limit": 20, "total": 11, "totalPages": 1}
    assert "command-r-plus" not in {m["id"] for m in body["data"]}
    assert ids(client.get(f"{MODELS}?availability=unavailable")) == ["command-r-plus"]
    assert ids(client.get(f"{MODELS}?isActive=false")) == ["command-r-plus"]
    assert len(ids(client.get(f"{MODELS}?availability=all"))) == 12


def test_list_item_keeps_the_litemaas_model_shape(client, synced):
    synced()
    item = next(m for m in client.get(f"{MODELS}?search=gpt-4o-mini").get_json()["data"])
    assert item["id"] == item["name"] == "gpt-4o-mini"
    assert item["provider"] == "openai" and item["description"] == ""
    assert item["capabilities"] == item["features"]
    assert "vision" in item["features"] and item["supportsVision"] is True
    assert item["supportsChat"] is True and item["supportsEmbeddings"] is False
    assert (item["contextLength"], item["maxOutputTokens"], item["maxTokens"]) == (
        128000, 16384, 16384)
    assert item["pricing"] == {"input": 1.5e-07, "output": 6e-07, "unit": "per_token"}
    assert (item["inputCostPerToken"], item["outputCostPerToken"]) == (1.5e-07, 6e-07)
    assert item["restricted"] is item["restrictedAccess"] is False
    assert item["availability"] == "available" and item["isActive"] is True
    assert item["backendModelName"] == "gpt-4o-mini" and len(item["litellmModelId"]) == 64
    for stamp in ("createdAt", "updatedAt", "firstSeenAt", "lastSeenAt"):
        assert item[stamp].endswith("+00:00")
    unpriced = client.get(f"{MODELS}/claude-3-haiku-20240307").get_json()
    assert unpriced["pricing"] is None and unpriced["contextLength"] is None


def test_search_provider_capability_and_restricted_filters(client, login, synced):
    synced()
    assert ids(client.get(f"{MODELS}?search=CLAUDE&sort=name")) == [
        "anthropic.claude-3-sonnet-20240229-v1:0", "claude-3-5-sonnet-20240620",
        "claude-3-haiku-20240307"]
    assert ids(client.get(f"{MODELS}?search=self-hosted&sort=name")) == [
        "Llama-3.1-8B-Instruct", "granite-3-8b-instruct"]
    assert ids(client.get(f"{MODELS}?search=%25")) == []  # a literal %, not a wildcard
    # "_" is literal too: only the hosted_vllm model's provider holds one
    assert ids(client.get(f"{MODELS}?search=_")) == ["Llama-3.1-8B-Instruct"]
    assert ids(client.get(f"{MODELS}?provider=OpenAI&sort=name")) == [
        "gpt-4o", "gpt-4o-mini", "granite-3-8b-instruct", "text-embedding-3-small"]
    vision = ids(client.get(f"{MODELS}?capability=vision&sort=name"))
    assert vision == ["gpt-4o", "gpt-4o-mini", "mistral-large-latest"]
    assert ids(client.get(f"{MODELS}?feature=vision,parallel_function_calling&sort=name")) == [
        "gpt-4o", "gpt-4o-mini"]
    assert ids(client.get(f"{MODELS}?capability=embeddings")) == ["text-embedding-3-small"]
    client.patch(f"{MODELS}/gpt-4o", json={"restricted": True}, headers=login("admin"))
    assert ids(client.get(f"{MODELS}?restricted=true")) == ["gpt-4o"]
    assert "gpt-4o" not in ids(client.get(f"{MODELS}?restricted=false"))


def test_sort_and_pagination_happen_in_sql(client, synced):
    synced()
    by_context = client.get(f"{MODELS}?sort=-contextLength&limit=100").get_json()["data"]
    lengths = [m["contextLength"] for m in by_context]
    known = [n for n in lengths if n is not None]
    assert known == sorted(known, reverse=True) and lengths[0] == 262144
    assert lengths[len(known):] == [None] * (len(lengths) - len(known))  # nulls last
    default = ids(client.get(f"{MODELS}?limit=100"))
    providers = [client.get(f"{MODELS}/{m}").get_json()["provider"] for m in default]
    assert providers == sorted(providers)
    page = client.get(f"{MODELS}?limit=5&page=3&sort=name").get_json()
    assert page["pagination"] == {"page": 3, "limit": 5, "total": 12, "totalPages": 3}
    assert [m["id"] for m in page["data"]] == sorted(default)[10:]
    assert client.get(f"{MODELS}?page=9").get_json()["data"] == []


@pytest.mark.parametrize("query", ["limit=1000&availability=all", "limit=5&page=2&sort=-inputCost",
                                   "search=gpt&restricted=true", "page=9"])
def test_the_list_answer_is_what_the_page_schema_dumps(app, client, login, synced, query):
    """The list is encoded without ModelPageSchema's dump (app.schemas.models.model_page_wire):
    for every caller, the JSON is the one the dump gives, field for field."""
    from app.schemas.models import ModelListQuerySchema, ModelPageSchema
    from app.services import models as catalogue
    from app.services.listing import paginate

    synced()
    set_unavailable(app, "command-r-plus")
    admin = login("admin")
    client.patch(f"{MODELS}/gpt-4o", json={"restricted": True, "description": "Ünïcode ✓"},
                 headers=admin)
    filters = ModelListQuerySchema().load(dict(part.split("=") for part in query.split("&")))
    for headers, with_api_base in (({}, False), (admin, True)):
        answer = client.get(f"{MODELS}?{query}", headers=headers)
        with app.app_context():
            found = paginate(catalogue.list_query(filters), filters["page"], filters["limit"])
            last_success = catalogue.last_success_at()
            found["data"] = [catalogue.view(model, last_success, with_api_base)
                             for model in found["data"]]
            expected = json.loads(app.json.dumps(ModelPageSchema().dump(found)))
            db.session.remove()
        assert answer.status_code == 200
        assert answer.get_json() == expected
        assert answer.get_json()["pagination"]["total"] == expected["pagination"]["total"] > 0


@pytest.mark.parametrize("query", ["limit=1001", "limit=0", "page=0", "sort=price",
                                   "availability=gone", "restricted=maybe",
                                   "search=" + "x" * 201])
def test_bad_list_queries_answer_400(client, query):
    response = client.get(f"{MODELS}?{query}")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "VALIDATION_ERROR"


def test_ids_with_slashes_dots_and_colons_and_reserved_words_route(client, login, synced):
    synced(extra=[{"model_name": "meta-llama/Llama-3.1-8B", "litellm_params": {
        "model": "hosted_vllm/meta-llama/Llama-3.1-8B"}}, {"model_name": "sync"}])
    bedrock = client.get(f"{MODELS}/anthropic.claude-3-sonnet-20240229-v1:0")
    assert bedrock.status_code == 200 and bedrock.get_json()["provider"] == "bedrock"
    assert bedrock.get_json()["metadata"]["litellmModelId"] == bedrock.get_json()[
        "litellmModelId"]
    slashed = client.get(f"{MODELS}/meta-llama/Llama-3.1-8B")
    assert slashed.status_code == 200 and slashed.get_json()["id"] == "meta-llama/Llama-3.1-8B"
    assert client.get(f"{MODELS}/meta-llama%2FLlama-3.1-8B").get_json()["id"] == (
        "meta-llama/Llama-3.1-8B")
    assert client.get(f"{MODELS}/sync").get_json()["id"] == "sync"  # GET: not the sync route
    admin = login("admin")
    assert "history" in client.get(f"{MODELS}/sync/stats", headers=admin).get_json()
    assert "status" in client.get(f"{MODELS}/health").get_json()
    assert "staleSync" in client.get(f"{MODELS}/validate", headers=admin).get_json()
    patched = client.patch(f"{MODELS}/meta-llama/Llama-3.1-8B", json={"description": "x"},
                           headers=admin)
    assert patched.status_code == 200 and patched.get_json()["description"] == "x"
    missing = client.get(f"{MODELS}/no/such:model")
    assert missing.status_code == 404
    assert missing.get_json()["error"] == {
        "code": "NOT_FOUND", "message": "model not found",
        "details": {"resource": "model", "id": "no/such:model"}}


def test_admin_edits_description_and_restricted_flag(client, login, app, synced):
    synced()
    admin = login("admin")
    response = client.patch(f"{MODELS}/gpt-4o",
                            json={"description": "Flagship", "restrictedAccess": True},
                            headers=admin)
    assert response.status_code == 200
    body = response.get_json()
    assert (body["description"], body["restricted"], body["restrictedAccess"]) == (
        "Flagship", True, True)
    assert client.get(f"{MODELS}/gpt-4o").get_json()["description"] == "Flagship"
    cleared = client.patch(f"{MODELS}/gpt-4o", json={"description": None, "restricted": False},
                           headers=admin).get_json()
    assert (cleared["description"], cleared["restricted"]) == ("", False)
    with app.app_context():
        audits = db.session.scalars(select(AuditLog).where(
            AuditLog.action == "MODEL_UPDATED").order_by(AuditLog.created_at)).all()
        assert [a.details["changes"]["restricted"]["to"] for a in audits] == [True, False]
        db.session.remove()


@pytest.mark.parametrize(("who", "body", "status"), [
    (None, {"description": "x"}, 401),
    ("user", {"description": "x"}, 403),
    ("adminro", {"description": "x"}, 403),
    ("admin", {}, 400),
    ("admin", {"name": "renamed"}, 400),
    ("admin", {"restricted": "maybe"}, 400),
    ("admin", {"restricted": True, "restrictedAccess": False}, 400),
    ("admin", {"description": "x" * 10_001}, 400),
])
def test_patch_is_admin_only_and_validated(client, login, synced, who, body, status):
    synced()
    headers = login(who) if who else {}
    response = client.patch(f"{MODELS}/gpt-4o", json=body, headers=headers)
    assert response.status_code == status
    assert client.get(f"{MODELS}/gpt-4o").get_json()["description"] == ""


def test_patch_of_unknown_model_is_404(client, login):
    response = client.patch(f"{MODELS}/nope", json={"restricted": True}, headers=login("admin"))
    assert response.status_code == 404


def test_sync_stats_report_totals_runs_and_history(client, login, app, sim, synced):
    user = login("user")
    empty = client.get(f"{MODELS}/sync/stats", headers=user).get_json()
    assert (empty["totalModels"], empty["lastRun"], empty["lastSuccess"], empty["history"]) == (
        0, None, None, [])
    synced()
    set_unavailable(app, "gpt-4o")
    sim.configure(garbage="invalid_json")
    with pytest.raises(LiteLLMInvalidResponse):
        synced()
    stats = client.get(f"{MODELS}/sync/stats?history=5", headers=user).get_json()
    assert (stats["totalModels"], stats["availableModels"], stats["unavailableModels"]) == (
        12, 11, 1)
    assert stats["models"] == {"models": 12, "available": 11, "unavailable": 1,
                               "restricted": 0}
    assert stats["runs"] == {"total": 2, "succeeded": 1, "failed": 1, "noop": 0}
    assert stats["lastRun"]["success"] is False
    assert stats["lastRun"]["error"].startswith("LiteLLMInvalidResponse: GET /model/info")
    assert stats["lastSuccess"]["added"] == 12
    assert stats["lastSyncAt"] == stats["lastSuccess"]["finishedAt"]
    assert [r["success"] for r in stats["history"]] == [False, True]
    assert len(client.get(f"{MODELS}/sync/stats?history=1", headers=user).get_json()[
        "history"]) == 1
    assert client.get(f"{MODELS}/sync/stats").status_code == 401
    assert client.get(f"{MODELS}/sync/stats?history=101", headers=user).status_code == 400


def _subscription_and_keys(app, model_id: str) -> tuple[str, str]:
    with app.app_context():
        user = User(username=f"v-{uuid.uuid4().hex[:8]}", oauth_provider="mock",
                    oauth_subject=uuid.uuid4().hex, roles=["user"])
        db.session.add(user)
        db.session.flush()
        db.session.add(Subscription(user_id=user.id, model_id=model_id, status="active"))
        live = ApiKey(user_id=user.id, name="live", key_prefix="sk-live",
                      key_hash=uuid.uuid4().hex, provisioning_state="active")
        revoked = ApiKey(user_id=user.id, name="old", key_prefix="sk-old",
                         key_hash=uuid.uuid4().hex, provisioning_state="revoked")
        db.session.add_all([live, revoked])
        db.session.flush()
        db.session.add_all([ApiKeyModel(api_key_id=live.id, model_id=model_id),
                            ApiKeyModel(api_key_id=revoked.id, model_id=model_id)])
        db.session.commit()
        found = (str(live.id), str(revoked.id))
        db.session.remove()
    return found


def test_validate_reports_keys_and_subscriptions_on_unavailable_models(client, login, app,
                                                                       synced):
    synced()
    live, revoked = _subscription_and_keys(app, "gpt-4o")
    admin = login("admin")
    clean = client.get(f"{MODELS}/validate", headers=admin).get_json()
    assert clean["unavailableModelsInUse"] == [] and clean["orphanedSubscriptions"] == 0
    set_unavailable(app, "gpt-4o")
    report = client.get(f"{MODELS}/validate", headers=admin).get_json()
    assert report["status"] == "issues"
    [in_use] = report["unavailableModelsInUse"]
    assert in_use["modelId"] == "gpt-4o" and in_use["unavailableSince"]
    assert in_use["subscriptions"] == {"active": 1, "total": 1}
    assert in_use["keyIds"] == [live]  # the revoked key is not a problem
    assert report["affectedKeys"] == {"count": 1, "ids": [live]}
    assert revoked not in report["affectedKeys"]["ids"]
    assert report["orphanedSubscriptions"] == 1
    assert report["modelsWithoutPricing"]["count"] == 6
    assert "claude-3-haiku-20240307" in report["modelsWithoutPricing"]["ids"]
    assert report["validModels"] == 11 - 6
    assert report["staleSync"]["stale"] is False
    assert any("API key" in issue for issue in report["issues"])
    assert client.get(f"{MODELS}/validate", headers=login("adminro")).status_code == 200
    assert client.get(f"{MODELS}/validate", headers=login("user")).status_code == 403


def test_health_follows_sync_age_outcome_and_litellm(client, app, synced, monkeypatch):
    before = client.get(f"{MODELS}/health").get_json()
    assert before["status"] == "unhealthy" and before["lastSuccessAt"] is None
    synced()
    healthy = client.get(f"{MODELS}/health").get_json()
    assert healthy["status"] == "healthy" and healthy["issues"] == []
    assert healthy["litellmConnected"] is True and healthy["modelsCount"] == 12
    assert healthy["lastRunSuccess"] is True and healthy["lastSuccessAgeSeconds"] <= 5
    monkeypatch.setitem(app.config, "MODEL_SYNC_INTERVAL", 60)
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text("UPDATE sync_runs SET finished_at = now() - interval '150 seconds'"))
    stale = client.get(f"{MODELS}/health").get_json()
    assert stale["status"] == "degraded" and "old" in stale["issues"][0]
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text("UPDATE sync_runs SET finished_at = now() - interval '1 hour'"))
    assert client.get(f"{MODELS}/health").get_json()["status"] == "unhealthy"
    monkeypatch.setitem(app.config, "MODEL_SYNC_INTERVAL", 0)  # no schedule: age is not judged
    assert client.get(f"{MODELS}/health").get_json()["status"] == "healthy"


def test_openapi_documents_the_model_routes(client):
    paths = client.get("/docs/json").get_json()["paths"]
    for path in ("/api/v1/models", "/api/v1/models/sync", "/api/v1/models/sync/stats",
                 "/api/v1/models/validate", "/api/v1/models/health",
                 "/api/v1/models/{model_id}"):
        assert path in paths, path
    assert paths["/api/v1/models"]["get"]["security"] == []
    assert paths["/api/v1/models/sync"]["post"]["x-required-permission"] == "models:sync"
