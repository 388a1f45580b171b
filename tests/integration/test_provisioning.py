"""Key provisioning jobs with a real worker: LiteLLM down or slow at creation, models leaving
keys when access ends, idempotent jobs."""

from __future__ import annotations

import time
import uuid

from sqlalchemy import select, update

from app.extensions import db
from app.models import ApiKey, AuditLog, Job, Model
from app.services import jobs
from tests.integration.provisioning_support import (
    chat,
    create_key,
    seed_models,
    sim_calls,
    sim_key,
    subscribe,
)
from tests.support.jobs import wait_for_job

OPEN, OTHER = "gpt-4o", "gpt-4o-mini"


def subscribed_user(app, client, login, sim, username="user"):
    seed_models(app, sim)
    user = login(username)
    subscribe(client, user, OPEN)
    subscribe(client, user, OTHER)
    return user


def key_row(app, key_id) -> ApiKey:
    with app.app_context():
        key = db.session.get(ApiKey, uuid.UUID(key_id))
        db.session.expunge(key)
        return key


def test_litellm_down_at_creation_gives_a_pending_key_that_works_after_recovery(
        app, client, login, sim, celery_worker):
    user = subscribed_user(app, client, login, sim)
    sim.configure(down=True)
    response = client.post("/api/v1/api-keys", json={"name": "later", "modelIds": [OPEN]},
                           headers=user)
    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "pending" and body["key"].startswith("sk-")
    assert response.headers["Location"] == f"/api/v1/jobs/{body['jobId']}"
    assert body["links"]["job"] == response.headers["Location"]
    assert key_row(app, body["id"]).provisioning_error.startswith("waiting for LiteLLM")

    sim.configure(down=False)
    job = wait_for_job(client, user, body["jobId"])
    assert job["status"] == "succeeded" and job["kind"] == "provision_key"
    assert job["result"]["state"] == "active"
    shown = client.get(f"/api/v1/api-keys/{body['id']}", headers=user).get_json()
    assert shown["status"] == "active" and shown["provisioningError"] is None
    assert chat(sim, body["key"], OPEN).status_code == 200
    assert sim_key(sim, body["key"])["models"] == [OPEN]
    with app.app_context():  # the value held for the job is gone once it is provisioned
        redis = app.extensions["redis"]
        assert list(redis.scan_iter(match=f"{app.config['REDIS_KEY_PREFIX']}pending-api-key*"))\
            == []


def test_retry_after_a_timeout_creates_no_duplicate_key_in_litellm(
        app, client, login, sim, celery_worker):
    user = subscribed_user(app, client, login, sim)
    create_key(client, user, [OTHER], name="first")  # the LiteLLM user exists from here on
    timeout = app.extensions["litellm"]._timeout[1]
    sim.configure(latency_ms=int(timeout * 1000) + 700)
    response = client.post("/api/v1/api-keys", json={"name": "slow", "modelIds": [OPEN]},
                           headers=user)
    assert response.status_code == 202  # our call timed out, but LiteLLM goes on and makes it
    body = response.get_json()
    deadline = time.monotonic() + 10
    while sim_key(sim, body["key"]) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sim_key(sim, body["key"]) is not None
    sim.configure(latency_ms=0)
    job = wait_for_job(client, user, body["jobId"])
    assert job["status"] == "succeeded"
    assert job["result"]["litellm"] == "existed"

    generated = [c["json"]["key"] for c in sim_calls(sim, "/key/generate")]
    assert generated.count(body["key"]) >= 2  # the same value was sent again
    token = key_row(app, body["id"]).key_hash
    with sim.state.lock:
        owners_keys = [row for row in sim.state.keys.values()
                       if row["user_id"] == body["userId"]]
    assert len(owners_keys) == 2
    assert [row["token"] for row in owners_keys].count(token) == 1
    assert chat(sim, body["key"], OPEN).status_code == 200


def test_a_pending_key_whose_held_value_was_lost_fails_with_the_reason(
        app, client, login, sim, celery_worker):
    user = subscribed_user(app, client, login, sim)
    sim.configure(down=True)
    body = client.post("/api/v1/api-keys", json={"name": "doomed", "modelIds": [OPEN]},
                       headers=user).get_json()
    with app.app_context():
        _wait_attempts(app, uuid.UUID(body["jobId"]), 1)  # a first try failed while down
        redis = app.extensions["redis"]  # and the held value is lost (e.g. Redis flushed)
        for name in redis.scan_iter(match=f"{app.config['REDIS_KEY_PREFIX']}pending-api-key*"):
            redis.delete(name)
    sim.configure(down=False)
    job = wait_for_job(client, user, body["jobId"])
    assert job["result"]["state"] == "failed"
    shown = client.get(f"/api/v1/api-keys/{body['id']}", headers=user).get_json()
    assert shown["status"] == "failed" and "no longer available" in shown["provisioningError"]
    assert client.get("/api/v1/api-keys", headers={"X-API-Key": body["key"]}).status_code == 401
    with app.app_context():
        assert db.session.scalar(select(AuditLog.success).where(
            AuditLog.action == "API_KEY_PROVISIONING_FAILED",
            AuditLog.resource_id == body["id"])) is False


def test_model_becoming_unavailable_is_removed_from_keys_in_litellm(
        app, client, login, sim, celery_worker):
    user = subscribed_user(app, client, login, sim)
    both = create_key(client, user, [OPEN, OTHER], name="both")
    only = create_key(client, user, [OPEN], name="only")
    assert chat(sim, both["key"], OPEN).status_code == 200
    with app.app_context():  # what a model sync does when OPEN disappears from LiteLLM
        db.session.execute(update(Model).where(Model.id == OPEN)
                           .values(availability="unavailable"))
        job, _ = jobs.enqueue("remove_models_from_keys", {"modelIds": [OPEN]})
        job_id = job.id
    done = wait_for_job(client, login("admin"), job_id)
    assert done["status"] == "succeeded"
    assert {item["keyId"] for item in done["result"]["keys"]} == {both["id"], only["id"]}

    assert sim_key(sim, both["key"])["models"] == [OTHER]
    assert chat(sim, both["key"], OPEN).status_code == 403
    assert chat(sim, both["key"], OTHER).status_code == 200
    emptied = sim_key(sim, only["key"])
    assert emptied["blocked"] is True  # an empty model list would mean "every model"
    assert chat(sim, only["key"], OTHER).status_code == 401
    assert client.get(f"/api/v1/api-keys/{both['id']}", headers=user).get_json()[
        "models"] == [OTHER]

    again = wait_for_job(client, login("admin"), _enqueue(app, "remove_models_from_keys",
                                                          {"modelIds": [OPEN]}))
    assert again["status"] == "succeeded" and again["result"]["keys"] == []


def test_model_that_came_back_before_the_job_ran_stays_on_keys(
        app, client, login, sim, celery_worker):
    user = subscribed_user(app, client, login, sim)
    key = create_key(client, user, [OPEN])
    done = wait_for_job(client, login("admin"), _enqueue(app, "remove_models_from_keys",
                                                         {"modelIds": [OPEN]}))
    assert done["result"]["keys"] == []
    assert sim_key(sim, key["key"])["models"] == [OPEN]


def test_ending_a_subscription_removes_its_model_from_the_owners_keys(
        app, client, login, sim, celery_worker):
    user = subscribed_user(app, client, login, sim)
    bystander = subscribed_user_again(client, login)
    key = create_key(client, user, [OPEN, OTHER])
    theirs = create_key(client, bystander, [OPEN])
    subs = {s["modelId"]: s for s in client.get("/api/v1/subscriptions",
                                                 headers=user).get_json()["data"]}

    cancelled = client.delete(f"/api/v1/subscriptions/{subs[OPEN]['id']}", headers=user)
    assert wait_for_job(client, user, cancelled.get_json()["jobId"])["status"] == "succeeded"
    assert sim_key(sim, key["key"])["models"] == [OTHER]
    assert chat(sim, key["key"], OPEN).status_code == 403
    assert sim_key(sim, theirs["key"])["models"] == [OPEN]  # other users keep theirs

    admin = login("admin")
    suspended = client.post(f"/api/v1/admin/subscriptions/{subs[OTHER]['id']}/suspend",
                            json={"reason": "abuse"}, headers=admin)
    assert wait_for_job(client, admin, suspended.get_json()["jobId"])["status"] == "succeeded"
    row = sim_key(sim, key["key"])
    assert row["blocked"] is True
    assert client.get(f"/api/v1/api-keys/{key['id']}", headers=user).get_json()["models"] == []


def subscribed_user_again(client, login):
    other = login("bob")
    subscribe(client, other, OPEN)
    return other


def test_provisioning_jobs_are_safe_to_run_twice(app, client, login, sim, celery_worker):
    user = subscribed_user(app, client, login, sim)
    key = create_key(client, user, [OPEN])
    admin = login("admin")
    first = wait_for_job(client, admin, _enqueue(app, "update_key", {"keyId": key["id"]}))
    second = wait_for_job(client, admin, _enqueue(app, "update_key", {"keyId": key["id"]}))
    assert first["status"] == second["status"] == "succeeded"
    provision = wait_for_job(client, admin, _enqueue(app, "provision_key", {"keyId": key["id"]},
                                                     flight_key=f"key:{key['id']}"))
    assert provision["result"]["skipped"] == "active"
    revoked = client.delete(f"/api/v1/api-keys/{key['id']}", headers=user).get_json()
    assert wait_for_job(client, user, revoked["jobId"])["status"] == "succeeded"
    again = wait_for_job(client, admin, _enqueue(app, "revoke_key", {"keyId": key["id"]},
                                                 flight_key=f"revoke:{key['id']}"))
    assert again["status"] == "succeeded" and again["result"]["skipped"] == "revoked"
    with sim.state.lock:
        assert len(sim.state.keys) == 0
    assert len(sim_calls(sim, "/key/generate")) == 1


def test_transient_failure_is_retried_and_recorded_on_the_job(
        app, client, login, sim, celery_worker):
    user = subscribed_user(app, client, login, sim)
    key = create_key(client, user, [OPEN])
    client.patch(f"/api/v1/api-keys/{key['id']}", json={"rpmLimit": 5}, headers=user)
    sim.configure(down=True)
    job_id = _enqueue(app, "update_key", {"keyId": key["id"]})
    with app.app_context():
        deadline_job = _wait_attempts(app, job_id, 1)
        assert deadline_job.error["type"] == "LiteLLMUnavailable"
    sim.configure(down=False)
    done = wait_for_job(client, login("admin"), job_id)
    assert done["status"] == "succeeded" and done["attempts"] >= 2
    assert sim_key(sim, key["key"])["rpm_limit"] == 5


def _wait_attempts(app, job_id, attempts: int) -> Job:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        db.session.expire_all()
        job = db.session.get(Job, job_id)
        if job.attempts >= attempts and job.error:
            return job
        time.sleep(0.05)
    raise AssertionError("no failed attempt recorded")


def _enqueue(app, kind: str, params: dict, flight_key: str | None = None):
    with app.app_context():
        job, _ = jobs.enqueue(kind, params, flight_key=flight_key)
        job_id = job.id
        db.session.remove()
        return job_id


def test_key_job_kinds_name_real_tasks_on_the_provisioning_queue(app):
    celery = app.extensions["celery"]
    celery.loader.import_default_modules()
    for kind in ("provision_key", "update_key", "revoke_key", "remove_models_from_keys",
                 "reconcile"):
        task = jobs.KINDS[kind].task
        assert task in celery.tasks, kind
        assert celery.amqp.router.route({}, task)["queue"].name == "provisioning", kind
