"""LiteLLM down, slow (beyond the client timeout) and answering garbage, with the real worker:
syncs retry transient failures with growing backoff, then fail with a clear error and mark no
model unavailable; garbage is not retried; key creation falls back to a pending key that a job
finishes once LiteLLM is back, with exactly one key in LiteLLM."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Model
from app.services import jobs
from tests.integration.provisioning_support import (
    create_key,
    seed_models,
    sim_key,
    subscribe,
)
from tests.support.jobs import quick_retries, settle_jobs, wait_for_job

CLIENT_TIMEOUT = 0.5
FAULTS = {
    "down": ({"down": True}, "LiteLLMUnavailable", True),
    "slow": ({"latency_ms": int(CLIENT_TIMEOUT * 1000) + 700}, "LiteLLMUnavailable", True),
    "garbage": ({"garbage": "invalid_json"}, "LiteLLMInvalidResponse", False),
}


@pytest.fixture
def quick(app, monkeypatch, celery_worker):
    """A short LiteLLM timeout and quick retries (the policy itself unchanged); records every
    retry's backoff."""
    quick_retries(monkeypatch, max_retries=2, backoff_base=0.1)
    monkeypatch.setattr(app.extensions["litellm"], "_timeout", (CLIENT_TIMEOUT, CLIENT_TIMEOUT))
    countdowns: list[float] = []
    original = jobs.requeue_for_retry

    def recording(job_id, error, countdown):
        countdowns.append(countdown)
        return original(job_id, error, countdown)

    monkeypatch.setattr(jobs, "requeue_for_retry", recording)
    yield countdowns
    settle_jobs(app, timeout=60)


def _availability(app) -> dict[str, int]:
    with app.app_context():
        rows = db.session.execute(select(Model.availability, func.count())
                                  .group_by(Model.availability)).all()
        db.session.remove()
    return dict(rows)


@pytest.mark.parametrize("fault", FAULTS)
def test_sync_against_a_failing_litellm_fails_clearly_and_marks_nothing(
        client, login, app, sim, quick, fault):
    knobs, error_type, transient = FAULTS[fault]
    admin = login("admin")
    first = client.post("/api/v1/models/sync", json={}, headers=admin).get_json()["jobId"]
    assert wait_for_job(client, admin, first)["status"] == "succeeded"
    before = _availability(app)
    assert set(before) == {"available"}

    sim.configure(**knobs)
    started = time.monotonic()
    job_id = client.post("/api/v1/models/sync", json={}, headers=admin).get_json()["jobId"]
    job = wait_for_job(client, admin, job_id, timeout=60)
    assert job["status"] == "failed"
    assert job["error"]["type"] == error_type and job["error"]["message"]
    if transient:
        assert job["attempts"] == 3
        assert quick == [0.1, 0.2]  # exponential backoff between the attempts
        if fault == "slow":
            assert "timed out" in job["error"]["message"]
            assert time.monotonic() - started < 30
    else:
        assert job["attempts"] == 1 and quick == []
    assert _availability(app) == before  # no model marked unavailable
    health = client.get("/api/v1/models/health").get_json()
    assert health["lastRunSuccess"] is False


@pytest.mark.parametrize("fault", ["down", "slow"])
def test_key_creation_falls_back_to_pending_and_finishes_once(
        client, login, app, sim, quick, fault, monkeypatch):
    # (restored by monkeypatch) LiteLLM is back before a retry
    quick_retries(monkeypatch, max_retries=5, backoff_base=1.0)
    knobs, _, _ = FAULTS[fault]
    models = seed_models(app, sim, count=2)
    user = login("user")
    subscribe(client, user, models[0])
    create_key(client, user, [models[0]], name="warm-up")  # the LiteLLM user exists
    sim.configure(**knobs)
    body = create_key(client, user, [models[0]], name="during the fault", expect=202)
    assert body["status"] == "pending" and body["jobId"]
    assert body["key"].startswith("sk-")
    shown = client.get(f"/api/v1/api-keys/{body['id']}", headers=user).get_json()
    assert shown["status"] == "pending"

    if fault == "slow":
        time.sleep(1.5)  # LiteLLM finishes the call we gave up on
    sim.configure(down=False, latency_ms=0)
    job = wait_for_job(client, user, body["jobId"], timeout=60)
    assert job["status"] == "succeeded"
    assert client.get(f"/api/v1/api-keys/{body['id']}",
                      headers=user).get_json()["status"] == "active"
    assert sim_key(sim, body["key"]) is not None
    with sim.state.lock:
        assert len(sim.state.keys) == 2  # the warm-up key and this one, no duplicate
