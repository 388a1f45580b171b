"""API key provisioning tasks (queue provisioning): thin wrappers over the key services.

Each task loads ids from its job and calls one service function; all are idempotent (they
act on the key's current state), so a redelivered or retried job is harmless.
"""

from __future__ import annotations

import uuid

from app.services import key_provisioning
from app.services import reconcile as reconcile_service
from worker.runner import JobRun, job_task


def _key_id(run: JobRun) -> uuid.UUID:
    return uuid.UUID(run.params["keyId"])


@job_task
def provision_key(run: JobRun) -> dict:
    """Finish a key LiteLLM could not take at creation (pending → active)."""
    return key_provisioning.provision(_key_id(run))


@job_task
def update_key(run: JobRun) -> dict:
    """Push an edited key (name, models, budgets, limits, expiry) to LiteLLM; ``resetSpend``
    also sets its spend back to 0."""
    return key_provisioning.push_key(_key_id(run), bool(run.params.get("resetSpend")))


@job_task
def revoke_key(run: JobRun) -> dict:
    """Delete a revoked key, or a rotated-out value (``token``), in LiteLLM."""
    return key_provisioning.revoke(_key_id(run), run.params.get("token"))


@job_task
def remove_models_from_keys(run: JobRun) -> dict:
    """Strip models from keys whose owner lost access (model unavailable, subscription
    ended); ``userId`` narrows it to one user's keys."""
    user_id = run.params.get("userId")
    return key_provisioning.enforce_model_access(
        list(run.params.get("modelIds") or []) or None,
        uuid.UUID(user_id) if user_id else None, progress=run.progress)


@job_task
def reconcile(run: JobRun) -> dict:
    """Compare LiteMaaS with LiteLLM and repair drift; the result lists every repair."""
    return reconcile_service.run(progress=run.progress)
