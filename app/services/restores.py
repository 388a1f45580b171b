"""Restoring a backup (the jobs behind ``/admin/backup/{id}/restore`` and ``/test-restore``).

A restore is refused while other jobs run. It first checks the file against its SHA-256 and
restores it into a scratch database, comparing every table's row count with the backup's (the
test-restore; also offered on its own; only a database made here is ever dropped here); only
then does it replace the live database in one transaction: the public schema is dropped (so
tables added since go too) and the archive's SQL replayed by ``psql --single-transaction``; a
failure changes nothing. For this backend's database the audit trail stays append-only across a
restore (rows written since the backup are put back, and the restore itself is audited); jobs
the backup caught queued or running are marked cancelled (their work belongs to another
timeline), the schema is migrated to this code's version, and a reconciliation with LiteLLM is
queued (LiteLLM still holds today's keys).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import select, text, update

from app.extensions import db
from app.models import ACTIVE_JOB_STATUSES, AuditLog, Job, User
from app.services import audit, jobs, pg_tools, usage_partitions
from app.services.backups import (
    Progress,
    backup_dir,
    database_url,
    info,
    refuse_if_jobs_run,
    row_counts,
    sha256_of,
    tools_for,
)

AUDIT_OVERLAP = timedelta(minutes=10)  # rows committed around the snapshot are kept too
RESTORE_LOCK_TIMEOUT = "60s"  # waiting for the live tables' locks longer fails, changing nothing


def _verified(backup_id: str) -> dict[str, Any]:
    meta = info(backup_id)
    if sha256_of(backup_dir() / backup_id) != meta["metadata"]["sha256"]:
        raise RuntimeError("The backup file does not match its recorded SHA-256 (corrupt or "
                           "changed); nothing was restored")
    return meta


def run_test_restore(job_id: uuid.UUID, params: dict[str, Any]) -> dict[str, Any]:
    """Restore into a scratch database, compare each table's rows with the backup's, drop it."""
    started = time.monotonic()
    progress = Progress(job_id, started)
    meta = _verified(params["backupId"])
    progress.report(10, "restoring into a scratch database")
    result = _scratch_restore(params["database"], params["backupId"], meta["metadata"],
                              params.get("scratchName") or f"restore_test_{job_id.hex[:8]}")
    result["duration"] = round(time.monotonic() - started, 2)
    audit.record_now("BACKUP_TEST_RESTORED", "backup", params["backupId"],
                     success=result["success"], details={k: result[k] for k in (
                         "tablesRestored", "rowsRestored", "testSchema", "warnings")})
    if not result["success"]:
        raise RuntimeError("Test restore found differences: " + "; ".join(result["warnings"]))
    return result


def _scratch_restore(database: str, backup_id: str, meta: dict[str, Any],
                     name: str) -> dict[str, Any]:
    url, tools = database_url(database), tools_for(database)
    scratch = f"ltm_{name}"[:63]
    admin = pg_tools.connect(url)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:  # only a database made here is ever dropped here
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (scratch,))
            if cur.fetchone() is not None:
                raise RuntimeError(f"The scratch database {scratch} already exists; choose "
                                   "another name")
            cur.execute(f'CREATE DATABASE "{scratch}"')
        try:
            _pg_restore(tools, url, scratch, backup_dir() / backup_id)
            check = pg_tools.connect(url, database=scratch)
            try:
                with check.cursor() as cur:
                    counts = row_counts(cur)
            finally:
                check.close()
        finally:
            with admin.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
    finally:
        admin.close()
    expected = meta["rowCounts"]
    warnings = [f"{table}: backup has {expected.get(table)} rows, restored {counts.get(table)}"
                for table in sorted(set(expected) | set(counts))
                if expected.get(table) != counts.get(table)]
    return {"success": not warnings, "tablesRestored": len(counts),
            "rowsRestored": sum(counts.values()), "warnings": warnings, "testSchema": scratch}


def _pg_restore(tools, url: str, database: str, path: Path) -> None:
    """Restore an archive into an empty database."""
    command = [tools.pg_restore, "--no-owner", "--no-privileges", "--exit-on-error",
               f"--dbname={database}", str(path)]
    env = {**os.environ, **pg_tools.libpq_env(url, database)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=6 * 3600)
    if done.returncode != 0:
        raise RuntimeError("pg_restore failed: " + _errors(done.stderr))


# The partitions of usage_daily live in their own schema (app/services/usage_partitions.py):
# it goes with public, or the archive's CREATE SCHEMA for it would fail.
REPLACE_PREAMBLE = (f"DROP SCHEMA IF EXISTS {usage_partitions.SCHEMA} CASCADE;\n"
                    "DROP SCHEMA IF EXISTS public CASCADE;\nCREATE SCHEMA public;\n").encode()


def _replace_database(tools, url: str, database: str, path: Path) -> None:
    """The live database becomes exactly the archive, in one transaction: the public schema
    is dropped (so tables a later migration added go too) and the archive's SQL replayed
    (``pg_restore -f - | psql --single-transaction``). A failure changes nothing."""
    env = {**os.environ, **pg_tools.libpq_env(url, database),
           "PGOPTIONS": f"-c lock_timeout={RESTORE_LOCK_TIMEOUT}"}
    with tempfile.TemporaryFile() as restore_err, tempfile.TemporaryFile() as psql_err:
        psql = subprocess.Popen(
            [tools.psql, "--no-psqlrc", "--quiet", "--single-transaction",
             "--set=ON_ERROR_STOP=1", f"--dbname={database}", "--file=-"],
            env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=psql_err)
        restore = subprocess.Popen(
            [tools.pg_restore, "--no-owner", "--no-privileges", "--file=-", str(path)],
            env=env, stdout=subprocess.PIPE, stderr=restore_err)
        try:
            psql.stdin.write(REPLACE_PREAMBLE)
            shutil.copyfileobj(restore.stdout, psql.stdin, 1 << 20)
        except BrokenPipeError:
            pass  # psql stopped at an error: reported below
        finally:
            with contextlib.suppress(BrokenPipeError):
                psql.stdin.close()
        restore.stdout.close()
        restore_code, psql_code = restore.wait(), psql.wait(timeout=6 * 3600)
        if restore_code or psql_code:
            restore_err.seek(0)
            psql_err.seek(0)
            raise RuntimeError("restore failed, nothing changed: " + _errors(
                restore_err.read().decode(errors="replace")
                + psql_err.read().decode(errors="replace")))


def _errors(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if "error" in line.lower()]
    return " | ".join(errors[:5])[:1000] or "no detail"


def run_restore(job_id: uuid.UUID, params: dict[str, Any]) -> dict[str, Any]:
    """Test-restore first; then replace the live database in one transaction."""
    started = time.monotonic()
    progress = Progress(job_id, started)
    database, backup_id = params["database"], params["backupId"]
    refuse_if_jobs_run(exclude=job_id)
    db.session.rollback()
    meta = _verified(backup_id)
    progress.report(5, "test-restore into a scratch database")
    test = _scratch_restore(database, backup_id, meta["metadata"],
                            f"restore_check_{job_id.hex[:8]}")
    if not test["success"]:
        raise RuntimeError("The test-restore found differences; the live database was not "
                           "touched: " + "; ".join(test["warnings"]))
    progress.report(50, f"restoring the {database} database")
    if database == "litemaas":
        kept = _audit_rows_since(meta["metadata"]["snapshotAt"])
        own = db.session.get(Job, job_id)
        own_row = {c.name: getattr(own, c.name) for c in Job.__table__.columns}
        db.session.rollback()  # (the runner still holds this session's job: not removed)
        db.engine.dispose()  # no pooled connection holds a lock the restore needs
        _replace_database(tools_for(database), database_url(database),
                          _live_name(database), backup_dir() / backup_id)
        _after_litemaas_restore(own_row, kept)
    else:
        _replace_database(tools_for(database), database_url(database), _live_name(database),
                          backup_dir() / backup_id)
    result = {"success": True, "tablesRestored": meta["metadata"]["tableCount"],
              "rowsRestored": sum(meta["metadata"]["rowCounts"].values()),
              "duration": round(time.monotonic() - started, 2), "warnings": [],
              "backupId": backup_id, "database": database,
              "testRestore": {k: test[k] for k in ("tablesRestored", "rowsRestored")}}
    audit.record_now("BACKUP_RESTORED", "backup", backup_id,
                     details={"database": database, "tables": result["tablesRestored"],
                              "rows": result["rowsRestored"],
                              "backupTakenAt": meta["timestamp"]})
    return result


def _live_name(database: str) -> str:
    from sqlalchemy.engine import make_url

    from config.settings import sqlalchemy_url

    return make_url(sqlalchemy_url(database_url(database))).database


def _audit_rows_since(snapshot_at: str) -> list[dict[str, Any]]:
    since = datetime.fromisoformat(snapshot_at) - AUDIT_OVERLAP
    rows = db.session.scalars(select(AuditLog).where(AuditLog.created_at >= since)).all()
    kept = [{c.name: getattr(r, c.name) for c in AuditLog.__table__.columns} for r in rows]
    db.session.rollback()
    return kept


def _after_litemaas_restore(own_row: dict[str, Any], kept: list[dict[str, Any]]) -> None:
    from app.db_migrate import upgrade_with_lock

    upgrade_with_lock(current_app._get_current_object())
    now = datetime.now(UTC)
    with db.engine.begin() as conn:
        conn.execute(update(Job).where(Job.status.in_(ACTIVE_JOB_STATUSES))
                     .values(status="cancelled", finished_at=now,
                             error={"message": "cancelled by a restore: this job was queued "
                                               "or running when the backup was taken"}))
        users = set(conn.execute(select(User.id)).scalars())
        if own_row["requested_by"] not in users:
            own_row["requested_by"] = None
        conn.execute(text("DELETE FROM jobs WHERE id = :id"), {"id": own_row["id"]})
        conn.execute(Job.__table__.insert().values(
            {**own_row, "status": "running", "heartbeat_at": now}))
        present = set(conn.execute(select(AuditLog.id).where(
            AuditLog.id.in_([row["id"] for row in kept]))).scalars()) if kept else set()
        missing = [{**row, "actor_id": row["actor_id"] if row["actor_id"] in users else None}
                   for row in kept if row["id"] not in present]
        if missing:
            conn.execute(AuditLog.__table__.insert(), missing)
    jobs.enqueue("reconcile", {"trigger": "restore"})  # LiteLLM still holds today's keys
