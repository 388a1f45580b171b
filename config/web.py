"""The web process (Procfile ``web``): granian serving the Flask app. This module lives in
``config`` (beside gunicorn.py), not in ``app``: importing the ``app`` package costs the
supervising parent ~85 MB it never uses.

``python -m config.web`` applies migrations under the advisory lock and queues the start-up model
sync (single flight), once, in a child process; then granian (a Rust HTTP server, WSGI interface)
runs ``WEB_CONCURRENCY`` worker processes (default: one per core), each with ``WEB_THREADS``
threads running the app (default 4: requests waiting on PostgreSQL or Redis overlap).

Why granian and not gunicorn: on the bare request stack (``/api/v1/health``) gunicorn's gthread
worker cost ~240 µs of CPU per request of its own, granian ~80 µs (issue 18; the app itself
~170 µs). ``config/gunicorn.py`` stays usable (``WEB_SERVER=gunicorn python -m config.web``, or
gunicorn's own command line) for deployments that need gunicorn's control socket or hooks.

``METRICS_PORT`` serves every Prometheus figure without auth from the parent process (as
gunicorn's ``when_ready`` did); the counters are shared by the workers through
``PROMETHEUS_MULTIPROC_DIR``, emptied here at start.
"""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys
from pathlib import Path


def _prepare(in_process: bool) -> None:
    """Migrations and the start-up sync. In a child process unless ``METRICS_PORT`` needs the
    app here: the parent then only supervises granian's workers and stays small (~30 MB, not
    the ~150 MB of an imported app)."""
    metrics_dir = Path(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", ".data/prometheus"))
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True, exist_ok=True)
    if not in_process:
        subprocess.run([sys.executable, "-c", "from config.web import _migrate; _migrate()"],
                       check=True)
        return
    app = _migrate()
    port = int(os.environ["METRICS_PORT"])
    from prometheus_client import start_http_server

    from app.metrics import registry_for

    start_http_server(port, addr=os.environ.get("METRICS_BIND", "127.0.0.1"),
                      registry=registry_for(app))


def _migrate():
    from app import create_app
    from app.db_migrate import upgrade_with_lock
    from app.startup import on_web_start

    app = create_app()
    upgrade_with_lock(app)
    on_web_start(app)
    from app.extensions import db

    with app.app_context():
        db.engine.dispose()  # no connection crosses into the workers
    return app


def worker_app():
    """The app of one granian worker. Created once and kept for the worker's life, so the
    collector need not walk it again: frozen, the ~400,000 objects of the app and its modules
    leave every full collection, which otherwise stalled a request for tens of milliseconds
    now and then (the p99 of every path)."""
    from app import create_app

    app = create_app()
    gc.freeze()
    return app


def main() -> None:
    if os.environ.get("WEB_SERVER", "granian") == "gunicorn":
        os.execvp("gunicorn", ["gunicorn", "-c", "config/gunicorn.py", "app:create_app()"])
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces
    from granian.log import LogLevels

    _prepare(in_process=int(os.environ.get("METRICS_PORT", "0")) > 0)
    workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 1))
    threads = int(os.environ.get("WEB_THREADS", "4"))
    Granian(
        "config.web:worker_app", factory=True, interface=Interfaces.WSGI,
        address=os.environ.get("WEB_BIND", "0.0.0.0"), port=int(os.environ.get("PORT", "8080")),
        workers=workers, blocking_threads=threads, http=HTTPModes.http1, websockets=False,
        backlog=int(os.environ.get("WEB_BACKLOG", "1024")),
        respawn_failed_workers=True, workers_kill_timeout=30,
        log_enabled=True, log_level=LogLevels(os.environ.get("WEB_LOG_LEVEL", "warning")),
        log_access=False,  # the app writes one JSON line per request
    ).serve()


if __name__ == "__main__":
    sys.exit(main())
