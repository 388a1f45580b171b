"""A worker PROCESS killed with SIGKILL in the middle of a model sync and of a key provisioning
job: the message is redelivered to another worker process, the job finishes exactly once, no
duplicate key exists in LiteLLM, and nothing half-done is visible meanwhile.

Each test has its own Redis key prefix (its own Celery queues), so only its worker processes
take its jobs; the simulator (a thread of this process) is the LiteLLM both workers talk to.
"""

from __future__ import annotations

import signal
import time
import uuid

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import ApiKey, AuditLog, Job, Model, SyncRun
from tests.integration.provisioning_support import create_key, seed_models, subscribe
from tests.reliability.support import stop, worker_env, worker_process
from tests.support.apps import extra_app

pytestmark = pytest.mark.slow


@pytest.fixture
def isolated(app, settings):
    prefix = f"kill-{uuid.uuid4().hex[:8]}:"
    with extra_app(settings, REDIS_KEY_PREFIX=prefix) as own:
        yield own, worker_env(settings, prefix)


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _calls(sim, method: str, path: str) -> int:
    with sim.state.lock:
        return sum(1 for c in sim.state.calls if c["method"] == method and c["path"] == path)


def _job(app, job_id) -> Job:
    with app.app_context():
        job = db.session.get(Job, uuid.UUID(str(job_id)))
        db.session.expunge(job)
        return job


def _count(app, stmt) -> int:
    with app.app_context():
        value = db.session.scalar(stmt)
        db.session.remove()
        return value


def _finished_once(app, job_id) -> int:
    return _count(app, select(func.count()).select_from(AuditLog).where(
        AuditLog.resource_id == str(job_id), AuditLog.action == "JOB_SUCCEEDED"))


def test_worker_killed_mid_sync_redelivers_and_syncs_once(isolated, sim, tmp_path):
    own, env = isolated
    client = own.test_client()
    admin = {"Authorization": "Bearer " + client.post(
        "/api/v1/auth/login", json={"username": "admin"}).get_json()["accessToken"]}
    sim.configure(latency_ms=3000)  # the fetch of /model/info is under way when we kill
    first = worker_process(env, "sync", log=tmp_path / "first.log")
    second = None
    try:
        job_id = client.post("/api/v1/models/sync", json={}, headers=admin).get_json()["jobId"]
        _wait(lambda: _calls(sim, "GET", "/model/info"), 60, "the sync's fetch")
        assert _job(own, job_id).status == "running"
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        sim.configure(latency_ms=0)
        # nothing half-done is visible: no model, no successful run
        assert _count(own, select(func.count()).select_from(Model)) == 0
        assert _count(own, select(func.count()).select_from(SyncRun)
                      .where(SyncRun.success.is_(True))) == 0
        assert client.get("/api/v1/models").get_json()["pagination"]["total"] == 0

        second = worker_process(env, "sync", log=tmp_path / "second.log")
        _wait(lambda: _job(own, job_id).status in ("succeeded", "failed"), 90, "the sync")
        job = _job(own, job_id)
        assert job.status == "succeeded", job.error
        assert job.attempts == 2
        assert _finished_once(own, job_id) == 1
        with sim.state.lock:
            expected = len(sim.state.catalog.visible())
        assert _count(own, select(func.count()).select_from(Model)) == expected
        assert _count(own, select(func.count()).select_from(SyncRun)
                      .where(SyncRun.success.is_(True))) == 1
    finally:
        stop(first, second)


def test_worker_killed_mid_key_provisioning_leaves_one_key_in_litellm(isolated, sim,
                                                                     tmp_path):
    own, env = isolated
    client = own.test_client()
    user = {"Authorization": "Bearer " + client.post(
        "/api/v1/auth/login", json={"username": "user"}).get_json()["accessToken"]}
    models = seed_models(own, sim, count=2)
    subscribe(client, user, models[0])
    sim.configure(down=True)
    created = create_key(client, user, [models[0]], expect=202)
    key_id, job_id = created["id"], created["jobId"]
    sim.configure(down=False, latency_ms=3000)  # /key/generate is in flight when we kill
    before = _calls(sim, "POST", "/key/generate")
    first = worker_process(env, "provisioning", log=tmp_path / "first.log")
    second = None
    try:
        _wait(lambda: _calls(sim, "POST", "/key/generate") > before, 60,
              "the job's /key/generate")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        time.sleep(3.5)  # the simulator finishes the request the dead worker sent
        sim.configure(latency_ms=0)
        # the key is still pending here, and says so
        shown = client.get(f"/api/v1/api-keys/{key_id}", headers=user).get_json()
        assert shown["status"] == "pending"
        with own.app_context():
            row = db.session.get(ApiKey, uuid.UUID(key_id))
            assert row.litellm_key_token is None
            alias, token = row.key_alias, row.key_hash
            db.session.remove()

        second = worker_process(env, "provisioning", log=tmp_path / "second.log")
        _wait(lambda: _job(own, job_id).status in ("succeeded", "failed"), 90, "the job")
        job = _job(own, job_id)
        assert job.status == "succeeded", job.error
        assert job.attempts == 2
        assert job.result["state"] == "active" and job.result["litellm"] == "existed"
        assert _finished_once(own, job_id) == 1
        with sim.state.lock:
            same_alias = [t for t, k in sim.state.keys.items() if k.get("key_alias") == alias]
            assert same_alias == [token]  # one key in LiteLLM, the one we hold the hash of
            assert len(sim.state.keys) == 1
        shown = client.get(f"/api/v1/api-keys/{key_id}", headers=user).get_json()
        assert shown["status"] == "active"
        assert _count(own, select(func.count()).select_from(AuditLog).where(
            AuditLog.resource_id == key_id, AuditLog.action == "API_KEY_PROVISIONED")) == 1
    finally:
        stop(first, second)
