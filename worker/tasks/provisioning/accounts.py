"""Provisioning of LiteLLM users and teams (queue provisioning); thin: ids in, service call."""

from __future__ import annotations

import uuid

from app.services import litellm_accounts, users
from worker.runner import JobRun, job_task


@job_task
def provision_user(run: JobRun) -> dict:
    """Create or update the user's LiteLLM user (budget, limits; spend reset if asked)."""
    return litellm_accounts.sync_user(uuid.UUID(run.params["user_id"]),
                                      reset_spend=bool(run.params.get("reset_spend")))


@job_task
def bulk_update_user_limits(run: JobRun) -> dict:
    """Give every active user the same budget/limits here and in LiteLLM, with progress."""
    return users.run_bulk_update_limits(run.params, run.progress)


@job_task
def provision_team(run: JobRun) -> dict:
    """Create or update the LiteLLM team and align its members."""
    return litellm_accounts.sync_team(uuid.UUID(run.params["team_id"]))


@job_task
def delete_team(run: JobRun) -> dict:
    """Delete a team (already gone from LiteMaaS) from LiteLLM."""
    return litellm_accounts.delete_team(run.params["litellm_team_id"])
