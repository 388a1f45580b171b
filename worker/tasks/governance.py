"""Governance jobs (queue ``default``): notification deliveries and the beat sweeps for budget
thresholds, key hygiene and time-boxed access (thin: each calls one service)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from app.services import access_reviews, budget_alerts, key_hygiene, notifications
from app.services.usage_rollup import utc_today
from worker.runner import JobRun, TransientError, job_task


@job_task
def deliver_notification(run: JobRun) -> dict:
    """Send one webhook call or e-mail, at most once; 5xx and timeouts retry with backoff."""
    try:
        return notifications.deliver(uuid.UUID(run.params["deliveryId"]))
    except notifications.DeliveryRetry as exc:
        raise TransientError(str(exc)) from None


@job_task
def budget_sweep(run: JobRun) -> dict:
    """Fire budget thresholds once per period with a run-out forecast; keep the ledger."""
    return budget_alerts.sweep(utc_today(), run.progress)


@job_task
def key_hygiene_sweep(run: JobRun) -> dict:
    """Key expiry reminders, idle keys disabled, rotated-out values revoked after grace."""
    return key_hygiene.sweep(datetime.now(UTC), run.progress)


@job_task
def access_sweep(run: JobRun) -> dict:
    """Suspend lapsed time-boxed access, remind owners, send the approvers' digest."""
    return access_reviews.sweep(datetime.now(UTC), run.progress)
