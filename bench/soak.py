"""Soak: mixed traffic against the real processes for a few minutes; nothing may fail, latency
stays bounded and no process grows without bound.

``python -m bench.soak --minutes N`` (N ≤ 10; ``--seconds`` for shorter runs) starts the
LiteLLM simulator (a thread), gunicorn with ``config/gunicorn.py`` and a Celery worker process
(every queue) on ``DATABASE_URL`` / ``REDIS_URL`` (a scratch database, dropped afterwards) or
the embedded servers, all on loopback. Then, until the time is up:

- ``CLIENTS`` threads of users list the catalogue, create API keys (each key is revoked again,
  so the per-user quota is never reached and revocation jobs run too) and poll their jobs;
- an admin asks for a model sync every ``SYNC_EVERY`` seconds (the simulator mutates a few
  models between syncs, so syncs do real work) and polls it.

Every loop stops by itself at the deadline. It prints JSON: requests and errors (any 5xx,
connection error or unexpected status: must be 0), p50/p99 latency overall and per kind of
request, the jobs run and their outcomes, and the RSS of each process tree (web, worker) after
warm-up and at the end, with the growth — ``ok`` is true when errors are 0, every job
finished, and growth stays under ``MEMORY_GROWTH_LIMIT_MB``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

import requests

from bench.harness import (
    BENCH_DATA,
    ManagedProcess,
    free_port,
    latency_summary,
    machine_info,
    resolve_services,
    scratch_database,
    wait_for_http,
)

MAX_MINUTES = 10
CLIENTS = 4
SYNC_EVERY = 4.0
MODELS = 200
MEMORY_GROWTH_LIMIT_MB = 64
WARMUP_SECONDS = 10.0
EXPECTED = {"list_models": {200}, "create_key": {201}, "revoke_key": {200, 202},
            "poll_job": {200}, "sync": {202}, "list_keys": {200}, "me": {200}}


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: list[dict] = []
        self.statuses: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))

    def call(self, session: requests.Session, kind: str, method: str, url: str, **kwargs):
        started = time.perf_counter()
        try:
            response = session.request(method, url, timeout=30, **kwargs)
        except requests.RequestException as exc:
            with self.lock:
                self.errors.append({"kind": kind, "error": type(exc).__name__})
            return None
        elapsed = (time.perf_counter() - started) * 1000
        with self.lock:
            self.latencies[kind].append(elapsed)
            self.statuses[kind][response.status_code] += 1
            if response.status_code not in EXPECTED[kind]:
                self.errors.append({"kind": kind, "status": response.status_code,
                                    "body": response.text[:300]})
        return response

    def summary(self) -> dict:
        everything = [v for values in self.latencies.values() for v in values]
        return {
            "requests": len(everything) + sum(1 for e in self.errors if "error" in e),
            "errors": len(self.errors),
            "error_samples": self.errors[:10],
            "latency_ms": latency_summary(everything),
            "by_kind": {kind: {"count": len(values), "statuses": dict(self.statuses[kind]),
                               **latency_summary(values)}
                        for kind, values in sorted(self.latencies.items())},
        }


def tree_rss_mb(pid: int) -> float:
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return round(total / 2**20, 1)


def per_process_rss_mb(pid: int) -> dict[str, float]:
    import psutil

    root = psutil.Process(pid)
    sizes = {}
    for proc in [root, *root.children(recursive=True)]:
        try:
            sizes[str(proc.pid)] = round(proc.memory_info().rss / 2**20, 1)
        except psutil.NoSuchProcess:
            continue
    return sizes


def login(base: str, username: str) -> dict[str, str]:
    """Sign in (set-up, not measured: a 503 while the servers settle is retried)."""
    for _ in range(20):
        response = requests.post(f"{base}/api/v1/auth/login", json={"username": username},
                                 timeout=10)
        if response.status_code != 503:
            break
        time.sleep(1)
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['accessToken']}"}


def user_loop(base: str, headers: dict, models: list[str], deadline: float, rec: Recorder,
              seed: int) -> None:
    rng = random.Random(seed)
    session = requests.Session()
    session.headers.update(headers)
    jobs: list[str] = []
    n = 0
    while time.monotonic() < deadline:
        n += 1
        choice = rng.random()
        if choice < 0.55:
            rec.call(session, "list_models", "GET",
                     f"{base}/api/v1/models?limit=50&page={rng.randint(1, 4)}")
        elif choice < 0.65:
            rec.call(session, "me", "GET", f"{base}/api/v1/auth/me")
        elif choice < 0.75:
            rec.call(session, "list_keys", "GET", f"{base}/api/v1/api-keys?limit=20")
        elif choice < 0.88:
            created = rec.call(session, "create_key", "POST", f"{base}/api/v1/api-keys",
                               json={"name": f"soak {seed}-{n}",
                                     "modelIds": [rng.choice(models)]})
            if created is not None and created.status_code == 201:
                revoked = rec.call(session, "revoke_key", "DELETE",
                                   f"{base}/api/v1/api-keys/{created.json()['id']}")
                if revoked is not None and revoked.status_code == 202:
                    jobs.append(revoked.json()["jobId"])
        elif jobs:
            rec.call(session, "poll_job", "GET", f"{base}/api/v1/jobs/{jobs[-1]}")
        time.sleep(rng.uniform(0.0, 0.02))


def admin_loop(base: str, headers: dict, sim, deadline: float, rec: Recorder,
               sync_jobs: list[str]) -> None:
    session = requests.Session()
    session.headers.update(headers)
    next_sync = time.monotonic()
    while time.monotonic() < deadline:
        if time.monotonic() >= next_sync:
            with sim.state.lock:
                sim.state.catalog.mutate(2)
            answer = rec.call(session, "sync", "POST", f"{base}/api/v1/models/sync", json={})
            if answer is not None and answer.status_code in (200, 202):
                job_id = answer.json()["jobId"]
                if job_id not in sync_jobs:
                    sync_jobs.append(job_id)
            next_sync = time.monotonic() + SYNC_EVERY
        if sync_jobs:
            rec.call(session, "poll_job", "GET", f"{base}/api/v1/jobs/{sync_jobs[-1]}")
        time.sleep(0.25)


def job_outcomes(database_url: str) -> dict:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT kind, status, count(*) FROM jobs GROUP BY kind, status"
                                 )).all()
    engine.dispose()
    outcomes: dict[str, dict[str, int]] = defaultdict(dict)
    for kind, status, count in rows:
        outcomes[kind][status] = count
    return dict(outcomes)


def wait_until_jobs_settle(database_url: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        outcomes = job_outcomes(database_url)
        active = sum(n for statuses in outcomes.values()
                     for status, n in statuses.items() if status in ("queued", "running"))
        if not active or time.monotonic() > deadline:
            return outcomes
        time.sleep(0.5)


def run(seconds: float) -> dict:
    from litellm_sim.server import start_in_thread

    if not 0 < seconds <= MAX_MINUTES * 60:
        raise SystemExit(f"the soak runs for at most {MAX_MINUTES} minutes")
    services = resolve_services()
    sim = start_in_thread(port=0, models=MODELS)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    try:
        with scratch_database(services.base_database_url) as database_url:
            machine = machine_info(database_url, services.redis_url)
            env = {
                **os.environ,
                "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
                "APP_ENV": "development", "LOG_LEVEL": "WARNING",
                "DATABASE_URL": database_url, "REDIS_URL": services.redis_url,
                "REDIS_KEY_PREFIX": f"soak-{uuid.uuid4().hex[:8]}:",
                "LITELLM_API_URL": sim.url, "LITELLM_API_KEY": sim.master_key,
                "MODEL_SYNC_ON_START": "true", "MODEL_SYNC_INTERVAL": "0",
                "RATE_LIMIT_MAX": "1000000", "RATE_LIMIT_ADMIN": "1000000",
                "RATE_LIMIT_ANONYMOUS": "1000000", "RATE_LIMIT_API_KEY": "1000000",
                "PORT": str(port), "WEB_CONCURRENCY": "2",
                "PROMETHEUS_MULTIPROC_DIR": str(BENCH_DATA / "soak-prometheus"),
            }
            web = ManagedProcess.start("soak-web", [sys.executable, "-m", "gunicorn", "-c",
                                                    "config/gunicorn.py", "app:create_app()"],
                                       env)
            worker = ManagedProcess.start(
                "soak-worker", [sys.executable, "-m", "celery", "-A", "worker.app", "worker",
                                "-Q", "sync,provisioning,usage,default", "--concurrency", "2",
                                "--loglevel", "WARNING"], env)
            try:
                wait_for_http(f"{base}/api/v1/health", web)
                result = soak(base, sim, seconds, web, worker, database_url)
            finally:
                web.stop()
                worker.stop(timeout=30)
            result["jobs"] = job_outcomes(database_url)
    finally:
        sim.stop()
    result["machine"] = machine
    result["embedded_services"] = services.embedded
    jobs_ok = all(set(statuses) <= {"succeeded"} for statuses in result["jobs"].values())
    result["all_jobs_succeeded"] = jobs_ok
    result["ok"] = (result["errors"] == 0 and jobs_ok
                    and all(m["growth_mb"] < MEMORY_GROWTH_LIMIT_MB
                            for m in result["memory"].values()))
    return result


def soak(base: str, sim, seconds: float, web, worker, database_url: str) -> dict:
    admin = login(base, "admin")
    deadline = time.monotonic() + 60  # the start-up sync fills the catalogue
    models: list[str] = []
    while not models and time.monotonic() < deadline:
        models = [m["id"] for m in requests.get(f"{base}/api/v1/models?limit=20",
                                                timeout=10).json()["data"]]
        time.sleep(0.5)
    if not models:
        raise RuntimeError("the start-up sync did not fill the catalogue")
    users = []
    for n in range(CLIENTS):
        headers = login(base, f"soak-user-{n}")
        for model in models[:5]:
            requests.post(f"{base}/api/v1/subscriptions", json={"modelId": model},
                          headers=headers, timeout=10).raise_for_status()
        users.append(headers)

    rec = Recorder()
    sync_jobs: list[str] = []
    began = time.monotonic()
    end = began + seconds
    threads = [threading.Thread(target=user_loop, args=(base, users[n], models[:5], end, rec, n),
                                daemon=True) for n in range(CLIENTS)]
    threads.append(threading.Thread(target=admin_loop,
                                    args=(base, admin, sim, end, rec, sync_jobs), daemon=True))
    for thread in threads:
        thread.start()
    warmup = min(WARMUP_SECONDS, seconds / 3)
    time.sleep(warmup)
    start_rss = {"web": tree_rss_mb(web.pid), "worker": tree_rss_mb(worker.pid)}
    peak = dict(start_rss)
    while time.monotonic() < end:
        time.sleep(min(2.0, max(0.0, end - time.monotonic())))
        for name, proc in (("web", web), ("worker", worker)):
            peak[name] = max(peak[name], tree_rss_mb(proc.pid))
    for thread in threads:
        thread.join(timeout=60)
    end_rss = {"web": tree_rss_mb(web.pid), "worker": tree_rss_mb(worker.pid)}
    processes = {"web": per_process_rss_mb(web.pid), "worker": per_process_rss_mb(worker.pid)}
    wait_until_jobs_settle(database_url)
    result = rec.summary()
    result.update({
        "seconds": round(time.monotonic() - began, 1),
        "clients": CLIENTS,
        "syncs_requested_every_s": SYNC_EVERY,
        "sync_jobs": len(sync_jobs),
        "memory": {name: {"after_warmup_mb": start_rss[name], "end_mb": end_rss[name],
                          "peak_mb": peak[name],
                          "growth_mb": round(end_rss[name] - start_rss[name], 1),
                          "processes_mb": processes[name]}
                   for name in ("web", "worker")},
        "memory_growth_limit_mb": MEMORY_GROWTH_LIMIT_MB,
    })
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--minutes", type=float, default=2.0,
                        help=f"how long to run (at most {MAX_MINUTES})")
    parser.add_argument("--seconds", type=float, default=None, help="overrides --minutes")
    args = parser.parse_args(argv)
    seconds = args.seconds if args.seconds is not None else args.minutes * 60
    result = run(seconds)
    print(json.dumps(result, indent=2, default=str))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
