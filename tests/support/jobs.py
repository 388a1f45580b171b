"""Job helpers shared by the tests: waiting for a job's outcome (through the API or the
database), letting every job settle, quicker retry policies."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from app.services.job_kinds import KINDS, RetryPolicy

FINISHED = ("succeeded", "failed")


def wait_for_job(client, headers, job_id, statuses=FINISHED, timeout: float = 60.0,
                 until: Callable[[dict], bool] | None = None) -> dict:
    """Poll ``GET /api/v1/jobs/{id}`` until the job is in ``statuses`` (or ``until(body)``)."""
    deadline = time.monotonic() + timeout
    body: dict = {}
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/jobs/{job_id}", headers=headers).get_json()
        if until(body) if until else body.get("status") in statuses:
            return body
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {body.get('status')} after {timeout}s: {body}")


def wait_for_jobs(app, kind: str, count: int = 1, timeout: float = 30.0,
                  statuses=FINISHED) -> list:
    """Wait until ``count`` jobs of ``kind`` have finished; returns every job of that kind."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models import Job

    deadline = time.monotonic() + timeout
    with app.app_context():
        while True:
            db.session.expire_all()
            rows = db.session.scalars(select(Job).where(Job.kind == kind)
                                      .order_by(Job.created_at)).all()
            if sum(job.status in statuses for job in rows) >= count:
                db.session.expunge_all()
                return rows
            if time.monotonic() > deadline:
                raise AssertionError(f"{kind}: {[j.status for j in rows]} after {timeout}s")
            time.sleep(0.1)


def settle_jobs(app, timeout: float = 60.0) -> None:
    """Wait until no job is queued or running, so none runs into the next test's cleanup."""
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import ACTIVE_JOB_STATUSES, Job

    deadline = time.monotonic() + timeout
    with app.app_context():
        while db.session.scalar(select(func.count()).select_from(Job)
                                .where(Job.status.in_(ACTIVE_JOB_STATUSES))):
            if time.monotonic() > deadline:
                raise AssertionError("jobs still active after the test")
            db.session.rollback()
            time.sleep(0.05)
        db.session.remove()


def quick_retries(monkeypatch, max_retries: int = 2, backoff_base: float = 0.1,
                  backoff_cap: float = 60) -> None:
    """Every kind retries like its policy says, only sooner (and at most ``max_retries``)."""
    policy = RetryPolicy(max_retries, backoff_base, backoff_cap)
    for name, kind in list(KINDS.items()):
        monkeypatch.setitem(KINDS, name, dataclasses.replace(kind, retry=policy))
