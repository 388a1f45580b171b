"""Extra app instances next to the session app (other settings, or a second "worker")."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from flask import Flask


@contextlib.contextmanager
def extra_app(settings, **overrides) -> Iterator[Flask]:
    """An app on the same database and Redis namespace with some settings changed."""
    from app import create_app
    from app.extensions import db

    app = create_app(settings.with_overrides(**overrides))
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def wait_for_jobs(app, kind: str, count: int = 1, timeout: float = 30.0,
                  statuses=("succeeded", "failed")) -> list:
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
