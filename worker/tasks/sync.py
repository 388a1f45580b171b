"""Model synchronisation tasks (queue ``sync``)."""

from __future__ import annotations

from app.services.model_sync import ModelSyncService
from worker.runner import JobRun, job_task


@job_task
def sync_models(run: JobRun) -> dict:
    """Synchronise the model catalogue with LiteLLM (startup, manual or scheduled trigger)."""
    outcome = ModelSyncService().sync(
        run.params.get("trigger", "manual"), job_id=run.job_id,
        force=bool(run.params.get("force", False)), progress=run.progress,
    )
    return outcome.as_result()
