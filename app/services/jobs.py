"""Jobs: every slow or external piece of work is a row here plus a Celery task (DESIGN §5).

The row is committed before the task is published: ``create`` queues the publish for after
the commit of the caller's transaction (one commit point; nothing is sent if it rolls back).
If the broker is down then, the change and its job stand: the row stays ``queued`` and beat
re-publishes it (``republish``). PostgreSQL is the source of truth for status. Status writes
from the worker (claim, progress, heartbeat, outcome) go through their own short transactions
so they never commit a task's half-done unit of work.

A plain user cannot flood the queue: kinds marked ``coalesce`` reuse a still-queued job for the
same resource (same kind, params and requester; its task reads the resource's state when it
runs), and a user holds at most ``MAX_QUEUED_JOBS_PER_USER`` queued or running jobs (429
``TOO_MANY_JOBS``). Jobs under a flight key are one per resource already and never refused
(a revocation must always be accepted).
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app, g, has_request_context
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import bindparam, event, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from app.errors import Conflict, NotFound, RateLimited, ServiceUnavailable
from app.extensions import db
from app.models import ACTIVE_JOB_STATUSES, Job
from app.services import audit
from app.services.job_kinds import KINDS, JobKind  # noqa: F401  (jobs.KINDS for callers)

log = logging.getLogger(__name__)


_PUBLISH = "litemaas_jobs_to_publish"
_COMMITTED = "litemaas_jobs_committed"


def _current_request_id() -> str | None:
    return g.get("request_id") if has_request_context() else None


def create(kind: str, params: dict[str, Any] | None = None, *, requested_by=None,
           flight_key: str | None = None) -> tuple[Job, bool]:
    """Add a queued job to the session; returns (job, created).

    For single-flight kinds an already queued/running job with the same flight key is
    returned instead (created=False); so is a still-queued job of a ``coalesce`` kind with the
    same params and requester. A created job is published once the caller's transaction
    commits (a reused one is on its way already). Raises 429 when a plain user has too many
    jobs.
    """
    spec = KINDS[kind]
    if spec.single_flight and flight_key is None:
        flight_key = kind
    params = params or {}
    if flight_key is None and spec.coalesce:
        queued = _queued_twin(kind, params, requested_by)
        if queued is not None:
            return queued, False
    if flight_key is not None:
        # Look first: while a job runs, every request for another one is answered by one
        # indexed read instead of a failing INSERT in a savepoint (4 round trips and an
        # exception).
        existing = _active_job(flight_key)
        if existing is not None:
            return existing, False
    else:
        check_queue_room()
    job = Job(id=uuid.uuid4(), kind=kind, status="queued", params=params,
              flight_key=flight_key, requested_by=requested_by,
              request_id=_current_request_id())
    if flight_key is None:
        db.session.add(job)
        _publish_after_commit(job)
        return job, True
    try:
        with db.session.begin_nested():
            db.session.add(job)
    except IntegrityError:
        existing = _active_job(flight_key)
        if existing is None:  # it finished between our insert and this read: try once more
            return create(kind, params, requested_by=requested_by, flight_key=flight_key)
        return existing, False
    _publish_after_commit(job)
    return job, True


def _queued_twin(kind: str, params: dict[str, Any], requested_by) -> Job | None:
    """A queued (not yet claimed) job doing the same thing, locked: the worker's claim waits
    for our commit, so the task reads the state this request is writing."""
    requester = (Job.requested_by.is_(None) if requested_by is None
                 else Job.requested_by == requested_by)
    return db.session.scalar(
        select(Job).where(Job.kind == kind, Job.status == "queued", requester,
                          Job.params == params)
        .order_by(Job.created_at).limit(1).with_for_update(skip_locked=True))


def _capped_user() -> uuid.UUID | None:
    """The plain user behind this request (admins and background work are not capped)."""
    if not has_request_context():
        return None
    identity = g.get("identity")
    if identity is None or identity.user_id is None or identity.can_read_all:
        return None
    return identity.user_id


def check_queue_room(user_id: uuid.UUID | None = None) -> None:
    """429 when the user already has ``MAX_QUEUED_JOBS_PER_USER`` queued or running jobs
    (call it before work that cannot be undone, e.g. a LiteLLM call, then create the job)."""
    user_id = user_id or _capped_user()
    limit = current_app.config["MAX_QUEUED_JOBS_PER_USER"]
    if user_id is None or not limit:
        return
    active = db.session.scalar(select(func.count()).select_from(Job).where(
        Job.requested_by == user_id, Job.status.in_(ACTIVE_JOB_STATUSES)))
    if active >= limit:
        retry_after = "30"
        raise RateLimited(
            f"You have {active} background jobs waiting; try again when they have finished",
            {"limit": limit, "queued": active, "retryAfter": int(retry_after)},
            code="TOO_MANY_JOBS", headers={"Retry-After": retry_after})


_ACTIVE_JOB = select(Job).where(Job.flight_key == bindparam("flight_key"),
                                Job.status.in_(ACTIVE_JOB_STATUSES))


def _active_job(flight_key: str) -> Job | None:
    return db.session.scalar(_ACTIVE_JOB, {"flight_key": flight_key})


def _publish_after_commit(job: Job) -> None:
    """Send the job's task once the session's transaction commits (never if it rolls back)."""
    committed = {name: getattr(job, name) for name in _AS_CREATED}
    db.session.info.setdefault(_PUBLISH, []).append((job, committed))


# What a new job row holds when its transaction commits: kept on the object across the commit
# (which expires it), so whoever shows the job reads what was committed ("queued"), not a
# state the worker wrote after the task was sent.
_AS_CREATED = ("id", "kind", "status", "params", "flight_key", "requested_by", "request_id")


@event.listens_for(FlaskSession, "after_commit")
def _committed(session) -> None:
    if session.in_nested_transaction():
        # A savepoint was released (begin_nested, e.g. a second single-flight job in the same
        # unit of work): the outer transaction is still open and its rows unseen by a worker.
        return
    if _PUBLISH in session.info:
        session.info[_COMMITTED] = session.info.pop(_PUBLISH)


@event.listens_for(FlaskSession, "after_transaction_end")
def _publish_committed(session, transaction) -> None:
    """After the commit has expired the session's objects (after_commit comes before that),
    so the committed values set back here are what the caller reads."""
    if transaction.parent is not None:
        return
    for job, committed in session.info.pop(_COMMITTED, ()):
        for name, value in committed.items():
            set_committed_value(job, name, value)
        try:
            _send(committed["id"], committed["kind"], committed["request_id"])
        except Exception as exc:  # broker down: the row stays queued, beat re-publishes it
            log.warning("job %s recorded but not published (%s); beat re-publishes it",
                        committed["id"], type(exc).__name__)


@event.listens_for(FlaskSession, "after_rollback")
def _publish_nothing(session) -> None:
    session.info.pop(_PUBLISH, None)


def _send(job_id: uuid.UUID, kind: str, request_id: str | None) -> None:
    celery = current_app.extensions["celery"]
    headers = {"litemaas_request_id": request_id or _current_request_id()}
    celery.send_task(KINDS[kind].task, args=[str(job_id)], task_id=str(job_id), headers=headers)
    _set_published(job_id)


def republish(job: Job) -> None:
    """Send a committed job's task again (beat's recovery of a lost publish); raises
    ServiceUnavailable while the broker is down."""
    try:
        _send(job.id, job.kind, job.request_id)
    except Exception as exc:
        log.warning("could not re-publish job %s: %s", job.id, type(exc).__name__)
        raise ServiceUnavailable("The job queue is unavailable", {"jobId": str(job.id)},
                                 headers={"Retry-After": "10"}) from None


def enqueue(kind: str, params: dict[str, Any] | None = None, *, requested_by=None,
            flight_key: str | None = None) -> tuple[Job, bool]:
    """Create and commit a job (published after the commit); returns (job, created)."""
    job, created = create(kind, params, requested_by=requested_by, flight_key=flight_key)
    if created:
        audit.record("JOB_ENQUEUED", "job", job.id, details={"kind": kind})
    if created or db.session.new or db.session.dirty or db.session.deleted:
        db.session.commit()
    # else nothing to write: no commit, so the job read above is not expired and re-read
    return job, created


def _set_published(job_id: uuid.UUID) -> None:
    with db.engine.begin() as conn:
        conn.execute(update(Job).where(Job.id == job_id).values(published_at=func.now()))


def link(job_id: uuid.UUID, action: str = "") -> str:
    """The job's URL in the API (``action``: e.g. "download"); the one job link builder."""
    return f"/api/v1/jobs/{job_id}" + (f"/{action}" if action else "")


def get(job_id: uuid.UUID) -> Job:
    job = db.session.get(Job, job_id)
    if job is None:
        raise NotFound.resource("job", job_id)
    return job


def get_visible(job_id: uuid.UUID, identity) -> Job:
    """A job as its requester or an admin sees it; others get 404, not 403."""
    job = get(job_id)
    if not identity.can_read_all and job.requested_by != identity.user_id:
        raise NotFound.resource("job", job_id)
    return job


def list_query(kind: str | None = None, status: str | None = None, requested_by=None):
    stmt = select(Job)
    if kind:
        stmt = stmt.where(Job.kind == kind)
    if status:
        stmt = stmt.where(Job.status == status)
    if requested_by:
        stmt = stmt.where(Job.requested_by == requested_by)
    return stmt


def cancel(job_id: uuid.UUID) -> Job:
    """Cancel a queued or running job; running tasks stop at their next progress update."""
    job = get(job_id)
    if job.status not in ACTIVE_JOB_STATUSES:
        raise Conflict(f"Job is already {job.status}", {"status": job.status})
    job.status = "cancelled"
    job.finished_at = datetime.now(UTC)
    audit.record("JOB_CANCELLED", "job", job.id, details={"kind": job.kind})
    db.session.commit()
    try:
        current_app.extensions["celery"].control.revoke(str(job.id))
    except Exception:  # the status row already stops the task; revoke only saves a wakeup
        log.warning("could not revoke job %s", job.id)
    return job


# --- worker side -------------------------------------------------------------------------


class JobCancelled(Exception):
    """Raised inside a task when its job was cancelled."""


def claim(job_id: uuid.UUID, lease_seconds: int) -> Job | None:
    """Mark the job running if nobody else holds it; None means skip this delivery."""
    stale = func.now() - timedelta(seconds=lease_seconds)
    stmt = (
        update(Job)
        .where(Job.id == job_id)
        .where(or_(Job.status == "queued",
                   (Job.status == "running") & (or_(Job.heartbeat_at.is_(None),
                                                    Job.heartbeat_at < stale))))
        .values(status="running", attempts=Job.attempts + 1, heartbeat_at=func.now(),
                started_at=func.coalesce(Job.started_at, func.now()))
        .returning(Job.id)
    )
    with db.engine.begin() as conn:
        claimed = conn.execute(stmt).scalar()
    if claimed is None:
        return None
    db.session.expire_all()
    return db.session.get(Job, job_id)


def heartbeat(job_id: uuid.UUID) -> None:
    with db.engine.begin() as conn:
        conn.execute(update(Job).where(Job.id == job_id, Job.status == "running")
                     .values(heartbeat_at=func.now()))


def progress(job_id: uuid.UUID, percent: int, message: str | None = None) -> None:
    """Record progress; raises JobCancelled if the job was cancelled meanwhile."""
    percent = max(0, min(100, int(percent)))
    with db.engine.begin() as conn:
        updated = conn.execute(
            update(Job).where(Job.id == job_id, Job.status == "running")
            .values(progress=percent, progress_message=message, heartbeat_at=func.now())
            .returning(Job.id)
        ).scalar()
    if updated is None:
        raise JobCancelled(str(job_id))


def _finish(job_id: uuid.UUID, **values) -> bool:
    with db.engine.begin() as conn:
        done = conn.execute(
            update(Job).where(Job.id == job_id, Job.status == "running")
            .values(finished_at=func.now(), **values).returning(Job.id)
        ).scalar()
    return done is not None


def succeed(job_id: uuid.UUID, result: dict[str, Any] | None) -> bool:
    return _finish(job_id, status="succeeded", progress=100, result=result or {}, error=None)


def fail(job_id: uuid.UUID, error: dict[str, Any]) -> bool:
    return _finish(job_id, status="failed", error=audit.redact(error))


def requeue_for_retry(job_id: uuid.UUID, error: dict[str, Any], countdown: float) -> None:
    """Hand the job back to the queue while a Celery retry waits out its countdown."""
    with db.engine.begin() as conn:
        conn.execute(
            update(Job).where(Job.id == job_id, Job.status == "running")
            .values(status="queued", error=audit.redact(error),
                    progress_message=f"retrying in {countdown:.0f}s",
                    published_at=func.now() + timedelta(seconds=countdown))
        )


def stale_job_ids(queued_after: int, lease_seconds: int) -> list[uuid.UUID]:
    """Jobs whose message was probably lost: queued too long, or running without heartbeat."""
    now = func.now()
    return list(db.session.scalars(
        select(Job.id).where(or_(
            (Job.status == "queued")
            & (func.coalesce(Job.published_at, Job.created_at)
               < now - timedelta(seconds=queued_after)),
            (Job.status == "running") & (Job.heartbeat_at < now - timedelta(
                seconds=2 * lease_seconds)),
        )).order_by(Job.created_at).limit(500)
    ))


def wait(job_id: uuid.UUID, seconds: float) -> Job:
    """The job once it has finished, or as it is after ``seconds`` (for answers that give the
    result when it comes quickly and the job otherwise). The one way to wait for a job: each
    look is a fresh read with the transaction ended in between, so no snapshot or lock is held
    while waiting (a restore must be able to lock every table)."""
    deadline = time.monotonic() + max(0.0, seconds)
    pause = 0.02
    while True:
        db.session.rollback()
        status = db.session.scalar(select(Job.status).where(Job.id == job_id))
        db.session.rollback()
        # No row yet is not finished: a restore replaces the jobs table and writes its own
        # row back when it ends.
        finished = status is not None and status not in ACTIVE_JOB_STATUSES
        if finished or time.monotonic() >= deadline:
            return get(job_id)
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 2, 0.25)
