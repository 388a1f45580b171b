"""Celery beat schedule: exactly one beat runs it (RedBeat holds a lock in Redis)."""

from __future__ import annotations

from datetime import timedelta

from config.settings import Settings


def beat_schedule(settings: Settings) -> dict:
    schedule = {
        "republish-stale-jobs": {
            "task": "worker.tasks.maintenance.republish_stale_jobs",
            "schedule": timedelta(seconds=max(10, settings.JOB_REPUBLISH_AFTER_SECONDS // 2)),
        },
    }
    if settings.MODEL_SYNC_INTERVAL > 0:
        schedule["sync-models"] = {
            "task": "worker.tasks.maintenance.enqueue_scheduled",
            "schedule": timedelta(seconds=settings.MODEL_SYNC_INTERVAL),
            "args": ["sync_models"],
        }
    if settings.USAGE_ROLLUP_INTERVAL > 0:
        schedule["usage-rollup"] = {
            "task": "worker.tasks.maintenance.enqueue_scheduled",
            "schedule": timedelta(seconds=settings.USAGE_ROLLUP_INTERVAL),
            "args": ["usage_rollup"],
        }
    if settings.RECONCILE_INTERVAL > 0:
        schedule["reconcile"] = {
            "task": "worker.tasks.maintenance.enqueue_scheduled",
            "schedule": timedelta(seconds=settings.RECONCILE_INTERVAL),
            "args": ["reconcile"],
        }
    for name, kind, interval in (("budget-sweep", "budget_sweep", settings.BUDGET_SWEEP_INTERVAL),
                                 ("key-hygiene", "key_hygiene_sweep",
                                  settings.KEY_HYGIENE_INTERVAL),
                                 ("access-sweep", "access_sweep", settings.ACCESS_SWEEP_INTERVAL)):
        if interval > 0:
            schedule[name] = {"task": "worker.tasks.maintenance.enqueue_scheduled",
                              "schedule": timedelta(seconds=interval), "args": [kind]}
    if settings.EXPORT_RETENTION_HOURS > 0:
        schedule["purge-expired-exports"] = {
            "task": "worker.tasks.usage.purge_expired_exports",
            "schedule": timedelta(minutes=15),
        }
    if settings.USAGE_RETENTION_MONTHS > 0:
        schedule["usage-retention"] = {
            "task": "worker.tasks.usage.drop_expired_usage_months",
            "schedule": timedelta(hours=6),
        }
    return schedule
