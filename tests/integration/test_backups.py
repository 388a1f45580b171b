"""Backup and restore: a backup is a job writing a pg_dump archive (0600) with its exact row
counts; a restore (refused while other jobs run) test-restores into a scratch database, then
brings back exactly what was backed up, keeping the audit trail append-only. Readonly admins
see backups but never download, create, delete or restore them."""

from __future__ import annotations

import base64
import json
import stat
import time
from pathlib import Path

import pytest
from sqlalchemy import select, text

from app.extensions import db
from app.models import AuditLog, Base, Job
from tests.support.jobs import settle_jobs

# The trail and the job queue outlive a restore (see app/services/backups.py); every other
# table comes back exactly as it was.
LIVE_TABLES = ("jobs", "audit_logs")


@pytest.fixture
def created(app):
    """Backup ids made by a test, deleted after it (other runs share BACKUP_DIR)."""
    ids: list[str] = []
    yield ids
    directory = Path(app.config["BACKUP_DIR"]).resolve()
    for backup_id in ids:
        (directory / backup_id).unlink(missing_ok=True)
        (directory / f"{backup_id}.meta.json").unlink(missing_ok=True)


def contents(app) -> dict[str, list]:
    """Every row of every table (and the schema revision), in a stable order."""
    with app.app_context():
        tables = [t.name for t in Base.metadata.sorted_tables if t.name not in LIVE_TABLES]
        found = {}
        for name in [*tables, "alembic_version"]:
            rows = db.session.execute(text(f'SELECT * FROM "{name}"')).all()
            found[name] = sorted(repr(tuple(bytes(v) if isinstance(v, memoryview) else v
                                            for v in row)) for row in rows)
        db.session.remove()
    return found


def wait_job(client, headers, job_id: str, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/api/v1/jobs/{job_id}", headers=headers).get_json()
        if job.get("status") in ("succeeded", "failed", "cancelled"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.2)


def make_backup(client, admin, created) -> dict:
    response = client.post("/api/v1/admin/backup/create", json={"database": "litemaas"},
                           headers=admin)
    assert response.status_code == 202, response.get_json()
    job = wait_job(client, admin, response.get_json()["jobId"])
    assert job["status"] == "succeeded", job
    created.append(job["result"]["backupId"])
    return job["result"]["backup"]


def test_a_restore_brings_back_exactly_what_was_backed_up(app, client, login, celery_worker,
                                                          created):
    admin, user = login("admin"), login("user")
    banner = client.post("/api/v1/banners/admin", headers=admin, json={
        "name": "Before", "content": {"en": "before the backup"}, "isActive": True,
        "isDismissible": True}).get_json()["banner"]
    client.post(f"/api/v1/banners/{banner['id']}/dismiss", headers=user)
    client.patch("/api/v1/branding", headers=admin,
                 json={"loginTitleEnabled": True, "loginTitle": "Before"})
    client.put("/api/v1/branding/images/login-logo", headers=admin, json={
        "data": base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256))).decode(),
        "mimeType": "image/png"})
    settle_jobs(app)
    before = contents(app)

    backup = make_backup(client, admin, created)
    counts = backup["metadata"]["rowCounts"]
    assert {name: counts[name] for name in before if name != "alembic_version"} == \
        {name: len(rows) for name, rows in before.items() if name != "alembic_version"}
    path = Path(app.config["BACKUP_DIR"]).resolve() / backup["id"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    listed = client.get("/api/v1/admin/backup", headers=login("adminro")).get_json()["data"]
    assert backup["id"] in [b["id"] for b in listed]

    # the world moves on
    client.delete(f"/api/v1/banners/admin/{banner['id']}", headers=admin)
    client.patch("/api/v1/branding", headers=admin, json={"loginTitle": "After"})
    client.delete("/api/v1/branding/images/login-logo", headers=admin)
    login("newcomer")
    settle_jobs(app)
    with app.app_context():  # as a later migration would: a table the backup does not know
        db.session.execute(text("CREATE TABLE added_since_backup (id int)"))
        db.session.commit()
        db.session.remove()
    assert contents(app) != before
    with app.app_context():
        since_backup = set(db.session.scalars(select(AuditLog.id)))

    response = client.post(f"/api/v1/admin/backup/{backup['id']}/restore", headers=admin,
                           json={"database": "litemaas"})
    if response.status_code == 202:
        job = wait_job(client, admin, response.get_json()["jobId"])
        assert job["status"] == "succeeded", job
    else:
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["data"]["success"] is True
    settle_jobs(app)  # the reconciliation a restore queues

    assert contents(app) == before
    with app.app_context():
        assert db.session.execute(text("SELECT to_regclass('added_since_backup')")
                                  ).scalar() is None
        kept = set(db.session.scalars(select(AuditLog.id)))
        actions = set(db.session.scalars(select(AuditLog.action)))
        restore_job = db.session.scalar(select(Job).where(Job.kind == "backup_restore"))
        assert restore_job.status == "succeeded"
    assert since_backup <= kept, "the audit trail lost rows written after the backup"
    assert "BACKUP_RESTORED" in actions and "BANNER_DELETED" in actions
    assert client.get("/api/v1/branding").get_json()["loginTitle"] == "Before"


def test_test_restore_checks_a_backup_in_a_scratch_database(app, client, login, celery_worker,
                                                            created):
    import uuid

    scratch = f"backup_test_{uuid.uuid4().hex[:8]}"  # test runs share the server
    admin = login("admin")
    settle_jobs(app)
    backup = make_backup(client, admin, created)
    response = client.post(f"/api/v1/admin/backup/{backup['id']}/test-restore", headers=admin,
                           json={"database": "litemaas", "testSchemaName": scratch})
    assert response.status_code == 200, response.get_json()
    result = response.get_json()["data"]
    assert result["success"] is True and result["warnings"] == []
    assert result["tablesRestored"] == backup["metadata"]["tableCount"]
    assert result["rowsRestored"] == sum(backup["metadata"]["rowCounts"].values())
    assert result["testSchema"] == f"ltm_{scratch}"
    with app.app_context():  # the scratch database is gone
        assert db.session.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                  {"n": f"ltm_{scratch}"}).first() is None
        db.session.remove()


def test_a_changed_backup_file_is_never_restored(app, client, login, celery_worker, created):
    admin = login("admin")
    settle_jobs(app)
    backup = make_backup(client, admin, created)
    path = Path(app.config["BACKUP_DIR"]).resolve() / backup["id"]
    with path.open("ab") as handle:
        handle.write(b"tampered")
    response = client.post(f"/api/v1/admin/backup/{backup['id']}/restore", headers=admin,
                           json={"database": "litemaas"})
    assert response.status_code == 422, response.get_json()
    assert "SHA-256" in response.get_json()["error"]["message"]


def test_a_restore_is_refused_while_other_jobs_run(app, client, login, celery_worker, created):
    admin = login("admin")
    settle_jobs(app)
    backup = make_backup(client, admin, created)
    with app.app_context():
        db.session.add(Job(kind="worker_ping", status="running", params={}))
        db.session.commit()
    response = client.post(f"/api/v1/admin/backup/{backup['id']}/restore", headers=admin,
                           json={"database": "litemaas"})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "JOBS_RUNNING"
    with app.app_context():
        db.session.execute(text("UPDATE jobs SET status = 'cancelled' WHERE status = 'running'"))
        db.session.commit()


def test_status_download_and_delete(app, client, login, celery_worker, created):
    admin, adminro = login("admin"), login("adminro")
    assert client.get("/api/v1/admin/backup/status", headers=admin).get_json()["data"] == \
        {"state": "idle"}
    settle_jobs(app)
    backup = make_backup(client, admin, created)
    state = client.get("/api/v1/admin/backup/status", headers=adminro).get_json()["data"]
    assert state["state"] == "completed" and state["backup"]["id"] == backup["id"]
    caps = client.get("/api/v1/admin/backup/capabilities", headers=adminro).get_json()["data"]
    assert caps["litemaasAvailable"] is True and caps["litellmConfigured"] is False
    download = client.get(f"/api/v1/admin/backup/{backup['id']}/download", headers=admin)
    assert download.status_code == 200 and download.data.startswith(b"PGDMP")
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert client.get(f"/api/v1/admin/backup/{backup['id']}/download",
                      headers=adminro).status_code == 403
    with app.app_context():
        assert db.session.scalar(select(AuditLog.id).where(
            AuditLog.action == "BACKUP_DOWNLOADED")) is not None
        db.session.remove()
    assert client.delete(f"/api/v1/admin/backup/{backup['id']}",
                         headers=adminro).status_code == 403
    assert client.delete(f"/api/v1/admin/backup/{backup['id']}", headers=admin).status_code \
        == 200
    assert client.get(f"/api/v1/admin/backup/{backup['id']}", headers=admin).status_code == 404


@pytest.mark.parametrize("backup_id", ["../../etc/passwd", "..%2F..%2Fetc%2Fpasswd",
                                       "litemaas-x.dump", "x" * 300])
def test_unknown_or_crafted_backup_ids_are_404(client, login, backup_id):
    admin = login("admin")
    for method, suffix in (("GET", ""), ("GET", "/download"), ("DELETE", "")):
        response = client.open(f"/api/v1/admin/backup/{backup_id}{suffix}", method=method,
                               headers=admin)
        assert response.status_code == 404, (method, suffix, response.status_code)
    restore = client.post(f"/api/v1/admin/backup/{backup_id}/restore", headers=admin,
                          json={"database": "litemaas"})
    assert restore.status_code == 404


def test_bad_backup_requests_are_refused(client, login, app):
    admin = login("admin")
    for body in ({}, {"database": "postgres"}, {"database": "litemaas", "extra": 1}):
        assert client.post("/api/v1/admin/backup/create", json=body,
                           headers=admin).status_code == 400
    litellm = client.post("/api/v1/admin/backup/create", json={"database": "litellm"},
                          headers=admin)
    assert litellm.status_code == 400
    assert litellm.get_json()["error"]["code"] == "DATABASE_NOT_CONFIGURED"
    for who in ("adminro", "user"):
        assert client.post("/api/v1/admin/backup/create", json={"database": "litemaas"},
                           headers=login(who)).status_code == 403
    assert client.get("/api/v1/admin/backup", headers=login("user")).status_code == 403
    with app.app_context():
        assert db.session.scalar(select(Job.id).where(Job.kind == "backup_create")) is None


def test_metadata_file_is_private_and_names_its_checksum(app, client, login, celery_worker,
                                                         created):
    admin = login("admin")
    settle_jobs(app)
    backup = make_backup(client, admin, created)
    meta = Path(app.config["BACKUP_DIR"]).resolve() / f"{backup['id']}.meta.json"
    assert stat.S_IMODE(meta.stat().st_mode) == 0o600
    listed = client.get(f"/api/v1/admin/backup/{backup['id']}", headers=admin).get_json()
    assert json.loads(meta.read_text())["sha256"] == listed["data"]["metadata"]["sha256"]
    assert len(listed["data"]["metadata"]["sha256"]) == 64


def test_litellm_database_is_backed_up_and_restored_when_configured(app, settings):
    """LiteLLM's own database (LITELLM_DATABASE_URL): the same backup, test-restore and
    restore, run here by the service in a second app configured for it."""
    import uuid

    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from app.services import backups, restores
    from tests.support.apps import extra_app

    base = make_url(settings.sqlalchemy_url)
    name = f"ltm_fake_litellm_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    litellm = create_engine(base.set(database=name))
    table = '"LiteLLM_VerificationToken"'
    with litellm.begin() as conn:
        conn.execute(text(f"CREATE TABLE {table} (token text PRIMARY KEY, spend numeric)"))
        conn.execute(text(f"INSERT INTO {table} VALUES ('a', 1.5), ('b', 0), ('c', 2)"))
    url = base.set(database=name).render_as_string(hide_password=False)
    backup_id = None
    try:
        with extra_app(settings, LITELLM_DATABASE_URL=url) as other, other.app_context():
            assert backups.capabilities()["litellm_available"] is True
            job = Job(kind="backup_create", status="running", params={"database": "litellm"})
            db.session.add(job)
            db.session.commit()
            result = backups.run_backup(job.id, {"database": "litellm"})
            backup_id = result["backupId"]
            assert result["backup"]["metadata"]["rowCounts"] == {
                "LiteLLM_VerificationToken": 3}
            job.status = "succeeded"
            db.session.commit()
            with litellm.begin() as conn:
                conn.execute(text(f"DELETE FROM {table} WHERE token <> 'a'"))
                conn.execute(text(f"UPDATE {table} SET spend = 99"))
            restore = Job(kind="backup_restore", status="running",
                          params={"database": "litellm", "backupId": backup_id})
            db.session.add(restore)
            db.session.commit()
            done = restores.run_restore(restore.id, restore.params)
            assert done["success"] and done["testRestore"]["rowsRestored"] == 3
            db.session.remove()
        with litellm.connect() as conn:
            rows = conn.execute(text(f"SELECT token, spend FROM {table} ORDER BY 1")).all()
        assert [(t, float(s)) for t, s in rows] == [("a", 1.5), ("b", 0.0), ("c", 2.0)]
    finally:
        litellm.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        if backup_id:
            directory = Path(app.config["BACKUP_DIR"]).resolve()
            (directory / backup_id).unlink(missing_ok=True)
            (directory / f"{backup_id}.meta.json").unlink(missing_ok=True)


def test_a_test_restore_never_drops_a_database_it_did_not_make(app, client, login,
                                                                celery_worker, created):
    import uuid

    name = f"precious_{uuid.uuid4().hex[:8]}"  # test runs share the server
    admin = login("admin")
    settle_jobs(app)
    backup = make_backup(client, admin, created)
    with app.app_context(), db.engine.connect().execution_options(
            isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "ltm_{name}"'))
    try:
        response = client.post(f"/api/v1/admin/backup/{backup['id']}/test-restore",
                               headers=admin,
                               json={"database": "litemaas", "testSchemaName": name})
        assert response.status_code == 422
        assert "already exists" in response.get_json()["error"]["message"]
        with app.app_context():
            assert db.session.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                      {"n": f"ltm_{name}"}).first() is not None
            db.session.remove()
    finally:
        with app.app_context(), db.engine.connect().execution_options(
                isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "ltm_{name}" WITH (FORCE)'))
