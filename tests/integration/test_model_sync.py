"""Model sync as a job with a real worker against the LiteLLM simulator: cold, no-op, mutated,
removed, restored, LiteLLM down or answering garbage, malformed entries, single flight."""

from __future__ import annotations

import json
import threading
import uuid

import pytest
from sqlalchemy import select, text

from app.extensions import db
from app.models import ApiKey, ApiKeyModel, Job, Model, Subscription, SyncRun, User
from tests.support.jobs import quick_retries, settle_jobs, wait_for_job

SYNC_URL = "/api/v1/models/sync"


@pytest.fixture(autouse=True)
def _jobs_settled(request):
    """Let every job a test started finish before the tables are truncated: a job still
    running holds its job row open and would block the truncation."""
    yield
    if "celery_worker" in request.fixturenames:
        settle_jobs(request.getfixturevalue("app"))


def run_sync(client, headers, **body) -> dict:
    response = client.post(SYNC_URL, json=body, headers=headers)
    assert response.status_code == 202, response.get_json()
    return wait_for_job(client, headers, response.get_json()["jobId"])


def row_versions(app) -> dict[str, str]:
    """Each model row's xmin: it changes exactly when the row is written."""
    with app.app_context():
        rows = db.session.execute(text("SELECT id, xmin::text FROM models")).all()
        db.session.remove()
    return dict(rows)


def models_by_id(app) -> dict[str, Model]:
    with app.app_context():
        found = {m.id: m for m in db.session.scalars(select(Model))}
        db.session.expunge_all()
        db.session.remove()
    return found


def sync_runs(app) -> list[SyncRun]:
    with app.app_context():
        runs = list(db.session.scalars(select(SyncRun).order_by(SyncRun.started_at)))
        db.session.expunge_all()
        db.session.remove()
    return runs


def serve_extra_entries(sim, entries: list) -> None:
    """Append raw entries (of any shape) to what the simulator's /model/info answers, by
    replacing its cached body (the simulator's own catalogue only holds well-formed models)."""
    with sim.state.lock:
        payload = {"data": [*sim.state.catalog.visible(), *entries]}
        sim.state.catalog._model_info_bytes = json.dumps(payload).encode()


def sim_names(sim) -> list[str]:
    with sim.state.lock:
        return [m["model_name"] for m in sim.state.catalog.visible()]


def test_cold_sync_imports_every_model(client, login, app, sim, celery_worker):
    admin = login("admin")
    job = run_sync(client, admin)
    assert job["status"] == "succeeded", job
    result = job["result"]
    assert result["added"] == 12 and result["updated"] == 0 and result["unchanged"] == 0
    assert result["markedUnavailable"] == 0 and result["rejected"] == 0
    assert result["noop"] is False
    stored = models_by_id(app)
    assert sorted(stored) == sorted(sim_names(sim))
    gpt = stored["gpt-4o"]
    assert (gpt.provider, gpt.context_length, gpt.max_output_tokens) == ("openai", 128000, 16384)
    assert float(gpt.input_cost_per_token) == 2.5e-06
    assert gpt.supports_vision and gpt.availability == "available"
    assert gpt.litellm_info["model_info"]["id"] == gpt.litellm_model_id
    assert None not in gpt.litellm_info["model_info"].values()
    assert stored["Llama-3.1-8B-Instruct"].description == "self-hosted"  # LiteLLM's, on insert
    [run] = sync_runs(app)
    assert run.success and run.trigger == "manual" and run.added == 12
    assert run.job_id == uuid.UUID(job["id"])
    assert run.fetch_ms is not None and run.db_ms is not None and run.total_ms >= run.db_ms


def test_unchanged_payload_is_a_noop_that_writes_no_model_row(client, login, app,
                                                               celery_worker):
    admin = login("admin")
    run_sync(client, admin)
    before = row_versions(app)
    job = run_sync(client, admin)
    assert job["status"] == "succeeded"
    result = job["result"]
    assert result["noop"] is True
    assert (result["added"], result["updated"], result["unchanged"]) == (0, 0, 12)
    assert row_versions(app) == before
    runs = sync_runs(app)
    assert [r.noop for r in runs] == [False, True]
    assert runs[0].payload_hash == runs[1].payload_hash


def test_mutated_models_are_the_only_rows_rewritten(client, login, app, sim, celery_worker):
    admin = login("admin")
    sim.configure(models=200)
    assert run_sync(client, admin)["result"]["added"] == 200
    edited = client.patch("/api/v1/models/gpt-4o", json={"description": "Ours", "restricted": True},
                          headers=admin)
    assert edited.status_code == 200
    before = row_versions(app)
    with sim.state.lock:
        mutated = sim.state.catalog.mutate(10)
        if "gpt-4o" not in mutated:  # make sure an admin-edited model is among the changed
            import random

            from litellm_sim.catalog import mutate_one
            mutate_one(sim.state.catalog.find("gpt-4o")["model_info"], random.Random(1))
            mutated.append("gpt-4o")
            sim.state.catalog._model_info_bytes = None
    job = run_sync(client, admin)
    result = job["result"]
    assert result["updated"] == len(mutated) >= 20
    assert result["unchanged"] == 200 - len(mutated)
    assert result["added"] == result["markedUnavailable"] == result["revived"] == 0
    after = row_versions(app)
    rewritten = sorted(model_id for model_id in after if after[model_id] != before[model_id])
    assert rewritten == sorted(mutated)
    gpt = models_by_id(app)["gpt-4o"]
    assert (gpt.description, gpt.restricted) == ("Ours", True)


def _user_with_subscription_and_key(app, model_id: str) -> tuple[uuid.UUID, uuid.UUID]:
    with app.app_context():
        user = User(username=f"u-{uuid.uuid4().hex[:8]}", oauth_provider="mock",
                    oauth_subject=uuid.uuid4().hex, roles=["user"])
        db.session.add(user)
        db.session.flush()
        subscription = Subscription(user_id=user.id, model_id=model_id, status="active")
        key = ApiKey(user_id=user.id, name="k", key_prefix="sk-abc", key_hash=uuid.uuid4().hex,
                     provisioning_state="active")
        db.session.add_all([subscription, key])
        db.session.flush()
        db.session.add(ApiKeyModel(api_key_id=key.id, model_id=model_id))
        db.session.commit()
        ids = (subscription.id, key.id)
        db.session.remove()
    return ids


def test_removed_models_become_unavailable_and_keep_their_subscriptions(
        client, login, app, sim, celery_worker):
    admin = login("admin")
    run_sync(client, admin)
    subscription_id, key_id = _user_with_subscription_and_key(app, "gpt-4o")
    before = row_versions(app)
    sim.state.catalog.remove(["gpt-4o", "command-r-plus"])
    with sim.state.lock:
        sim.state.catalog._model_info_bytes = None
    job = run_sync(client, admin)
    result = job["result"]
    assert result["markedUnavailable"] == 2 and result["unchanged"] == 10
    assert result["unavailableIds"] == ["command-r-plus", "gpt-4o"]
    assert result["affectedKeyIds"] == [str(key_id)]
    stored = models_by_id(app)
    assert len(stored) == 12
    for gone in ("gpt-4o", "command-r-plus"):
        assert stored[gone].availability == "unavailable"
        assert stored[gone].unavailable_since is not None
    after = row_versions(app)
    assert sorted(m for m in after if after[m] != before[m]) == ["command-r-plus", "gpt-4o"]
    with app.app_context():
        subscription = db.session.get(Subscription, subscription_id)
        assert subscription is not None and subscription.status == "active"
        cleanup = db.session.scalars(select(Job).where(
            Job.kind == "remove_models_from_keys")).all()
        db.session.remove()
    assert [j.params for j in cleanup] == [{"modelIds": ["command-r-plus", "gpt-4o"]}]
    assert result["cleanupJobId"] == str(cleanup[0].id)
    listed = client.get("/api/v1/models?limit=100").get_json()
    assert "gpt-4o" not in {m["id"] for m in listed["data"]}
    detail = client.get("/api/v1/models/gpt-4o").get_json()
    assert detail["availability"] == "unavailable" and detail["isActive"] is False


def test_restored_models_are_revived(client, login, app, sim, celery_worker):
    admin = login("admin")
    run_sync(client, admin)
    client.patch("/api/v1/models/gpt-4o", json={"description": "kept"}, headers=admin)
    first_seen = models_by_id(app)["gpt-4o"].first_seen_at
    sim.state.catalog.remove(["gpt-4o"])
    assert run_sync(client, admin)["result"]["markedUnavailable"] == 1
    sim.state.catalog.restore(["gpt-4o"])
    result = run_sync(client, admin)["result"]
    assert (result["revived"], result["added"], result["updated"]) == (1, 0, 0)
    gpt = models_by_id(app)["gpt-4o"]
    assert gpt.availability == "available" and gpt.unavailable_since is None
    assert gpt.first_seen_at == first_seen and gpt.description == "kept"


@pytest.fixture
def fast_retries(monkeypatch):
    """Keep the runner's retry policy (transient → retry with backoff) but make it quick."""
    quick_retries(monkeypatch, max_retries=2, backoff_base=0.05)


def test_litellm_down_fails_the_job_after_retries_and_marks_nothing(
        client, login, app, sim, celery_worker, fast_retries):
    admin = login("admin")
    run_sync(client, admin)
    before = row_versions(app)
    sim.configure(down=True)
    job = run_sync(client, admin)
    assert job["status"] == "failed"
    assert job["attempts"] == 3  # first try + 2 retries
    assert "503" in job["error"]["message"] and job["error"]["type"] == "LiteLLMUnavailable"
    assert row_versions(app) == before
    assert {m.availability for m in models_by_id(app).values()} == {"available"}
    failed = [r for r in sync_runs(app) if not r.success]
    assert len(failed) == 3 and all("LiteLLMUnavailable" in r.error for r in failed)
    health = client.get("/api/v1/models/health").get_json()
    assert health["status"] == "degraded" and health["lastRunSuccess"] is False
    assert health["litellmConnected"] is False and "LiteLLMUnavailable" in health["lastError"]


@pytest.mark.parametrize("garbage", ["invalid_json", "wrong_shape"])
def test_invalid_payload_fails_the_job_and_marks_nothing(client, login, app, sim, celery_worker,
                                                         fast_retries, garbage):
    admin = login("admin")
    run_sync(client, admin)
    before = row_versions(app)
    sim.configure(garbage=garbage)
    job = run_sync(client, admin)
    assert job["status"] == "failed" and job["attempts"] == 1  # not transient: no retry
    assert job["error"]["type"] == "LiteLLMInvalidResponse"
    assert row_versions(app) == before


def test_empty_model_list_is_refused_unless_allowed(client, login, app, sim, celery_worker,
                                                    monkeypatch):
    admin = login("admin")
    run_sync(client, admin)
    sim.configure(models=0)
    job = run_sync(client, admin)
    assert job["status"] == "failed" and job["error"]["type"] == "SyncRefused"
    assert "MODEL_SYNC_ALLOW_EMPTY" in job["error"]["message"]
    assert {m.availability for m in models_by_id(app).values()} == {"available"}
    monkeypatch.setitem(app.config, "MODEL_SYNC_ALLOW_EMPTY", True)
    job = run_sync(client, admin)
    assert job["status"] == "succeeded" and job["result"]["markedUnavailable"] == 12
    assert {m.availability for m in models_by_id(app).values()} == {"unavailable"}


def test_malformed_entries_are_rejected_one_by_one(client, login, app, sim, celery_worker):
    admin = login("admin")
    run_sync(client, admin)
    before = row_versions(app)
    with sim.state.lock:
        mini = sim.state.catalog.find("gpt-4o-mini")
        mini["model_info"]["max_input_tokens"] = "a lot"  # a known model turns malformed
    # (A non-object item makes the client refuse the whole answer: see the garbage tests.)
    serve_extra_entries(sim, [
        {"model_info": {"id": "x"}},  # no model_name
        {"model_name": "bad-cost", "model_info": {"input_cost_per_token": -1}},
        {"model_name": "bad-info", "model_info": ["not", "an", "object"]},
        {"model_name": "gpt-4o", "litellm_params": {"model": "azure/gpt-4o"}},  # duplicate
        {"model_name": "fresh-model", "litellm_params": {"model": "groq/fresh"},
         "model_info": None, "some_future_field": {"x": 1}},
    ])
    job = run_sync(client, admin)
    assert job["status"] == "succeeded"
    result = job["result"]
    assert result["rejected"] == 5 and result["added"] == 1
    assert result["markedUnavailable"] == 0  # gpt-4o-mini is still listed, only unreadable
    [run] = [r for r in sync_runs(app) if r.job_id == uuid.UUID(job["id"])]
    errors = {(e["model"], e["error"].split(" ")[0]) for e in run.errors}
    assert errors == {
        (None, "model_name"), ("bad-cost", "model_info.input_cost_per_token"),
        ("bad-info", "model_info"), ("gpt-4o", "duplicate"),
        ("gpt-4o-mini", "model_info.max_input_tokens"),
    }
    stored = models_by_id(app)
    assert stored["fresh-model"].provider == "groq"
    assert stored["gpt-4o"].provider == "openai"  # the first deployment wins
    assert stored["gpt-4o-mini"].availability == "available"
    after = row_versions(app)
    assert {m for m in before if after[m] != before[m]} == set()


def test_concurrent_sync_requests_share_one_job(client, login, app, sim, celery_worker):
    admin = login("admin")
    sim.configure(latency_ms=1500)
    answers: list[tuple[int, str]] = []

    def request_sync():
        response = app.test_client().post(SYNC_URL, headers=admin)
        answers.append((response.status_code, response.get_json()["jobId"]))

    threads = [threading.Thread(target=request_sync) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {status for status, _ in answers} == {202}
    assert len({job_id for _, job_id in answers}) == 1
    job_id = answers[0][1]
    wait_for_job(client, admin, job_id, statuses=("running",))
    again = client.post(SYNC_URL, headers=admin)
    assert again.status_code == 202 and again.get_json()["jobId"] == job_id
    assert wait_for_job(client, admin, job_id)["status"] == "succeeded"
    with app.app_context():
        assert db.session.scalar(select(text("count(*)")).select_from(Job).where(
            Job.kind == "sync_models")) == 1
        db.session.remove()
    next_job = client.post(SYNC_URL, headers=admin).get_json()["jobId"]
    assert next_job != job_id
    assert wait_for_job(client, admin, next_job)["status"] == "succeeded"


def test_start_up_and_scheduled_triggers_are_recorded(client, login, app, celery_worker,
                                                      monkeypatch):
    from app.startup import on_web_start
    from worker.tasks.maintenance import enqueue_scheduled

    admin = login("admin")
    monkeypatch.setitem(app.config, "MODEL_SYNC_ON_START", True)
    on_web_start(app)
    on_web_start(app)  # a second replica starting: same single-flight job
    with app.app_context():
        startup_jobs = db.session.scalars(select(Job).where(Job.kind == "sync_models")).all()
        db.session.remove()
    assert len(startup_jobs) == 1 and startup_jobs[0].params == {"trigger": "startup"}
    wait_for_job(client, admin, startup_jobs[0].id)
    with app.app_context():
        scheduled_id = enqueue_scheduled("sync_models")
    wait_for_job(client, admin, scheduled_id)
    assert [r.trigger for r in sync_runs(app)] == ["startup", "scheduled"]


def test_force_update_rewrites_every_row(client, login, app, celery_worker):
    admin = login("admin")
    run_sync(client, admin)
    before = row_versions(app)
    result = run_sync(client, admin, forceUpdate=True)["result"]
    assert result["noop"] is False and result["updated"] == 12
    after = row_versions(app)
    assert all(after[m] != before[m] for m in before)


def test_only_admins_may_start_a_sync(client, login):
    assert client.post(SYNC_URL).status_code == 401
    assert client.post(SYNC_URL, headers=login("user")).status_code == 403
    assert client.post(SYNC_URL, headers=login("adminro")).status_code == 403
    response = client.post(SYNC_URL, json={"forceUpdate": "nope"}, headers=login("admin"))
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "VALIDATION_ERROR"


def test_sync_answers_202_with_location(client, login, celery_worker):
    admin = login("admin")
    response = client.post(SYNC_URL, headers=admin)
    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "queued"
    assert response.headers["Location"] == body["links"]["self"] == f"/api/v1/jobs/{body['jobId']}"
    assert wait_for_job(client, admin, body["jobId"])["status"] == "succeeded"


def test_awkward_characters_round_trip_and_unstorable_entries_are_rejected(app_ctx):
    from app.services.model_sync import ModelSyncService

    awkward = {
        "model_name": "org/odd model:v1.0",
        "litellm_params": {"model": "openai/odd\tname"},
        "model_info": {"description": 'tab\there, back\\slash, "quote"\nnext line',
                       'supports_we"ird\\flag': True, "note": "caf\u00e9 \u2603"},
    }
    nul = {"model_name": "nul-model", "model_info": {"description": "bad\u0000byte"}}
    surrogate = {"model_name": "surrogate-model", "litellm_params": {"model": "x/\ud800"}}
    outcome = ModelSyncService().apply([awkward, nul, surrogate])
    assert (outcome.added, outcome.rejected) == (1, 2)
    stored = db.session.get(Model, "org/odd model:v1.0")
    assert stored.description == awkward["model_info"]["description"]
    assert stored.backend_model == "odd\tname"
    assert 'we"ird\\flag' in stored.features
    assert stored.litellm_info["model_info"]["note"] == "caf\u00e9 \u2603"
    run = db.session.get(SyncRun, outcome.run_id)
    assert sorted(e["model"] for e in run.errors) == ["nul-model", "surrogate-model"]
    assert all("cannot be stored" in e["error"] for e in run.errors)


def test_a_row_changed_out_of_band_is_repaired_by_the_next_sync(client, login, app,
                                                                 celery_worker):
    admin = login("admin")
    run_sync(client, admin)
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text("UPDATE models SET availability = 'unavailable', "
                          "unavailable_since = now(), updated_at = now() WHERE id = 'gpt-4o'"))
    result = run_sync(client, admin)["result"]  # same payload, but the catalogue moved
    assert result["noop"] is False and result["revived"] == 1 and result["unchanged"] == 11
    assert models_by_id(app)["gpt-4o"].availability == "available"
    assert run_sync(client, admin)["result"]["noop"] is True
