"""gunicorn settings for the web process (production worker settings)."""

import multiprocessing
import os
import shutil
from pathlib import Path

bind = f"0.0.0.0:{os.environ.get('PORT', '8080')}"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
# Connections one worker may hold (requests in flight plus idle keep-alive ones). gthread
# workers accept whatever they can, so a burst of clients (a router reconnecting, a load test)
# can land on one worker, which the GIL keeps to one core while the others idle: measured with
# 32 keep-alive clients, one worker at 85 % CPU and three at 0 %. A cap spreads them.
worker_connections = int(os.environ.get("WEB_WORKER_CONNECTIONS", threads * 4))
timeout = 60
graceful_timeout = 30
keepalive = 5
accesslog = None  # the app writes one JSON line per request
preload_app = False
# Forwarded headers are trusted in one place only: the app's ProxyFix (TRUSTED_PROXIES).
forwarded_allow_ips = ""
# No control socket unless GUNICORN_CONTROL_SOCKET names one: the default path is one per user
# (~/.gunicorn/gunicorn.ctl), so two servers on a host would share it and delete each other's.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "")
control_socket_disable = not os.environ.get("GUNICORN_CONTROL_SOCKET")

# Prometheus counters shared by all workers of this server (multiprocess mode).
_metrics_dir = Path(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", ".data/prometheus"))
shutil.rmtree(_metrics_dir, ignore_errors=True)
_metrics_dir.mkdir(parents=True, exist_ok=True)


def on_starting(server):
    """Before forking workers: apply migrations under the advisory lock, then queue the
    start-up model sync (single flight, so N replicas cause one sync)."""
    from app import create_app
    from app.db_migrate import upgrade_with_lock
    from app.startup import on_web_start

    app = create_app()
    upgrade_with_lock(app)
    on_web_start(app)


def when_ready(server):
    """Optional separate bind for scrapers: METRICS_PORT serves every figure without auth."""
    port = int(os.environ.get("METRICS_PORT") or "0")  # empty (as in .env.example): off
    if port:
        from prometheus_client import start_http_server

        from app import create_app
        from app.metrics import registry_for

        start_http_server(port, addr=os.environ.get("METRICS_BIND", "127.0.0.1"),
                          registry=registry_for(create_app()))


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
