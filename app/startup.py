"""Work the web process does once at start, after migrations."""

from __future__ import annotations

import logging

from flask import Flask

from app.services import jobs

log = logging.getLogger(__name__)


def on_web_start(app: Flask) -> None:
    """Queue the start-up model sync (single flight: N replicas cause one sync)."""
    if not app.config["MODEL_SYNC_ON_START"]:
        return
    with app.app_context():
        job, created = jobs.enqueue("sync_models", {"trigger": "startup"})
        log.info("start-up model sync %s (job %s)", "queued" if created else "running", job.id)
