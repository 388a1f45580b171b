"""Backups of this backend's database (and LiteLLM's, when ``LITELLM_DATABASE_URL`` is set),
as jobs with progress, into ``BACKUP_DIR``; restoring them is app/services/restores.py.

A backup is ``pg_dump --format=custom`` taken in one exported snapshot, so the row counts
recorded next to it (``<id>.meta.json``: tables, rows per table, SHA-256, server and tool
versions, schema revision) are exactly what the file holds. Files are owner-only (0600 in a
0700 directory): a backup holds every table, encrypted key values included, so only admins
download it, and every download is audited.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from app.errors import Conflict, NotFound, ServiceUnavailable, ValidationError
from app.extensions import db
from app.models import ACTIVE_JOB_STATUSES, Job, User
from app.services import audit, jobs, pg_tools
from app.services.jobs import JobCancelled

DATABASES = ("litemaas", "litellm")
BACKUP_KIND, RESTORE_KIND, TEST_RESTORE_KIND = "backup_create", "backup_restore", \
    "backup_test_restore"
FORMAT_VERSION = "litemaas-py/1"
BACKUP_ID = re.compile(r"(litemaas|litellm)-\d{8}T\d{6}Z-[0-9a-f]{8}\.dump")
SCRATCH_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,40}")
RESTORE_FLIGHT = "backup:restore"  # one restore or test-restore at a time



# --- where things are -----------------------------------------------------------------------


def backup_dir() -> Path:
    """``BACKUP_DIR`` as an absolute path, owner-only."""
    path = Path(current_app.config["BACKUP_DIR"]).resolve()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


def database_url(database: str) -> str:
    if database == "litemaas":
        return current_app.config["DATABASE_URL"]
    url = current_app.config["LITELLM_DATABASE_URL"]
    if not url:
        raise ValidationError("LiteLLM's database is not configured (LITELLM_DATABASE_URL)",
                              {"fields": {"database": ["Not configured."]}},
                              code="DATABASE_NOT_CONFIGURED")
    return url


def tools_for(database: str) -> pg_tools.PgTools:
    url = database_url(database)
    try:
        major = pg_tools.server_major(url)
    except Exception as exc:  # unreachable server: say so, without the URL
        raise ServiceUnavailable(f"The {database} database is unreachable",
                                 {"database": database, "error": type(exc).__name__}) from None
    try:
        return pg_tools.for_server(major, current_app.config["BACKUP_PG_BIN_DIR"])
    except pg_tools.ToolsMissing as exc:
        raise ServiceUnavailable(str(exc), {"database": database, "serverMajor": major},
                                 code="BACKUP_TOOLS_MISSING") from None


def capabilities() -> dict[str, Any]:
    view = {"litellm_configured": bool(current_app.config["LITELLM_DATABASE_URL"]),
            "storage_path": str(backup_dir()), "tools": {}}
    for database in DATABASES:
        try:
            tools = tools_for(database)
            view[f"{database}_available"] = True
            view["tools"][database] = {"binDir": str(tools.bin_dir), "major": tools.major}
        except (ValidationError, ServiceUnavailable) as exc:
            view[f"{database}_available"] = False
            view["tools"][database] = {"error": exc.message}
    return view


# --- listing --------------------------------------------------------------------------------


def _meta_path(backup_id: str) -> Path:
    return backup_dir() / f"{backup_id}.meta.json"


def _check_id(backup_id: str) -> str:
    if not BACKUP_ID.fullmatch(backup_id):
        raise NotFound("Backup not found", {"resource": "backup", "id": backup_id[:100]},
                       code="BACKUP_NOT_FOUND")
    return backup_id


def info(backup_id: str) -> dict[str, Any]:
    _check_id(backup_id)
    path, meta_path = backup_dir() / backup_id, _meta_path(backup_id)
    if not (path.is_file() and meta_path.is_file()):
        raise NotFound("Backup not found", {"resource": "backup", "id": backup_id},
                       code="BACKUP_NOT_FOUND")
    meta = json.loads(meta_path.read_text())
    return {"id": backup_id, "filename": backup_id, "database": meta["database"],
            "timestamp": meta["timestamp"], "size": path.stat().st_size, "metadata": meta}


def list_backups() -> list[dict[str, Any]]:
    found = []
    for meta_path in backup_dir().glob("*.dump.meta.json"):
        backup_id = meta_path.name.removesuffix(".meta.json")
        if BACKUP_ID.fullmatch(backup_id) and (meta_path.parent / backup_id).is_file():
            try:
                found.append(info(backup_id))
            except (ValueError, KeyError, NotFound):
                continue  # a half-written or foreign file: not a backup
    return sorted(found, key=lambda b: b["timestamp"], reverse=True)


def file_for_download(backup_id: str) -> Path:
    info(backup_id)
    audit.record("BACKUP_DOWNLOADED", "backup", backup_id)
    db.session.commit()
    return backup_dir() / backup_id


def delete(backup_id: str) -> None:
    info(backup_id)
    active = _active_restore()
    if active is not None and active.params.get("backupId") == backup_id:
        raise Conflict("This backup is being restored", {"jobId": str(active.id)})
    (backup_dir() / backup_id).unlink(missing_ok=True)
    _meta_path(backup_id).unlink(missing_ok=True)
    audit.record("BACKUP_DELETED", "backup", backup_id)
    db.session.commit()


# --- requests (web) -------------------------------------------------------------------------


def request_backup(database: str, identity) -> Job:
    tools_for(database)  # refuse now (503) rather than fail the job later
    job, _ = jobs.enqueue(BACKUP_KIND, {"database": database}, requested_by=identity.user_id,
                          flight_key=f"backup:{database}")
    return job


def request_restore(backup_id: str, database: str, identity, *, test_only: bool,
                    scratch_name: str | None = None) -> Job:
    meta = info(backup_id)
    if meta["database"] != database:
        raise ValidationError(f"This backup is of the {meta['database']} database",
                              {"fields": {"database": [f"Must be {meta['database']}."]}},
                              code="BACKUP_DATABASE_MISMATCH")
    if scratch_name is not None and not SCRATCH_NAME.fullmatch(scratch_name):
        raise ValidationError("Request validation failed", {"fields": {"testSchemaName": [
            "Letters, digits and _ only (at most 41), not starting with a digit."]}})
    tools_for(database)
    if not test_only:
        refuse_if_jobs_run()
    kind = TEST_RESTORE_KIND if test_only else RESTORE_KIND
    params = {"backupId": backup_id, "database": database}
    if scratch_name:
        params["scratchName"] = scratch_name.lower()
    job, created = jobs.enqueue(kind, params, requested_by=identity.user_id,
                                flight_key=RESTORE_FLIGHT)
    if not created:
        raise Conflict("A restore or test-restore is already running",
                       {"jobId": str(job.id), "kind": job.kind}, code="RESTORE_RUNNING")
    return job


def other_active_jobs(exclude: uuid.UUID | None = None) -> list[Job]:
    stmt = select(Job).where(Job.status.in_(ACTIVE_JOB_STATUSES))
    if exclude is not None:
        stmt = stmt.where(Job.id != exclude)
    return list(db.session.scalars(stmt.order_by(Job.created_at).limit(20)))


def refuse_if_jobs_run(exclude: uuid.UUID | None = None) -> None:
    running = other_active_jobs(exclude)
    if running:
        raise Conflict("Other jobs are queued or running; restore when they have finished",
                       {"jobs": [{"id": str(j.id), "kind": j.kind, "status": j.status}
                                 for j in running]}, code="JOBS_RUNNING")


def _active_restore() -> Job | None:
    return db.session.scalar(select(Job).where(Job.flight_key == RESTORE_FLIGHT,
                                               Job.status.in_(ACTIVE_JOB_STATUSES)))


def status() -> dict[str, Any]:
    """The latest backup job as the settings page polls it (``idle`` when none)."""
    job = db.session.scalar(select(Job).where(Job.kind == BACKUP_KIND)
                            .order_by(Job.created_at.desc()).limit(1))
    if job is None:
        return {"state": "idle"}
    state = {"queued": "running", "running": "running", "succeeded": "completed"}.get(
        job.status, "failed")
    result = job.result or {}
    view = {"state": state, "database": job.params.get("database"), "job_id": job.id,
            "started_at": job.started_at or job.created_at, "completed_at": job.finished_at}
    if state == "running":
        progress = {"currentTable": "", "tablesCompleted": 0, "tablesTotal": 0,
                    "rowsProcessed": 0, "rowsTotal": 0, "elapsed": 0,
                    **(result.get("progress") or {})}
        view["progress"] = snake_keys(progress)
    elif state == "completed":
        view["backup"] = result.get("backup")
    else:
        view["error"] = (job.error or {}).get("message") or job.status
    return view


def snake_keys(values: dict[str, Any]) -> dict[str, Any]:
    """A job result's camelCase keys as the schemas' attribute names."""
    return {re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower(): value for key, value in values.items()}


# --- the work (worker) ----------------------------------------------------------------------


@dataclass
class Progress:
    job_id: uuid.UUID
    started: float
    tables_total: int = 0
    rows_total: int = 0

    def report(self, percent: int, message: str, **detail: Any) -> None:
        """Percent and message for /jobs, table-level detail for the settings page."""
        detail = {"currentTable": "", "tablesCompleted": 0, "tablesTotal": self.tables_total,
                  "rowsProcessed": 0, "rowsTotal": self.rows_total,
                  "elapsed": round(time.monotonic() - self.started), **detail}
        with db.engine.begin() as conn:
            done = conn.execute(
                update(Job).where(Job.id == self.job_id, Job.status == "running")
                .values(progress=max(0, min(99, percent)), progress_message=message,
                        heartbeat_at=datetime.now(UTC), result={"progress": detail})
                .returning(Job.id)).scalar()
        if done is None:
            raise JobCancelled(str(self.job_id))


def run_backup(job_id: uuid.UUID, params: dict[str, Any],
               requested_by: uuid.UUID | None = None) -> dict[str, Any]:
    """pg_dump in one snapshot whose row counts are recorded with the file."""
    database = params["database"]
    url, tools = database_url(database), tools_for(database)
    progress = Progress(job_id, time.monotonic())
    now = datetime.now(UTC)
    backup_id = f"{database}-{now:%Y%m%dT%H%M%SZ}-{job_id.hex[:8]}.dump"
    final = backup_dir() / backup_id
    partial = final.with_name(final.name + ".part")
    snapshot_conn = pg_tools.connect(url)
    try:
        snapshot_conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        with snapshot_conn.cursor() as cur:
            cur.execute("SELECT pg_export_snapshot(), now(), current_setting('server_version')")
            snapshot, snapshot_at, server_version = cur.fetchone()
            counts = row_counts(cur)
            revision = _alembic_revision(cur)
        progress.tables_total, progress.rows_total = len(counts), sum(counts.values())
        progress.report(1, f"dumping {len(counts)} tables")
        _dump(tools, url, snapshot, partial, counts, progress)
    finally:
        snapshot_conn.close()
    digest = sha256_of(partial)
    os.replace(partial, final)
    meta = {"formatVersion": FORMAT_VERSION, "database": database,
            "timestamp": now.isoformat(), "snapshotAt": snapshot_at.isoformat(),
            "appVersion": current_app.config["API_VERSION"], "tableCount": len(counts),
            "rowCounts": counts, "sha256": digest, "size": final.stat().st_size,
            "serverVersion": server_version, "pgDumpMajor": tools.major,
            "schemaRevision": revision, "jobId": str(job_id),
            "createdBy": _username(requested_by)}
    _write_private(_meta_path(backup_id), json.dumps(meta, indent=2))
    backup = info(backup_id)
    audit.record_now("BACKUP_CREATED", "backup", backup_id,
                     details={"database": database, "tables": len(counts),
                              "rows": sum(counts.values()), "sizeBytes": backup["size"],
                              "sha256": digest})
    return {"backup": backup, "backupId": backup_id}


def row_counts(cur) -> dict[str, int]:
    """Rows per table; a partitioned table (usage_daily) counts its partitions' rows once."""
    cur.execute("""
        SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
          AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
        ORDER BY 1, 2""")
    counts = {}
    for schema, table in cur.fetchall():
        cur.execute(f'SELECT count(*) FROM "{schema}"."{table}"')  # names from the catalog
        counts[table if schema == "public" else f"{schema}.{table}"] = cur.fetchone()[0]
    return counts


def _alembic_revision(cur) -> str | None:
    cur.execute("SELECT to_regclass('public.alembic_version') IS NOT NULL")
    if not cur.fetchone()[0]:
        return None
    cur.execute("SELECT version_num FROM alembic_version")
    row = cur.fetchone()
    return row[0] if row else None


DUMPING = re.compile(r'dumping contents of table "(?:(?P<schema>[^"]+)\.)?(?P<table>[^"]+)"')


def _dump(tools, url: str, snapshot: str, target: Path, counts: dict[str, int],
          progress: Progress) -> None:
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    os.close(fd)
    command = [tools.pg_dump, "--format=custom", "--no-owner", "--no-privileges", "--verbose",
               f"--snapshot={snapshot}", f"--file={target}"]
    env = {**os.environ, **pg_tools.libpq_env(url)}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    done_tables, done_rows, current, last_report = 0, 0, None, 0.0
    tail: list[str] = []
    try:
        for line in process.stderr:
            tail = [*tail, line.strip()][-20:]
            match = DUMPING.search(line)
            if not match:
                continue
            if current is not None:
                done_tables, done_rows = done_tables + 1, done_rows + counts.get(current, 0)
            schema, table = match.group("schema"), match.group("table")
            current = table if schema in (None, "public") else f"{schema}.{table}"
            if time.monotonic() - last_report > 0.5:
                last_report = time.monotonic()
                percent = 1 + int(97 * done_rows / max(progress.rows_total, 1))
                progress.report(percent, f"table {current} ({done_tables}/"
                                f"{progress.tables_total})", currentTable=current,
                                tablesCompleted=done_tables, rowsProcessed=done_rows)
    except JobCancelled:
        process.kill()
        process.wait()
        target.unlink(missing_ok=True)
        raise
    if process.wait() != 0:
        target.unlink(missing_ok=True)
        raise RuntimeError("pg_dump failed: " + " | ".join(
            line for line in tail if "error" in line.lower())[:1000])
    progress.report(99, "written", currentTable="", tablesCompleted=progress.tables_total,
                    rowsProcessed=progress.rows_total)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_private(path: Path, content: str) -> None:
    partial = path.with_name(path.name + ".part")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)
    os.replace(partial, path)


def _username(user_id: uuid.UUID | None) -> str | None:
    if not user_id:
        return None
    user = db.session.get(User, user_id)
    db.session.rollback()
    return user.username if user else None
