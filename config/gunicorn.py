"""gunicorn settings for the web process (production worker settings)."""

import multiprocessing
import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8080')}"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = 60
graceful_timeout = 30
keepalive = 5
accesslog = None  # the app writes one JSON line per request
preload_app = False


def on_starting(server):
    """Before forking workers: apply migrations under the advisory lock, then queue the
    start-up model sync (single flight, so N replicas cause one sync)."""
    from app import create_app
    from app.db_migrate import upgrade_with_lock
    from app.startup import on_web_start

    app = create_app()
    upgrade_with_lock(app)
    on_web_start(app)
