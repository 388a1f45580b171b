"""L9: export files are readable by their owner only (file 0600, directory 0700) and are
deleted ``EXPORT_RETENTION_HOURS`` after they were written; the job then says the file expired."""

from __future__ import annotations

import os
import stat
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from app.extensions import db
from app.models import Job
from config.settings import Settings
from tests.support.jobs import wait_for_job
from worker.schedule import beat_schedule
from worker.tasks.usage import purge_expired_exports


@pytest.fixture
def export_dir(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "EXPORT_DIR", str(tmp_path / "exports"))
    old = os.umask(0o022)  # the usual umask: without the fix files come out 0644
    yield tmp_path / "exports"
    os.umask(old)


def export(client, headers) -> dict:
    response = client.post("/api/v1/admin/usage/export", json={"format": "csv"},
                           headers={**headers, "Prefer": "respond-async"})
    assert response.status_code == 202, response.get_json()
    job = wait_for_job(client, headers, response.get_json()["jobId"])
    assert job["status"] == "succeeded", job
    return job


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_export_files_are_owner_only(client, login, celery_worker, export_dir):
    job = export(client, login("admin"))
    assert mode(export_dir) == 0o700
    assert mode(export_dir / job["result"]["file"]) == 0o600


def test_old_exports_are_deleted_and_marked_expired(app, client, login, celery_worker,
                                                    export_dir):
    admin = login("admin")
    old, recent = export(client, admin), export(client, admin)
    with app.app_context():
        db.session.execute(update(Job).where(Job.id == uuid.UUID(old["id"]))
                           .values(finished_at=datetime.now(UTC) - timedelta(hours=73)))
        db.session.commit()
    long_ago = time.time() - 80 * 3600
    stray = export_dir / f"{uuid.uuid4()}.csv.part"  # a crashed export's partial file
    stray.write_text("x")
    os.utime(stray, (long_ago, long_ago))
    unrelated = export_dir / "README.txt"  # not ours: never touched
    unrelated.write_text("keep")
    os.utime(unrelated, (long_ago, long_ago))

    with app.app_context():
        outcome = purge_expired_exports()

    assert outcome == {"expired": 1, "strayFiles": 1}
    assert not (export_dir / old["result"]["file"]).exists()
    assert not stray.exists() and unrelated.exists()
    assert (export_dir / recent["result"]["file"]).is_file()
    body = client.get(f"/api/v1/jobs/{old['id']}", headers=admin).get_json()
    assert body["result"]["expiredAt"] and body["result"]["file"] is None
    gone = client.get(f"/api/v1/jobs/{old['id']}/download", headers=admin)
    assert gone.status_code == 404 and "expired" in gone.get_json()["error"]["message"]
    assert client.get(f"/api/v1/jobs/{recent['id']}/download", headers=admin).status_code == 200


def test_beat_runs_the_purge_unless_retention_is_off():
    tasks = {entry["task"] for entry in beat_schedule(Settings()).values()}
    assert "worker.tasks.usage.purge_expired_exports" in tasks
    off = beat_schedule(Settings(EXPORT_RETENTION_HOURS=0)).values()
    assert "worker.tasks.usage.purge_expired_exports" not in {e["task"] for e in off}
