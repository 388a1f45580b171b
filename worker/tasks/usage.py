"""The usage queue: the rollup of LiteLLM daily activity and usage exports (thin tasks)."""

from __future__ import annotations

from celery import shared_task
from flask import current_app

from app.extensions import db
from app.services import exports, usage_partitions
from app.services import usage_rollup as rollup
from worker.runner import JobRun, job_task


@job_task
def usage_rollup(run: JobRun) -> dict:
    """Roll LiteLLM's daily activity up into usage_daily (scheduled window or a backfill)."""
    return rollup.run_rollup(run.params, run.progress)


@job_task
def usage_export(run: JobRun) -> dict:
    """Write a usage export file for download through the job."""
    return exports.run_export(run.job_id, run.params, run.progress)


@shared_task(name="worker.tasks.usage.purge_expired_exports")
def purge_expired_exports() -> dict:
    """Beat: delete export files past ``EXPORT_RETENTION_HOURS``."""
    try:
        return exports.purge_expired()
    finally:
        db.session.remove()


@shared_task(name="worker.tasks.usage.drop_expired_usage_months")
def drop_expired_usage_months() -> list[str]:
    """Beat: drop usage_daily's months older than ``USAGE_RETENTION_MONTHS`` (whole partitions)."""
    try:
        return usage_partitions.drop_expired(current_app.config["USAGE_RETENTION_MONTHS"],
                                             rollup.utc_today())
    finally:
        db.session.remove()
