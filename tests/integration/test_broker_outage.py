"""A broker outage never answers an error for a change that was made, nor loses its job.

Every route that records a job is called while the broker refuses every publish: the route
answers its usual success, the change is there, its job row is ``queued`` and never published;
once the broker is back, beat's recovery pass publishes exactly those jobs. Jobs are published
after the commit of the request's one unit of work (``app/services/jobs.py``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest
from kombu.exceptions import OperationalError
from sqlalchemy import select, update

from app.extensions import db
from app.models import ApiKey, Job, Model, Subscription, Team, User
from tests.integration.provisioning_support import create_key, seed_models, subscribe, user_id
from worker.tasks.maintenance import republish_stale_jobs

OPEN = "gpt-4o"


@dataclass
class Broker:
    """The session app's publisher: down refuses, up records what it would send."""

    up: bool = True
    sent: list[str] = field(default_factory=list)

    def send_task(self, name, args=None, task_id=None, **_):
        if not self.up:
            raise OperationalError("Error 111 connecting to the broker. Connection refused.")
        self.sent.append(task_id)


@pytest.fixture
def broker(app, monkeypatch):
    fake = Broker()
    monkeypatch.setattr(app.extensions["celery"], "send_task", fake.send_task)
    return fake


def _jobs(app) -> dict[uuid.UUID, Job]:
    with app.app_context():
        rows = db.session.scalars(select(Job)).all()
        db.session.expunge_all()
        db.session.remove()
    return {job.id: job for job in rows}


def _row(app, model, ident):
    with app.app_context():
        row = db.session.get(model, ident)
        if row is not None:
            db.session.expunge(row)
        db.session.remove()
        return row


def _outage(app, broker, call, kinds: set[str]):
    """Run ``call`` with the broker down; its jobs of ``kinds`` are recorded, not published,
    then recovered by beat once the broker is back. Returns the response."""
    before = set(_jobs(app))
    broker.up = False
    response = call()
    broker.up = True
    assert response.status_code < 400, response.get_json()
    new = {job_id: job for job_id, job in _jobs(app).items() if job_id not in before}
    assert kinds <= {job.kind for job in new.values()}, new
    assert all(job.status == "queued" and job.published_at is None for job in new.values())
    with app.app_context():
        app.config["JOB_REPUBLISH_AFTER_SECONDS"] = 0
        try:
            republish_stale_jobs.run()
        finally:
            app.config["JOB_REPUBLISH_AFTER_SECONDS"] = 60
        db.session.remove()
    assert {str(job_id) for job_id in new} <= set(broker.sent)
    assert all(_jobs(app)[job_id].published_at is not None for job_id in new)
    return response


@pytest.fixture
def world(app, client, login, sim, broker):
    """An admin, and a user subscribed to an open model with one active key."""
    seed_models(app, sim, count=2)
    admin, user = login("admin"), login("user")
    subscription = subscribe(client, user, OPEN)
    key = create_key(client, user, [OPEN])
    return {"admin": admin, "user": user, "key": key, "subscription": subscription,
            "user_id": uuid.UUID(user_id(client, user))}


def test_sign_in(app, client, broker):
    response = _outage(app, broker, lambda: client.post("/api/v1/auth/login",
                                                        json={"username": "newcomer"}),
                       {"provision_user"})
    assert response.get_json()["accessToken"]


def test_key_update(app, client, world, broker):
    key = world["key"]
    _outage(app, broker, lambda: client.patch(f"/api/v1/api-keys/{key['id']}",
                                              json={"name": "renamed"}, headers=world["user"]),
            {"update_key"})
    assert _row(app, ApiKey, uuid.UUID(key["id"])).name == "renamed"


def test_key_rotate(app, client, world, broker):
    key = world["key"]
    response = _outage(app, broker, lambda: client.post(f"/api/v1/api-keys/{key['id']}/rotate",
                                                        headers=world["user"]), {"revoke_key"})
    assert response.get_json()["key"] != key["key"]
    assert client.get("/api/v1/api-keys", headers={"X-API-Key": key["key"]}).status_code == 401


def test_key_reset_spend(app, client, world, broker):
    key = world["key"]
    _outage(app, broker, lambda: client.post(f"/api/v1/api-keys/{key['id']}/reset-spend",
                                             headers=world["user"]), {"update_key"})


@pytest.mark.parametrize("as_admin", [False, True])
def test_key_revoke(app, client, world, broker, as_admin):
    key = world["key"]
    if as_admin:
        def call():
            return client.post(f"/api/v1/admin/api-keys/{key['id']}/revoke",
                               json={"reason": "outage test"}, headers=world["admin"])
    else:
        def call():
            return client.delete(f"/api/v1/api-keys/{key['id']}", headers=world["user"])
    _outage(app, broker, call, {"revoke_key"})
    assert _row(app, ApiKey, uuid.UUID(key["id"])).provisioning_state == "revoking"
    assert client.get("/api/v1/api-keys", headers={"X-API-Key": key["key"]}).status_code == 401


def test_subscription_cancel(app, client, world, broker):
    subscription = world["subscription"]
    _outage(app, broker, lambda: client.post(
        f"/api/v1/subscriptions/{subscription['id']}/cancel", json={}, headers=world["user"]),
        {"remove_models_from_keys"})
    assert _row(app, Subscription, uuid.UUID(subscription["id"])).status == "cancelled"


def test_subscription_suspend(app, client, world, broker):
    subscription = world["subscription"]
    _outage(app, broker, lambda: client.post(
        f"/api/v1/admin/subscriptions/{subscription['id']}/suspend", json={"reason": "x"},
        headers=world["admin"]), {"remove_models_from_keys"})
    assert _row(app, Subscription, uuid.UUID(subscription["id"])).status == "suspended"


def test_user_update_limits_and_deactivation(app, client, world, broker):
    _outage(app, broker, lambda: client.patch(
        f"/api/v1/users/{world['user_id']}", json={"maxBudget": 42, "isActive": False},
        headers=world["admin"]), {"provision_user", "update_key"})
    user = _row(app, User, world["user_id"])
    assert user.is_active is False and float(user.max_budget) == 42


def test_model_restricted(app, client, world, broker):
    _outage(app, broker, lambda: client.patch(f"/api/v1/models/{OPEN}",
                                              json={"restrictedAccess": True},
                                              headers=world["admin"]),
            {"remove_models_from_keys"})
    assert _row(app, Model, OPEN).restricted is True


def test_teams(app, client, world, broker):
    admin = world["admin"]
    created = _outage(app, broker, lambda: client.post("/api/v1/teams", json={"name": "outage"},
                                                       headers=admin), {"provision_team"})
    team_id = created.get_json()["id"]
    _outage(app, broker, lambda: client.patch(f"/api/v1/teams/{team_id}",
                                              json={"maxBudget": 10}, headers=admin),
            {"provision_team"})
    _outage(app, broker, lambda: client.post(f"/api/v1/teams/{team_id}/members",
                                             json={"userId": str(world["user_id"]),
                                                   "role": "member"}, headers=admin),
            {"provision_team"})
    _outage(app, broker, lambda: client.patch(f"/api/v1/teams/{team_id}/members/"
                                              f"{world['user_id']}", json={"role": "owner"},
                                              headers=admin), {"provision_team"})
    _outage(app, broker, lambda: client.delete(f"/api/v1/teams/{team_id}/members/"
                                               f"{world['user_id']}", headers=admin),
            {"provision_team"})
    _outage(app, broker, lambda: client.delete(f"/api/v1/teams/{team_id}", headers=admin),
            {"delete_team"})
    assert _row(app, Team, uuid.UUID(team_id)) is None


@pytest.mark.parametrize(("path", "body", "kind"), [
    ("/api/v1/jobs/ping", {"seconds": 0}, "worker_ping"),
    ("/api/v1/models/sync", {}, "sync_models"),
    ("/api/v1/admin/reconcile", None, "reconcile"),
    ("/api/v1/admin/usage/rollup", {}, "usage_rollup"),
    ("/api/v1/admin/usage/export", {"format": "csv"}, "usage_export"),
    ("/api/v1/admin/usage/refresh-today", {}, "usage_rollup"),
    ("/api/v1/admin/backup/create", {"database": "litemaas"}, "backup_create"),
])
def test_enqueue_endpoints_answer_202_with_the_recorded_job(app, client, login, broker, path,
                                                            body, kind, monkeypatch):
    monkeypatch.setitem(app.config, "UI_JOB_WAIT_SECONDS", 0.2)  # the UI's short wait
    admin = login("admin")
    response = _outage(app, broker, lambda: client.post(path, json=body, headers=admin),
                       {kind})
    assert response.status_code == 202
    job_id = response.get_json()["jobId"]
    assert client.get(f"/api/v1/jobs/{job_id}", headers=admin).get_json()["status"] == "queued"


# -- issue 16: models in LiteLLM and the approvals page -------------------------------------


def test_admin_model_restricted_and_deleted(app, client, world, broker, sim):
    admin = world["admin"]
    created = client.post("/api/v1/admin/models", headers=admin, json={
        "model_name": "outage-model", "backend_model_name": "gpt-4o",
        "api_base": f"{sim.url}/v1", "api_key": "prov-key", "input_cost_per_token": 0,
        "output_cost_per_token": 0, "tpm": 1, "rpm": 1, "max_tokens": 1,
        "supports_vision": False, "supports_function_calling": False,
        "supports_parallel_function_calling": False, "supports_tool_choice": False})
    assert created.status_code == 201, created.get_json()
    subscribe(client, world["user"], "outage-model")
    _outage(app, broker, lambda: client.put("/api/v1/admin/models/outage-model",
                                            json={"restrictedAccess": True}, headers=admin),
            {"remove_models_from_keys"})
    assert _row(app, Model, "outage-model").restricted is True
    _outage(app, broker, lambda: client.delete("/api/v1/admin/models/outage-model",
                                               headers=admin), {"remove_models_from_keys"})
    assert _row(app, Model, "outage-model").availability == "unavailable"


@pytest.mark.parametrize("how", ["bulk-deny", "revert", "delete"])
def test_approvals_page_takes_access_away(app, client, world, broker, how):
    subscription, admin = world["subscription"], world["admin"]
    calls = {
        "bulk-deny": lambda: client.post("/api/v1/admin/subscriptions/deny", headers=admin,
                                         json={"subscriptionIds": [subscription["id"]],
                                               "reason": "outage"}),
        "revert": lambda: client.post(f"/api/v1/admin/subscriptions/{subscription['id']}"
                                      "/revert", json={"newStatus": "denied"}, headers=admin),
        "delete": lambda: client.delete(f"/api/v1/admin/subscriptions/{subscription['id']}",
                                        headers=admin),
    }
    _outage(app, broker, calls[how], {"remove_models_from_keys"})
    row = _row(app, Subscription, uuid.UUID(subscription["id"]))
    assert row is None if how == "delete" else row.status == "denied"


@pytest.mark.parametrize(("action", "kind"), [("restore", "backup_restore"),
                                              ("test-restore", "backup_test_restore")])
def test_restores_answer_202_with_the_recorded_job(app, client, login, broker, monkeypatch,
                                                    action, kind):
    import hashlib
    import json
    from pathlib import Path

    directory = Path(app.config["BACKUP_DIR"]).resolve()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    backup_id = f"litemaas-20260101T000000Z-{uuid.uuid4().hex[:8]}.dump"
    content = b"PGDMP stand-in"
    (directory / backup_id).write_bytes(content)
    (directory / f"{backup_id}.meta.json").write_text(json.dumps({
        "database": "litemaas", "timestamp": "2026-01-01T00:00:00+00:00",
        "sha256": hashlib.sha256(content).hexdigest()}))
    monkeypatch.setitem(app.config, "BACKUP_RESTORE_WAIT_SECONDS", 0.5)
    try:
        admin = login("admin")
        with app.app_context():  # a restore waits for every other job: the sign-in's one
            db.session.execute(update(Job).where(Job.status == "queued")
                               .values(status="cancelled"))
            db.session.commit()
            db.session.remove()
        response = _outage(app, broker, lambda: client.post(
            f"/api/v1/admin/backup/{backup_id}/{action}", json={"database": "litemaas"},
            headers=admin), {kind})
        assert response.status_code == 202
    finally:
        (directory / backup_id).unlink(missing_ok=True)
        (directory / f"{backup_id}.meta.json").unlink(missing_ok=True)


def test_the_answer_shows_the_job_as_committed_though_a_worker_was_faster(
        app, client, login, broker, monkeypatch):
    """The task is sent after the commit; a worker may claim the job before the answer is
    written, and the answer still shows what this request committed (queued)."""
    from sqlalchemy import update

    def instant_worker(name, args=None, task_id=None, **_):
        with db.engine.begin() as conn:
            conn.execute(update(Job).where(Job.id == uuid.UUID(task_id))
                         .values(status="running"))

    monkeypatch.setattr(app.extensions["celery"], "send_task", instant_worker)
    admin = login("admin")
    response = client.post("/api/v1/jobs/ping", json={"seconds": 0}, headers=admin)
    assert response.status_code == 202
    assert response.get_json()["status"] == "queued"
    job_id = response.get_json()["jobId"]
    assert client.get(f"/api/v1/jobs/{job_id}", headers=admin).get_json()["status"] == "running"


def test_admin_user_dialog(app, client, world, broker):
    """The admin user dialog's changes (budget, spend, the user's key) and bulk limits."""
    admin, user, key = world["admin"], world["user_id"], world["key"]
    base = f"/api/v1/admin/users/{user}"
    _outage(app, broker, lambda: client.patch(f"{base}/budget-limits", json={"maxBudget": 9},
                                              headers=admin), {"provision_user"})
    assert float(_row(app, User, user).max_budget) == 9
    _outage(app, broker, lambda: client.post(f"{base}/reset-spend", headers=admin),
            {"provision_user"})
    _outage(app, broker, lambda: client.patch(f"{base}/api-keys/{key['id']}",
                                              json={"name": "by admin"}, headers=admin),
            {"update_key"})
    _outage(app, broker, lambda: client.post(f"{base}/api-keys/{key['id']}/reset-spend",
                                             headers=admin), {"update_key"})
    _outage(app, broker, lambda: client.delete(f"{base}/api-keys/{key['id']}", headers=admin),
            {"revoke_key"})
    assert _row(app, ApiKey, uuid.UUID(key["id"])).provisioning_state == "revoking"
    bulk = _outage(app, broker, lambda: client.post(
        "/api/v1/admin/users/bulk-update-limits", json={"rpmLimit": 5}, headers=admin),
        {"bulk_update_user_limits"})
    assert bulk.status_code == 202 and bulk.get_json()["status"] == "queued"


def test_key_enable_after_idle_disable(app, client, world, broker):
    key = world["key"]
    with app.app_context():
        from datetime import UTC, datetime

        db.session.get(ApiKey, uuid.UUID(key["id"])).disabled_at = datetime.now(UTC)
        db.session.commit()
    _outage(app, broker, lambda: client.post(f"/api/v1/api-keys/{key['id']}/enable",
                                             headers=world["user"]), {"update_key"})
    assert _row(app, ApiKey, uuid.UUID(key["id"])).disabled_at is None


def test_subscription_renewal_request_notifies_channels(app, client, world, broker):
    from datetime import UTC, datetime, timedelta

    from app.models import NotificationChannel

    subscription = world["subscription"]
    with app.app_context():
        db.session.get(Subscription, uuid.UUID(subscription["id"])).expires_at = (
            datetime.now(UTC) + timedelta(days=2))
        db.session.add(NotificationChannel(name="outage-hook", kind="webhook",
                                           url="http://127.0.0.1:9/hook", events=["*"]))
        db.session.commit()
    _outage(app, broker, lambda: client.post(
        f"/api/v1/subscriptions/{subscription['id']}/request-renewal", headers=world["user"]),
        {"deliver_notification"})
    assert _row(app, Subscription, uuid.UUID(subscription["id"])).renewal_requested_at
