"""Jobs through the API with a real worker: enqueue → succeeded, progress, cancel, listing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from app.models import Job
from tests.support.jobs import wait_for_job

ROOT = Path(__file__).resolve().parents[2]


def test_enqueued_job_reaches_succeeded_via_real_worker(client, login, celery_worker):
    admin = login("admin")
    response = client.post("/api/v1/jobs/ping", json={"seconds": 0.5}, headers=admin)
    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "queued"
    assert response.headers["Location"] == body["links"]["self"]
    job = wait_for_job(client, admin, body["jobId"])
    assert job["status"] == "succeeded"
    assert job["progress"] == 100
    assert job["result"]["pong"] is True
    assert job["attempts"] == 1
    assert job["startedAt"] and job["finishedAt"]


def test_progress_is_visible_while_running(client, login, celery_worker):
    admin = login("admin")
    job_id = client.post("/api/v1/jobs/ping", json={"seconds": 3}, headers=admin).get_json()[
        "jobId"]
    seen = set()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}", headers=admin).get_json()
        seen.add(job["progress"])
        if job["status"] == "succeeded":
            break
        time.sleep(0.1)
    assert any(0 < p < 100 for p in seen), seen


def test_cancel_stops_a_running_job(client, login, celery_worker):
    admin = login("admin")
    job_id = client.post("/api/v1/jobs/ping", json={"seconds": 10}, headers=admin).get_json()[
        "jobId"]
    wait_for_job(client, admin, job_id, statuses=("running",))
    response = client.post(f"/api/v1/jobs/{job_id}/cancel", headers=admin)
    assert response.status_code == 200
    assert response.get_json()["status"] == "cancelled"
    time.sleep(1.0)
    job = client.get(f"/api/v1/jobs/{job_id}", headers=admin).get_json()
    assert job["status"] == "cancelled"
    assert client.post(f"/api/v1/jobs/{job_id}/cancel", headers=admin).status_code == 409


def test_job_list_filters_and_paginates(client, login, app):
    admin = login("admin")
    with app.app_context():
        from app.extensions import db

        for i in range(5):
            db.session.add(Job(kind="worker_ping", status="succeeded" if i % 2 else "failed",
                               params={}))
        db.session.commit()
    page = client.get("/api/v1/jobs?status=failed&limit=2", headers=admin).get_json()
    assert page["pagination"] == {"page": 1, "limit": 2, "total": 3, "totalPages": 2}
    assert all(j["status"] == "failed" for j in page["data"])
    assert client.get("/api/v1/jobs?status=bogus", headers=admin).status_code == 400
    assert client.get("/api/v1/jobs?limit=1000", headers=admin).status_code == 400


def test_roles_on_job_endpoints(client, login, app):
    user, adminro = login("user"), login("adminro")
    assert client.get("/api/v1/jobs").status_code == 401
    assert client.get("/api/v1/jobs", headers=user).status_code == 403
    assert client.get("/api/v1/jobs", headers=adminro).status_code == 200
    assert client.post("/api/v1/jobs/ping", json={}, headers=adminro).status_code == 403
    with app.app_context():
        from app.extensions import db

        job = Job(kind="worker_ping", status="queued", params={})
        db.session.add(job)
        db.session.commit()
        job_id = job.id
    # another user's job is invisible (404, not 403); admins see it
    assert client.get(f"/api/v1/jobs/{job_id}", headers=user).status_code == 404
    assert client.get(f"/api/v1/jobs/{job_id}", headers=adminro).status_code == 200
    assert client.post(f"/api/v1/jobs/{job_id}/cancel", headers=adminro).status_code == 403


def test_stale_queued_job_is_republished_and_finishes(app, celery_worker):
    from app.extensions import db
    from app.services import jobs

    republish_stale_jobs = app.extensions["celery"].tasks[
        "worker.tasks.maintenance.republish_stale_jobs"]
    with app.app_context():
        job = Job(kind="worker_ping", status="queued", params={"seconds": 0})
        db.session.add(job)
        db.session.commit()  # committed but never published: a lost publish
        db.session.execute(
            Job.__table__.update().where(Job.id == job.id)
            .values(created_at=Job.created_at - __import__("datetime").timedelta(hours=1)))
        db.session.commit()
        assert republish_stale_jobs() == 1
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            db.session.expire_all()
            if jobs.get(job.id).status == "succeeded":
                break
            time.sleep(0.1)
        assert jobs.get(job.id).status == "succeeded"


def _worker_process(env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "worker.app", "worker", "--pool", "solo",
         "-Q", "default", "--loglevel", "INFO", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_killed_worker_leaves_job_redelivered_and_finished_once(app, settings):
    """SIGKILL the worker mid-task: another worker redelivers it and it finishes once."""
    from app import create_app
    from app.extensions import db
    from app.models import AuditLog
    from app.services import jobs

    isolated = settings.with_overrides(REDIS_KEY_PREFIX=f"kill-{uuid.uuid4().hex[:8]}:")
    env = {**os.environ, "APP_ENV": "test", "DATABASE_URL": settings.DATABASE_URL,
           "REDIS_URL": settings.REDIS_URL, "REDIS_KEY_PREFIX": isolated.REDIS_KEY_PREFIX,
           "LITELLM_API_URL": settings.LITELLM_API_URL, "JOB_LEASE_SECONDS": "4",
           "CELERY_VISIBILITY_TIMEOUT": "6", "MODEL_SYNC_INTERVAL": "0"}
    worker_app = create_app(isolated)
    first = _worker_process(env)
    second = None
    try:
        with worker_app.app_context():
            job, _ = jobs.enqueue("worker_ping", {"seconds": 6})
            job_id = job.id
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                db.session.expire_all()
                current = jobs.get(job_id)
                if current.status == "running" and current.progress > 0:
                    break
                time.sleep(0.1)
            assert current.status == "running"
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            second = _worker_process(env)
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                db.session.expire_all()
                if jobs.get(job_id).status == "succeeded":
                    break
                time.sleep(0.25)
            finished = jobs.get(job_id)
            assert finished.status == "succeeded"
            assert finished.attempts == 2
            outcomes = db.session.query(AuditLog).filter(
                AuditLog.resource_id == str(job_id), AuditLog.action == "JOB_SUCCEEDED").count()
            assert outcomes == 1
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=20)
