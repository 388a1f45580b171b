"""Database backups and restores (default queue; thin tasks over app.services.backups)."""

from __future__ import annotations

from app.services import backups, restores
from worker.runner import JobRun, job_task


@job_task
def backup_create(run: JobRun) -> dict:
    """pg_dump one database into BACKUP_DIR, with its row counts and checksum."""
    return backups.run_backup(run.job_id, run.params, run.requested_by)


@job_task
def backup_test_restore(run: JobRun) -> dict:
    """Restore a backup into a scratch database and compare it with the backup's counts."""
    return restores.run_test_restore(run.job_id, run.params)


@job_task
def backup_restore(run: JobRun) -> dict:
    """Test-restore, then replace the live database with the backup (one transaction)."""
    return restores.run_restore(run.job_id, run.params)
