"""The Celery app, built from the Flask app's settings (Flask's own Celery pattern)."""

from __future__ import annotations

from celery import Celery, Task
from flask import Flask
from kombu import Queue

from app.services.job_kinds import QUEUES, task_modules, task_routes
from config.settings import Settings
from worker.schedule import beat_schedule
from worker.signals import connect_worker_signals

TASK_ROUTES = task_routes()
TASK_MODULES = task_modules()


def celery_config(settings: Settings) -> dict:
    prefix = settings.REDIS_KEY_PREFIX
    return {
        "broker_url": settings.REDIS_URL,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            "global_keyprefix": prefix,
            # Unacked messages of a killed worker come back after visibility_timeout; tasks
            # are idempotent and claim their job under a heartbeat lease, so a late duplicate
            # of a still-running job is skipped.
            "visibility_timeout": settings.CELERY_VISIBILITY_TIMEOUT,
            "unacked_restore_interval": max(1, min(10, settings.CELERY_VISIBILITY_TIMEOUT // 4)),
            "unacked_restore_throttle": 1,
            "socket_connect_timeout": 2,
            "socket_timeout": 10,
        },
        "task_publish_retry_policy": {
            "max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5,
        },
        "task_ignore_result": True,
        "result_backend": None,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_default_queue": "default",
        "task_queues": [Queue(name) for name in QUEUES],
        "task_routes": TASK_ROUTES,
        "task_serializer": "json",
        "accept_content": ["json"],
        "worker_hijack_root_logger": False,
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "timezone": "UTC",
        "beat_schedule": beat_schedule(settings),
        "beat_scheduler": "redbeat.RedBeatScheduler",
        "redbeat_redis_url": settings.REDIS_URL,
        "redbeat_key_prefix": f"{prefix}redbeat",
        "redbeat_lock_timeout": 300,
    }


def celery_init_app(app: Flask, settings: Settings) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.name, task_cls=FlaskTask, include=list(TASK_MODULES))
    celery.config_from_object(celery_config(settings))
    celery.set_default()
    connect_worker_signals(app, celery)
    app.extensions["celery"] = celery
    return celery
