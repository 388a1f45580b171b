"""M3: a plain user cannot flood the queue. Edits of one key reuse the key's still-queued job
(its task pushes the key as it is when it runs), and a user holds at most
MAX_QUEUED_JOBS_PER_USER queued or running jobs: beyond, 429 TOO_MANY_JOBS and nothing changes.
Admins are not capped and a revocation is always accepted."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import ApiKey, Job
from tests.integration.provisioning_support import create_key, seed_models, subscribe
from tests.support.apps import extra_app


@pytest.fixture
def no_worker(app, settings):
    """An app whose jobs stay queued: its broker queues (another key prefix) have no worker."""
    prefix = f"{settings.REDIS_KEY_PREFIX}no-worker-{uuid.uuid4().hex[:6]}:"
    with extra_app(settings, REDIS_KEY_PREFIX=prefix, MAX_QUEUED_JOBS_PER_USER=3) as other:
        yield other
        redis = other.extensions["redis"]
        for key in redis.scan_iter(match=f"{prefix}*"):
            redis.delete(key)
    app.extensions["celery"].set_current()
    app.extensions["celery"].set_default()


def signed_in(client, username: str) -> dict[str, str]:
    body = client.post("/api/v1/auth/login", json={"username": username}).get_json()
    return {"Authorization": f"Bearer {body['accessToken']}"}


def queued(app, kind: str) -> list[Job]:
    with app.app_context():
        return db.session.scalars(select(Job).where(Job.kind == kind,
                                                    Job.status == "queued")).all()


def test_thirty_edits_of_a_key_make_one_job(no_worker, sim):
    seed_models(no_worker, sim)
    client = no_worker.test_client()
    user = signed_in(client, "user")
    subscribe(client, user, "gpt-4o")
    key = create_key(client, user, ["gpt-4o"])
    job_ids = set()
    for n in range(30):
        response = client.patch(f"/api/v1/api-keys/{key['id']}", json={"name": f"edit {n}"},
                                headers=user)
        assert response.status_code == 200, response.get_json()
        job_ids.add(response.get_json()["jobId"])
    assert len(job_ids) == 1
    assert [str(job.id) for job in queued(no_worker, "update_key")] == list(job_ids)
    with no_worker.app_context():
        assert db.session.get(ApiKey, uuid.UUID(key["id"])).name == "edit 29"


def test_a_user_beyond_the_cap_gets_429_and_nothing_changes(no_worker, sim):
    seed_models(no_worker, sim)
    client = no_worker.test_client()
    user, admin = signed_in(client, "user"), signed_in(client, "admin")
    subscribe(client, user, "gpt-4o")
    keys = [create_key(client, user, ["gpt-4o"], name=f"k{n}") for n in range(5)]
    me = uuid.UUID(client.get("/api/v1/auth/me", headers=user).get_json()["id"])
    with no_worker.app_context():  # e.g. the sign-in's provision_user job, waiting too
        waiting = db.session.scalar(select(func.count()).select_from(Job)
                                    .where(Job.requested_by == me))
    no_worker.config["MAX_QUEUED_JOBS_PER_USER"] = waiting + 3
    for key in keys[:3]:
        assert client.patch(f"/api/v1/api-keys/{key['id']}", json={"name": "changed"},
                            headers=user).status_code == 200
    refused = client.patch(f"/api/v1/api-keys/{keys[3]['id']}", json={"name": "changed"},
                           headers=user)
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "TOO_MANY_JOBS"
    assert refused.get_json()["error"]["details"]["limit"] == waiting + 3
    assert int(refused.headers["Retry-After"]) > 0
    with no_worker.app_context():
        assert db.session.get(ApiKey, uuid.UUID(keys[3]["id"])).name == "k3"
        assert db.session.scalar(select(func.count()).select_from(Job)
                                 .where(Job.kind == "update_key")) == 3

    rotated = client.post(f"/api/v1/api-keys/{keys[3]['id']}/rotate", headers=user)
    assert rotated.status_code == 429  # refused before LiteLLM made a new value
    assert sim.state.key_by(keys[3]["key"]) is not None

    # an admin is not capped, and revoking is always accepted
    assert client.patch(f"/api/v1/api-keys/{keys[3]['id']}", json={"name": "by admin"},
                        headers=admin).status_code == 200
    assert client.delete(f"/api/v1/api-keys/{keys[4]['id']}", headers=user).status_code == 202

