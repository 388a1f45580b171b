"""What one pod of each role needs: the figures behind the resource requests and limits of
deploy/kustomize (README "Deploying on Kubernetes / OpenShift").

    python -m bench.pods [--requests N]

Starts what each pod runs, with the pod's settings: gunicorn (``config/gunicorn.py``, 2 workers
x 4 threads as ``WEB_CONCURRENCY``/``WEB_THREADS`` in the manifests), a Celery worker
(``--concurrency 2``, the Procfile's) and beat, against the simulator; reads the PSS, USS and
RSS of each process tree (a container's memory is close to its tree's PSS) idle and, for the
web, after ``N`` requests of the pages the UI asks most (catalogue page, health, readiness,
config), with the web's CPU seconds per 1,000 of them; and times the init container
(``python -m app.db_migrate wait``) and the worker's exec probe, with their peak RSS.
Prints JSON. Uses ``DATABASE_URL``/``REDIS_URL`` like ``make bench``; loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import requests

from bench.harness import (
    ROOT,
    ManagedProcess,
    free_port,
    machine_info,
    resolve_services,
    scratch_database,
    wait_for_http,
)

PATHS = ("/api/v1/models?limit=50", "/api/v1/health", "/api/v1/health/ready", "/api/v1/config")


def tree_memory(pid: int) -> dict:
    root = psutil.Process(pid)
    procs = [root, *root.children(recursive=True)]
    total = {"rss": 0, "pss": 0, "uss": 0}
    for proc in procs:
        try:
            info = proc.memory_full_info()
        except psutil.Error:
            continue
        for key in total:
            total[key] += getattr(info, key)
    return {"processes": len(procs), **{f"{k}_mb": round(v / 2**20, 1) for k, v in total.items()}}


def tree_cpu_seconds(pid: int) -> float:
    root = psutil.Process(pid)
    seconds = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        seconds += times.user + times.system
    return seconds


# A small parent for the measured command: ru_maxrss counts what a child had before exec, and a
# child forked from this (large) process would start at this process's size.
_RUNNER = ("import json, os, sys\n"
           "pid = os.fork()\n"
           "if pid == 0:\n    os.execvp(sys.argv[1], sys.argv[1:])\n"
           "_, status, usage = os.wait4(pid, 0)\n"
           "print(json.dumps([os.waitstatus_to_exitcode(status), usage.ru_maxrss]), "
           "file=sys.stderr)\n")


def timed_child(argv: list[str], env: dict[str, str]) -> dict:
    """Wall time and peak RSS of one short command (the init container, a probe)."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-S", "-c", _RUNNER, *argv], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    code, max_rss_kb = json.loads(result.stderr.strip().splitlines()[-1])
    return {"exit": code, "seconds": round(time.perf_counter() - started, 2),
            "peak_rss_mb": round(max_rss_kb / 1024, 1),
            "output": result.stdout.strip().splitlines()[-1:]}


def measure(requests_count: int) -> dict:
    from app.db_migrate import upgrade_with_lock
    from config.settings import load_settings
    from litellm_sim.server import start_in_thread

    services = resolve_services()
    sim = start_in_thread(port=0, models=1_000)
    port = free_port()
    with scratch_database(services.base_database_url) as database_url:
        env = {
            **os.environ,
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
            "APP_ENV": "development", "LOG_LEVEL": "WARNING", "PORT": str(port),
            "DATABASE_URL": database_url, "REDIS_URL": services.redis_url,
            "REDIS_KEY_PREFIX": f"bench-pods-{uuid.uuid4().hex[:8]}:",
            "LITELLM_API_URL": sim.url, "LITELLM_API_KEY": sim.master_key,
            "MODEL_SYNC_ON_START": "false", "MODEL_SYNC_INTERVAL": "0",
            "USAGE_ROLLUP_INTERVAL": "0", "RECONCILE_INTERVAL": "0", "RATE_LIMIT_ENABLED": "false",
            "WEB_CONCURRENCY": "2", "WEB_THREADS": "4",
            "PROMETHEUS_MULTIPROC_DIR": str(ROOT / ".data" / "bench" / f"prom-{port}"),
        }
        from app import create_app

        app = create_app(load_settings({**env, "LOG_LEVEL": "WARNING"}))
        upgrade_with_lock(app)
        procs = {
            "web": ManagedProcess.start("pods-web", [
                sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "app:create_app()"],
                env),
            "worker": ManagedProcess.start("pods-worker", [
                sys.executable, "-m", "celery", "-A", "worker.app", "worker", "-Q",
                "sync,provisioning,usage,default", "--concurrency", "2", "--loglevel", "WARNING"],
                env),
            "beat": ManagedProcess.start("pods-beat", [sys.executable, "-m", "celery", "-A",
                                                       "worker.app", "beat", "--loglevel",
                                                       "WARNING"], env),
        }
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for_http(base + "/api/v1/health", procs["web"])
            requests.post(base + "/api/v1/models/sync", timeout=10)  # a catalogue to list
            time.sleep(10)  # worker children forked, beat ticked, web warm
            figures = {name: {"idle": tree_memory(p.pid)} for name, p in procs.items()}
            cpu_before = tree_cpu_seconds(procs["web"].pid)
            session = requests.Session()
            served = 0
            for i in range(requests_count):
                response = session.get(base + PATHS[i % len(PATHS)], timeout=30)
                served += response.status_code < 500
            cpu = tree_cpu_seconds(procs["web"].pid) - cpu_before
            figures["web"][f"after_{requests_count}_requests"] = tree_memory(procs["web"].pid)
            figures["web"]["cpu_seconds_per_1000_requests"] = round(cpu / requests_count * 1000, 2)
            figures["web"]["answered_below_500"] = served
            probe_env = {**env, "APP_ENV": "development"}
            figures["init_wait_for_schema"] = timed_child(
                [sys.executable, "-m", "app.db_migrate", "wait", "--timeout", "30"], probe_env)
            figures["worker_probe_ready"] = timed_child(
                [sys.executable, "-m", "worker.probe", "ready"], probe_env)
            return {"figures": figures, "machine": machine_info(database_url, services.redis_url)}
        finally:
            for process in procs.values():
                process.stop()
            from app.extensions import db

            with app.app_context():
                db.engine.dispose()
            sim.stop()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pods")
    parser.add_argument("--requests", type=int, default=4000)
    args = parser.parse_args()
    print(json.dumps(measure(args.requests), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
