"""Turns a service call into an idempotent job task: claim, heartbeat, run, record outcome.

Tasks are thin: ``@job_task`` functions receive a ``JobRun`` (job id, params, progress) and
call one service. Redelivered or duplicate messages are harmless: a job is claimed once at a
time (heartbeat lease) and its outcome is written once.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

import requests
from celery import shared_task
from flask import current_app
from sqlalchemy.exc import DBAPIError, OperationalError

from app.errors import loggable_error
from app.extensions import db
from app.litellm.errors import LiteLLMError
from app.services import audit, jobs
from app.services.job_kinds import KINDS, kind_of_task
from app.task_context import task_context

log = logging.getLogger(__name__)

class TransientError(Exception):
    """A named transient failure (raise it from a service to ask for a retry)."""


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, LiteLLMError):
        return exc.retryable
    return isinstance(exc, TransientError | OperationalError | requests.ConnectionError
                      | requests.Timeout)


@dataclass
class JobRun:
    job_id: uuid.UUID
    kind: str
    params: dict[str, Any]
    requested_by: uuid.UUID | None
    attempt: int
    extra: dict[str, Any] = field(default_factory=dict)

    def progress(self, percent: int, message: str | None = None) -> None:
        jobs.progress(self.job_id, percent, message)


class _Heartbeat(threading.Thread):
    def __init__(self, app, job_id: uuid.UUID, every: float):
        super().__init__(daemon=True, name=f"job-heartbeat-{job_id}")
        self.app, self.job_id, self.every = app, job_id, every
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.every):
            with self.app.app_context():
                try:
                    jobs.heartbeat(self.job_id)
                except Exception:
                    log.warning("heartbeat failed for job %s", self.job_id)


def _error(exc: BaseException) -> dict[str, Any]:
    return {"type": type(exc).__name__, "message": loggable_error(exc)[:2000]}


def _run(task, job_id: str, func: Callable[[JobRun], dict | None]) -> dict | None:
    job_uuid = uuid.UUID(job_id)
    lease = current_app.config["JOB_LEASE_SECONDS"]
    job = jobs.claim(job_uuid, lease)
    if job is None:
        log.info("job %s not claimable (finished, cancelled or held elsewhere)", job_id)
        return None
    run = JobRun(job.id, job.kind, dict(job.params), job.requested_by, job.attempts)
    db.session.rollback()  # hold no snapshot (or its locks) while the task body runs
    beat = _Heartbeat(current_app._get_current_object(), job.id, max(1.0, lease / 3))
    beat.start()
    try:
        result = func(run)
    except jobs.JobCancelled:
        db.session.rollback()
        log.info("job %s cancelled while running", job_id)
        return None
    except Exception as exc:
        db.session.rollback()
        return _handle_failure(task, run, exc)
    finally:
        beat.stopped.set()
    if jobs.succeed(job.id, result):
        _audit_outcome(run, True, {"kind": run.kind})
    return result


def _handle_failure(task, run: JobRun, exc: BaseException):
    policy = KINDS[run.kind].retry
    if is_transient(exc) and task.request.retries < policy.max_retries:
        countdown = policy.countdown(task.request.retries)
        log.warning("job %s transient failure (%s), retry in %.0fs", run.job_id,
                    type(exc).__name__, countdown)
        jobs.requeue_for_retry(run.job_id, _error(exc), countdown)
        raise task.retry(countdown=countdown, exc=exc, max_retries=policy.max_retries)
    if isinstance(exc, DBAPIError):  # its message quotes values: log the reduced text
        log.error("job %s failed: %s", run.job_id, loggable_error(exc))
    else:
        log.error("job %s failed: %s", run.job_id, type(exc).__name__,
                  exc_info=not isinstance(exc, LiteLLMError | TransientError))
    if jobs.fail(run.job_id, _error(exc)):
        _audit_outcome(run, False, {"kind": run.kind, "error": _error(exc)})
    return None


def _audit_outcome(run: JobRun, success: bool, details: dict) -> None:
    audit.record_now("JOB_SUCCEEDED" if success else "JOB_FAILED", "job", run.job_id,
                     success=success, details=details)


def job_task(func: Callable[[JobRun], dict | None]):
    """Declare a job task; its Celery name is ``<module>.<function>``, which must be the
    ``task`` of a row in ``app/services/job_kinds.KINDS`` (its queue and retry policy)."""
    name = f"{func.__module__}.{func.__name__}"
    kind = KINDS[kind_of_task(name)]  # a task without a kind fails here, at import

    @shared_task(name=name, bind=True, acks_late=True, reject_on_worker_lost=True,
                 max_retries=kind.retry.max_retries)
    @wraps(func)
    def task(self, job_id: str):
        token = task_context.set(
            job_id=job_id,
            request_id=getattr(self.request, "litemaas_request_id", None),
        )
        try:
            return _run(self, job_id, func)
        finally:
            task_context.reset(token)

    return task
