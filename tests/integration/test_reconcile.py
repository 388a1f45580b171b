"""Reconciliation with a real worker: drift injected in the simulator behind LiteMaaS's back."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests
from cryptography.fernet import Fernet
from sqlalchemy import func, select, update

from app.extensions import db
from app.models import ApiKey, AuditLog
from tests.integration.provisioning_support import (
    chat,
    create_key,
    seed_models,
    sim_key,
    subscribe,
)
from tests.support.jobs import wait_for_job

OPEN, OTHER, THIRD = "gpt-4o", "gpt-4o-mini", "gemini-1.5-pro"


@pytest.fixture
def user(app, client, login, sim):
    seed_models(app, sim)
    headers = login("user")
    for model_id in (OPEN, OTHER):
        subscribe(client, headers, model_id)
    return headers


def litellm_admin(sim, path: str, body: dict) -> requests.Response:
    """A call an operator makes to LiteLLM directly, bypassing LiteMaaS."""
    return requests.post(f"{sim.url}{path}", json=body, timeout=5,
                         headers={"Authorization": f"Bearer {sim.master_key}"})


def reconcile(client, login) -> dict:
    admin = login("admin")
    response = client.post("/api/v1/admin/reconcile", headers=admin)
    assert response.status_code == 202
    job = wait_for_job(client, admin, response.get_json()["jobId"])
    assert job["status"] == "succeeded", job
    return job["result"]


def repairs_by_key(result: dict) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for repair in result["repairs"]:
        found.setdefault(repair["resourceId"], []).append(repair["action"])
    return found


def test_reconcile_repairs_three_injected_drifts(app, client, login, sim, celery_worker, user,
                                                 monkeypatch):
    monkeypatch.setitem(app.config, "ENCRYPTION_KEY", Fernet.generate_key().decode())
    lost = create_key(client, user, [OPEN], name="lost")
    changed = create_key(client, user, [OPEN], name="changed", maxBudget=5)
    zombie = create_key(client, user, [OPEN], name="zombie")
    healthy = create_key(client, user, [OTHER], name="healthy")

    assert litellm_admin(sim, "/key/delete", {"keys": [lost["key"]]}).status_code == 200
    assert litellm_admin(sim, "/key/update", {"key": changed["key"], "models": [THIRD],
                                              "max_budget": 500}).status_code == 200
    with app.app_context():  # revoked here, but the delete never reached LiteLLM
        db.session.execute(update(ApiKey).where(ApiKey.id == uuid.UUID(zombie["id"]))
                           .values(provisioning_state="revoked", revoked_at=func.now()))
        db.session.commit()
    assert chat(sim, zombie["key"], OPEN).status_code == 200

    result = reconcile(client, login)
    found = repairs_by_key(result)
    assert found[lost["id"]] == ["key_recreated"]
    assert found[changed["id"]] == ["key_repushed"]
    assert found[zombie["id"]] == ["key_deleted_in_litellm"]
    assert healthy["id"] not in found
    assert result["repairCount"] == 3 and result["errors"] == []
    pushed = next(r for r in result["repairs"] if r["resourceId"] == changed["id"])
    assert sorted(pushed["fields"]) == ["max_budget", "models"]

    assert chat(sim, lost["key"], OPEN).status_code == 200  # the user's value works again
    row = sim_key(sim, changed["key"])
    assert row["models"] == [OPEN] and row["max_budget"] == 5.0
    assert chat(sim, changed["key"], THIRD).status_code == 403
    assert sim_key(sim, zombie["key"]) is None
    assert chat(sim, zombie["key"], OPEN).status_code == 401
    with app.app_context():
        audited = db.session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "RECONCILE_REPAIR"))
    assert audited == 3

    assert reconcile(client, login)["repairs"] == []  # nothing left to repair


def test_a_lost_key_without_an_encrypted_copy_is_marked_failed(
        app, client, login, sim, celery_worker, user):
    lost = create_key(client, user, [OPEN])
    litellm_admin(sim, "/key/delete", {"keys": [lost["key"]]})
    result = reconcile(client, login)
    assert repairs_by_key(result)[lost["id"]] == ["key_marked_failed"]
    shown = client.get(f"/api/v1/api-keys/{lost['id']}", headers=user).get_json()
    assert shown["status"] == "failed" and "no encrypted copy" in shown["provisioningError"]
    assert client.get("/api/v1/api-keys", headers={"X-API-Key": lost["key"]}).status_code == 401


def test_blocked_and_reassigned_keys_are_pushed_back(app, client, login, sim, celery_worker,
                                                     user):
    key = create_key(client, user, [OPEN])
    litellm_admin(sim, "/key/block", {"key": key["key"]})
    litellm_admin(sim, "/key/update", {"key": key["key"], "user_id": "someone-else",
                                       "rpm_limit": 1})
    result = reconcile(client, login)
    repair = result["repairs"][0]
    assert repair["action"] == "key_repushed"
    assert sorted(repair["fields"]) == ["blocked", "rpm_limit", "user_id"]
    row = sim_key(sim, key["key"])
    assert (row["blocked"], row["user_id"], row["rpm_limit"]) == (False, key["userId"], None)
    assert chat(sim, key["key"], OPEN).status_code == 200


def test_orphan_keys_made_by_litemaas_are_deleted_and_foreign_keys_kept(
        app, client, login, sim, celery_worker, user):
    create_key(client, user, [OPEN])
    orphan = "sk-" + uuid.uuid4().hex * 2
    foreign = "sk-" + uuid.uuid4().hex * 2
    litellm_admin(sim, "/key/generate", {"key": orphan, "models": [OPEN],
                                         "metadata": {"litemaas_key_id": str(uuid.uuid4())}})
    litellm_admin(sim, "/key/generate", {"key": foreign, "models": [OPEN]})
    long_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    with sim.state.lock:
        for row in sim.state.keys.values():
            row["created_at"] = long_ago
    result = reconcile(client, login)
    assert [r["action"] for r in result["repairs"]] == ["orphan_key_deleted"]
    assert sim_key(sim, orphan) is None
    assert sim_key(sim, foreign) is not None


def test_interrupted_revocation_and_stale_pending_key_are_finished(
        app, client, login, sim, celery_worker, user):
    revoking = create_key(client, user, [OPEN], name="revoking")
    with app.app_context():  # a revoke whose job was lost
        db.session.execute(update(ApiKey).where(ApiKey.id == uuid.UUID(revoking["id"]))
                           .values(provisioning_state="revoking"))
        db.session.commit()
    sim.configure(down=True)
    pending = client.post("/api/v1/api-keys", json={"name": "pending", "modelIds": [OPEN]},
                          headers=user).get_json()
    with app.app_context():  # its job gave up long ago
        db.session.execute(update(ApiKey).where(ApiKey.id == uuid.UUID(pending["id"]))
                           .values(created_at=func.now() - timedelta(hours=1)))
        db.session.commit()
    wait_for_job(client, user, pending["jobId"], statuses=("queued",), timeout=20)
    client.post(f"/api/v1/jobs/{pending['jobId']}/cancel", headers=login("admin"))
    sim.configure(down=False)

    found = repairs_by_key(reconcile(client, login))
    assert found[revoking["id"]] == ["revocation_completed"]
    assert found[pending["id"]] == ["pending_key_active"]
    assert sim_key(sim, revoking["key"]) is None
    assert chat(sim, pending["key"], OPEN).status_code == 200


def test_owner_missing_in_litellm_is_recreated_with_limits(app, client, login, sim,
                                                           celery_worker, user):
    key = create_key(client, user, [OPEN])
    with sim.state.lock:
        del sim.state.users[key["userId"]]
    result = reconcile(client, login)
    assert [(r["action"], r["resourceId"]) for r in result["repairs"]] == [
        ("user_recreated", key["userId"])]
    with sim.state.lock:
        litellm_user = dict(sim.state.users[key["userId"]])
    assert litellm_user["max_budget"] == app.config["DEFAULT_USER_MAX_BUDGET"]


def test_reconcile_requests_share_one_running_job(app, client, login, sim, celery_worker, user):
    create_key(client, user, [OPEN])
    admin = login("admin")
    sim.configure(latency_ms=400)
    first = client.post("/api/v1/admin/reconcile", headers=admin).get_json()
    second = client.post("/api/v1/admin/reconcile", headers=admin).get_json()
    assert first["jobId"] == second["jobId"]
    sim.configure(latency_ms=0)
    assert wait_for_job(client, admin, first["jobId"])["status"] == "succeeded"
    assert client.post("/api/v1/admin/reconcile", headers=login("adminro")).status_code == 403


def test_beat_schedules_reconciliation(app, client, login, sim, celery_worker, user):
    from worker.tasks.maintenance import enqueue_scheduled

    with app.app_context():
        job_id = enqueue_scheduled("reconcile")
    assert job_id is not None
    job = wait_for_job(client, login("admin"), job_id)
    assert job["status"] == "succeeded" and job["params"] == {"trigger": "scheduled"}


def test_transient_litellm_failure_retries_the_whole_run(app, client, login, sim,
                                                         celery_worker, user):
    create_key(client, user, [OPEN])
    admin = login("admin")
    sim.configure(down=True)
    job_id = client.post("/api/v1/admin/reconcile", headers=admin).get_json()["jobId"]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}", headers=admin).get_json()
        if job["error"]:
            break
        time.sleep(0.1)
    assert job["error"]["type"] == "LiteLLMUnavailable"
    sim.configure(down=False)
    assert wait_for_job(client, admin, job_id)["status"] == "succeeded"


def test_soft_budget_drift_is_read_from_litellms_budget_table_and_repaired(
        app, client, login, sim, celery_worker, user):
    """LiteLLM keeps a key's soft budget in a linked budget table (the key row's soft_budget
    stays null), so the drift check reads it there (issue 15 §5)."""
    key = create_key(client, user, [OPEN], maxBudget=10, softBudget=8)
    row = sim_key(sim, key["key"])
    assert row["soft_budget"] is None and row["litellm_budget_table"]["soft_budget"] == 8
    assert reconcile(client, login)["repairs"] == []  # in step: no false drift

    litellm_admin(sim, "/key/update", {"key": key["key"], "soft_budget": 1})
    result = reconcile(client, login)

    [repair] = result["repairs"]
    assert repair["action"] == "key_repushed" and repair["fields"] == ["soft_budget"]
    assert sim_key(sim, key["key"])["litellm_budget_table"]["soft_budget"] == 8
