"""Provisioning of LiteLLM users and teams (queue provisioning); thin: ids in, service call."""

from __future__ import annotations

import uuid

from app.services import litellm_accounts
from worker.runner import JobRun, job_task


@job_task
def provision_user(run: JobRun) -> dict:
    """Create or update the user's LiteLLM user (budget, limits)."""
    return litellm_accounts.sync_user(uuid.UUID(run.params["user_id"]))


@job_task
def provision_team(run: JobRun) -> dict:
    """Create or update the LiteLLM team and align its members."""
    return litellm_accounts.sync_team(uuid.UUID(run.params["team_id"]))


@job_task
def delete_team(run: JobRun) -> dict:
    """Delete a team (already gone from LiteMaaS) from LiteLLM."""
    return litellm_accounts.delete_team(run.params["litellm_team_id"])
