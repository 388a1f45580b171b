"""Housekeeping on the default queue: pipeline ping, lost-publish recovery, scheduled jobs."""

from __future__ import annotations

import logging
import time

from celery import shared_task
from flask import current_app

from app.errors import ServiceUnavailable
from app.extensions import db
from app.services import jobs
from worker.runner import JobRun, job_task

log = logging.getLogger(__name__)


@job_task
def worker_ping(run: JobRun) -> dict:
    """Prove the pipeline end to end: a worker picks the job, reports progress, succeeds."""
    seconds = float(run.params.get("seconds", 0))
    steps = max(1, int(seconds * 4))
    for step in range(steps):
        time.sleep(seconds / steps)
        run.progress(int(100 * (step + 1) / steps), f"step {step + 1}/{steps}")
    return {"pong": True, "slept": seconds, "attempt": run.attempt}


@shared_task(name="worker.tasks.maintenance.republish_stale_jobs")
def republish_stale_jobs() -> int:
    """Re-publish jobs whose message was lost (queued too long, or running without heartbeat)."""
    config = current_app.config
    stale = jobs.stale_job_ids(config["JOB_REPUBLISH_AFTER_SECONDS"], config["JOB_LEASE_SECONDS"])
    published = 0
    for job_id in stale:
        try:
            jobs.republish(jobs.get(job_id))
        except ServiceUnavailable:
            break
        published += 1
    if stale:
        log.info("re-published %d of %d stale jobs", published, len(stale))
    return published


@shared_task(name="worker.tasks.maintenance.enqueue_scheduled")
def enqueue_scheduled(kind: str) -> str | None:
    """Beat's entry point: enqueue a scheduled job (single-flight kinds dedupe themselves)."""
    job, _ = jobs.enqueue(kind, {"trigger": "scheduled"})
    job_id = str(job.id)
    db.session.remove()
    return job_id
