"""Backup and restore (upstream LiteMaaS' ``/admin/backup*`` contract): admins and readonly
admins see backups and their status; only admins create, download, delete and restore."""

from __future__ import annotations

from flask import current_app, send_file
from flask.views import MethodView

from app.api.base import Blueprint
from app.api.jobs import waited
from app.auth.identity import authenticate
from app.errors import NotFound, Unprocessable
from app.models import ACTIVE_JOB_STATUSES
from app.schemas.backups import (
    BackupCreateSchema,
    BackupDeletedSchema,
    BackupInfoEnvelopeSchema,
    BackupListSchema,
    BackupStartedSchema,
    BackupStatusEnvelopeSchema,
    CapabilitiesEnvelopeSchema,
    RestoreAcceptedSchema,
    RestoreDoneSchema,
    RestoreSchema,
    TestRestoreSchema,
)
from app.services import backups, jobs

blp = Blueprint("admin_backup", __name__, url_prefix="/admin/backup",
                description="Database backup and restore")
RESTORE_WAIT_SECONDS = 20.0  # the settings page waits for the answer; longer ones are jobs


@blp.route("")
class Backups(MethodView):
    @blp.auth("backups:read")
    @blp.response(200, BackupListSchema)
    def get(self):
        """Backups in `BACKUP_DIR`, newest first."""
        return {"data": backups.list_backups()}


@blp.route("/capabilities")
class Capabilities(MethodView):
    @blp.auth("backups:read")
    @blp.response(200, CapabilitiesEnvelopeSchema)
    def get(self):
        """Which databases can be backed up (tools matching each server), and where to."""
        return {"data": backups.capabilities()}


@blp.route("/status")
class Status(MethodView):
    @blp.auth("backups:read")
    @blp.response(200, BackupStatusEnvelopeSchema)
    def get(self):
        """The latest backup job: idle, running (with table-level progress), completed or
        failed."""
        return {"data": backups.status()}


@blp.route("/create")
class Create(MethodView):
    @blp.auth("backups:write")
    @blp.arguments(BackupCreateSchema)
    @blp.response(202, BackupStartedSchema)
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE",
                      description="Database unreachable or no pg_dump for its version")
    def post(self, body):
        """Start a backup job (one per database at a time: a second request answers the
        running one)."""
        job = backups.request_backup(body["database"], authenticate())
        link = jobs.link(job.id)
        return ({"job_id": job.id, "status": job.status, "links": {"self": link},
                 "data": backups.status()}, 202, {"Location": link})


@blp.route("/<string:backup_id>")
class BackupById(MethodView):
    @blp.auth("backups:read")
    @blp.response(200, BackupInfoEnvelopeSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, backup_id: str):
        """One backup and its metadata (tables, rows per table, checksum)."""
        return {"data": backups.info(backup_id)}

    @blp.auth("backups:write")
    @blp.response(200, BackupDeletedSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT", description="Being restored")
    def delete(self, backup_id: str):
        """Delete a backup file and its metadata."""
        backups.delete(backup_id)
        return {"success": True, "message": "Backup deleted successfully"}


@blp.route("/<string:backup_id>/download")
class Download(MethodView):
    @blp.auth("backups:download")
    @blp.response(200, content_type="application/octet-stream",
                  description="The pg_dump archive (custom format), as an attachment")
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, backup_id: str):
        """Download a backup (admins only: it holds encrypted key values); audited."""
        path = backups.file_for_download(backup_id)
        return send_file(path, mimetype="application/octet-stream", as_attachment=True,
                         download_name=backup_id, max_age=0)


def _restore_answer(job):
    job_id = job.id
    try:
        finished = waited(job, current_app.config.get("BACKUP_RESTORE_WAIT_SECONDS",
                                                      RESTORE_WAIT_SECONDS))
    except NotFound:  # the restore has replaced the jobs table and not yet put its row back
        finished = None
    if finished is None or finished.status in ACTIVE_JOB_STATUSES:
        link = jobs.link(job_id)
        return ({"job_id": job_id, "status": "running", "links": {"self": link}}, 202,
                {"Location": link})
    if finished.status != "succeeded":
        error = finished.error or {}
        raise Unprocessable(error.get("message") or f"The job {finished.status}",
                            {"jobId": str(finished.id)}, code="RESTORE_FAILED")
    return ({"job_id": finished.id, "status": finished.status,
             "data": backups.snake_keys(finished.result or {})}, 200)


@blp.route("/<string:backup_id>/test-restore")
class TestRestore(MethodView):
    @blp.auth("backups:write")
    @blp.arguments(TestRestoreSchema)
    @blp.response(200, RestoreDoneSchema)
    @blp.alt_response(202, schema=RestoreAcceptedSchema, success=True,
                      description="Still running: poll the job")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT", description="A restore is running")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY",
                      description="The test-restore failed (RESTORE_FAILED)")
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def post(self, body, backup_id: str):
        """Restore into a scratch database, compare every table's rows with the backup's,
        then drop it (a job; answered with its result when it ends within a short wait)."""
        job = backups.request_restore(backup_id, body["database"], authenticate(),
                                      test_only=True,
                                      scratch_name=body.get("test_schema_name"))
        return _restore_answer(job)


@blp.route("/<string:backup_id>/restore")
class Restore(MethodView):
    @blp.auth("backups:write")
    @blp.arguments(RestoreSchema)
    @blp.response(200, RestoreDoneSchema)
    @blp.alt_response(202, schema=RestoreAcceptedSchema, success=True,
                      description="Still running: poll the job")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT",
                      description="Other jobs are queued or running (JOBS_RUNNING)")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY",
                      description="The restore failed; nothing changed (RESTORE_FAILED)")
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def post(self, body, backup_id: str):
        """Replace the database with a backup (DESTRUCTIVE; refused while other jobs run).
        A job: checks the file, test-restores it into a scratch database, then restores
        in one transaction."""
        job = backups.request_restore(backup_id, body["database"], authenticate(),
                                      test_only=False)
        return _restore_answer(job)
