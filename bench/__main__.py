"""`make bench`: every performance figure of the project, end to end, into bench/results.json.

Runs on ``DATABASE_URL`` / ``REDIS_URL`` when set, else on the embedded PostgreSQL and Redis of
``make run``, in a database it creates and drops. The HTTP load comes from ``wrk`` (C; the
Makefile installs it), against the Procfile's web process (``python -m config.web``: granian).
Before every figure the machine's load average and idle CPU share are recorded
(``bench.wrk.idle_check``); if any figure was taken on a busy machine the results are NOT
written to results.json (they go to results.busy.json, exit code 3): retry when it is idle.

What it measures (each figure the median of ``BENCH_REPEATS`` runs, default 3, each
``BENCH_SECONDS`` long, default 8):

- model sync (``bench.sync``: the simulator with 1,000 and 10,000 models, a real worker): the
  database part of a cold, a no-op and a 10 %-changed sync (``sync_*_s``, after the fetch);
- ``sync_10k_job_s``: a cold 10,000-model sync job on the worker process of the Procfile
  (``celery worker --concurrency 2``, prefork), fetch and parse included, then
  ``sync_10k_job_noop_s``, the same job again on the same answer (a no-op), and
  ``worker_rss_mb``, the peak RSS of any process of that worker while they run;
- over HTTP (32 connections): ``GET /api/v1/models?limit=50`` on 1,000 models (cached), the
  same with a different search, filter or page on every request (uncached), ``limit=1000``
  on 1,000 and on 10,000 models (8 connections), ``/api/v1/health`` (the bare request stack),
  ``GET /api/v1/jobs/{id}``, ``POST /api/v1/models/sync`` while a sync is running (the
  single-flight answer, 4 connections), and the web process tree's peak RSS meanwhile;
- ``bench.usage``: the rollup ingest of ``BENCH_USAGE_KEYS`` x 100 activity rows (default
  1,000,000) and the admin 90-day reads;
- ``bench.analytics``: the web UI's dashboards over the same 1,000,000 rows:
  ``usage_analytics_90d_p99_ms`` (a user's own 90 days) and
  ``admin_usage_analytics_90d_p99_ms`` (the worst of the admin page's cases: 90 days without
  a filter, for one model, one provider, one user, and 7 days);
- ``budget_sweep_100k_s`` (``bench.budget_sweep``): the first budget sweep of a month over
  100,000 keys and 10,000 users (ledger rows, ~7,800 alerts with forecasts and notices), in one
  process as one worker runs it, and ``budget_sweep_100k_rerun_s``, the steady-state rerun.

Rate limiting stays on, with limits raised so the load is never refused (one client address
sends it all). For reference the catalogue list is also measured with it off.

``python -m bench --sync-job`` takes only the sync jobs on the worker process, ``--enqueue``
only the enqueue figure (both may be given): for A/B comparisons while working on them. It
prints JSON and writes no results file.

``python -m bench --catalogue`` takes only the catalogue figures (cached, uncached, ``limit=1000``
on 1,000 models), ``/api/v1/health`` beside them and the web tree's peak RSS, in about a minute:
for A/B comparisons while working on that path. It prints JSON and writes no results file.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import requests

from bench import wrk
from bench.harness import (
    BENCH_DATA,
    ROOT,
    ManagedProcess,
    RssSampler,
    free_port,
    machine_info,
    median_of,
    resolve_services,
    scratch_database,
    wait_for_http,
)

REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "8"))  # each wrk run of the main figures
LIST_MODELS = 1_000
SYNC_MODELS = 10_000
USAGE_KEYS = int(os.environ.get("BENCH_USAGE_KEYS", "10000"))  # x 100 days = activity rows
LIST_PATH = "/api/v1/models?limit=50"
LIST_ALL_PATH = "/api/v1/models?limit=1000"  # the web UI's API key dialog (issue 13)
LIST_ALL_CONNECTIONS = 8
LIST_ALL_SECONDS = SECONDS
LOAD_CONNECTIONS = 32
LIST_SECONDS = SECONDS
ENQUEUE_CONNECTIONS = 4
ENQUEUE_SECONDS = max(3.0, SECONDS / 2)
STATUS_SECONDS = SECONDS
DIAGNOSTIC_SECONDS = SECONDS  # the reference runs: no rate limiting, the bare health check
UNREFUSED_LIMIT = "1000000"  # per minute: far above what one client address sends here
SLOW_FETCH_MS = 30_000  # keeps a sync "running" (in its fetch) while enqueues are measured
RESULTS = Path(__file__).with_name("results.json")
BUSY_RESULTS = Path(__file__).with_name("results.busy.json")

TARGETS = {
    "sync_10k_noop_s": ("<=", 0.15),
    "sync_10k_10pct_s": ("<=", 0.5),
    "sync_10k_cold_s": ("<=", 1.0),
    "sync_10k_job_s": ("<=", 1.0),
    "sync_10k_job_noop_s": ("<=", 0.5),
    "models_list_rps": (">=", 2000),
    "models_list_p99_ms": ("<", 50),
    "models_list_uncached_rps": (">=", 500),
    "models_list_uncached_p99_ms": ("<", 100),
    "models_list_1000_of_10k_p99_ms": ("<", 150),
    "enqueue_p99_ms": ("<", 20),
    "worker_rss_mb": ("<=", 200),
    "usage_rollup_rows_per_s": (">=", 100_000),
    "admin_usage_summary_90d_p99_ms": ("<", 100),
    "usage_analytics_90d_p99_ms": ("<", 100),  # issue 18 item 7: the user's dashboard
    "admin_usage_analytics_90d_p99_ms": ("<", 100),  # the admin dashboard, worst case
    "budget_sweep_100k_s": ("<", 30),  # issue 19: thresholds + ledger over 100,000 keys
}


class Stack:
    """The simulator (a thread here), an app for seeding and polling, and the environment the
    worker and gunicorn processes run with."""

    def __init__(self, database_url: str, redis_url: str):
        from app import create_app
        from app.db_migrate import upgrade_with_lock
        from config.settings import load_settings
        from litellm_sim.server import start_in_thread

        self.sim = start_in_thread(port=0, models=SYNC_MODELS)
        self.env = {
            **os.environ,
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
            "APP_ENV": "development", "LOG_LEVEL": "INFO",
            "DATABASE_URL": database_url, "REDIS_URL": redis_url,
            "REDIS_KEY_PREFIX": f"bench-{uuid.uuid4().hex[:8]}:",
            "LITELLM_API_URL": self.sim.url, "LITELLM_API_KEY": self.sim.master_key,
            "LITELLM_TIMEOUT_SECONDS": str(SLOW_FETCH_MS / 1000 + 30),
            "MODEL_SYNC_ON_START": "false", "MODEL_SYNC_INTERVAL": "0",
            "RATE_LIMIT_ANONYMOUS": UNREFUSED_LIMIT, "RATE_LIMIT_ADMIN": UNREFUSED_LIMIT,
        }
        self.app = create_app(load_settings({**self.env, "LOG_LEVEL": "WARNING"}))
        upgrade_with_lock(self.app)

    def close(self) -> None:
        from app.extensions import db

        with self.app.app_context():
            redis = self.app.extensions["redis"]
            for key in redis.scan_iter(match=f"{self.env['REDIS_KEY_PREFIX']}*", count=1000):
                redis.delete(key)
            db.session.remove()
            db.engine.dispose()
        self.sim.stop()

    def reset_catalogue(self) -> None:
        from sqlalchemy import text

        from app.extensions import db

        with self.app.app_context(), db.engine.begin() as conn:
            conn.execute(text("TRUNCATE models, sync_runs, jobs, audit_logs CASCADE"))

    def enqueue_sync(self) -> uuid.UUID:
        from app.services import model_sync

        with self.app.app_context():
            job, _ = model_sync.request_sync(None)
            return job.id

    def wait_for_job(self, job_id: uuid.UUID, statuses=("succeeded", "failed", "cancelled"),
                     timeout: float = 300) -> dict:
        from sqlalchemy import select

        from app.extensions import db
        from app.models import Job

        deadline = time.monotonic() + timeout
        with self.app.app_context():
            while True:
                row = db.session.execute(
                    select(Job.status, Job.error, Job.result, Job.started_at, Job.finished_at)
                    .where(Job.id == job_id)).one()
                db.session.rollback()
                if row.status in statuses:
                    return row._asdict()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"job {job_id} still {row.status} after {timeout}s")
                time.sleep(0.01)

    def wait_for_worker(self, worker: ManagedProcess, timeout: float = 60) -> None:
        """Until the worker publishes its heartbeat (it consumes from then on)."""
        from app.services.workers import live_workers

        deadline = time.monotonic() + timeout
        while not live_workers(self.app):
            if not worker.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not come up:\n{worker.tail()}")
            time.sleep(0.2)

    @contextmanager
    def process(self, name: str, argv: list[str], ready_url: str | None = None,
                stop_timeout: float = 20, **env: str):
        proc = ManagedProcess.start(name, argv, {**self.env, **env})
        try:
            if ready_url:
                wait_for_http(ready_url, proc)
            yield proc
        finally:
            proc.stop(timeout=stop_timeout)

    def worker(self):
        return self.process("worker", [sys.executable, "-m", "celery", "-A", "worker.app",
                                       "worker", "-Q", "sync,provisioning,usage,default",
                                       "--concurrency", "2", "--loglevel", "WARNING"],
                            stop_timeout=5)  # the last job may still wait on its slow fetch

    def web(self, port: int, **env: str):
        """The Procfile's web process (``python -m config.web``: granian)."""
        return self.process("web", [sys.executable, "-m", "config.web"],
                            f"http://127.0.0.1:{port}/api/v1/health", PORT=str(port),
                            WEB_BIND="127.0.0.1",
                            PROMETHEUS_MULTIPROC_DIR=str(BENCH_DATA / "prometheus"), **env)


# -- model sync --------------------------------------------------------------------------------


def sync_figures() -> dict:
    """The database part of each sync scenario, from ``bench.sync`` (median of its repeats)."""
    from bench import sync

    report = sync.run((1_000, 10_000), REPEATS)
    if not report["all_checks_passed"]:
        raise RuntimeError(f"bench.sync checks failed: {report['results']}")

    def seconds(size: int, scenario: str) -> float:
        return report["results"][str(size)]["scenarios"][scenario]["db_ms"] / 1000

    return {
        "figures": {
            "sync_1k_cold_s": seconds(1_000, "cold"),
            "sync_1k_noop_s": seconds(1_000, "noop"),
            "sync_10k_cold_s": seconds(10_000, "cold"),
            "sync_10k_noop_s": seconds(10_000, "noop"),
            "sync_10k_10pct_s": seconds(10_000, "changed_10pct"),
        },
        "details": {size: {name: {k: v for k, v in figures.items() if k != "runs"}
                           for name, figures in result["scenarios"].items()}
                    for size, result in report["results"].items()},
    }


def worker_job_figures(stack: Stack, worker: ManagedProcess) -> dict:
    """Cold 10,000-model syncs on the worker process, each followed by a no-op one (the same
    answer again); job run times (the job row's start to finish) and peak worker RSS."""
    import psutil

    stack.wait_for_worker(worker)
    idle_mb = max(p.memory_info().rss for p in
                  [psutil.Process(worker.pid), *psutil.Process(worker.pid).children()]) / 2**20
    runs = []
    for _ in range(REPEATS):
        stack.reset_catalogue()
        with RssSampler(worker.pid) as rss:
            cold = _timed_job(stack)
            noop = _timed_job(stack)
        runs.append({"job_s": cold["job_s"], "noop_job_s": noop["job_s"],
                     "enqueue_to_done_s": cold["enqueue_to_done_s"],
                     "noop_enqueue_to_done_s": noop["enqueue_to_done_s"],
                     "timings_ms": cold["timings_ms"], "noop_timings_ms": noop["timings_ms"],
                     "peak_rss_mb": round(rss.peak_mb, 1),
                     "peak_tree_rss_mb": round(rss.peak_tree_mb, 1), "rss_samples": rss.samples})
    return {
        "figures": {"sync_10k_job_s": median_of(runs, "job_s"),
                    "sync_10k_job_noop_s": median_of(runs, "noop_job_s"),
                    "worker_rss_mb": median_of(runs, "peak_rss_mb")},
        "details": {"idle_rss_mb": round(idle_mb, 1), "runs": runs},
    }


def _timed_job(stack: Stack) -> dict:
    """One sync job, enqueued and waited for: its run time and enqueue to done."""
    started = time.perf_counter()
    job = stack.wait_for_job(stack.enqueue_sync())
    wall = time.perf_counter() - started
    if job["status"] != "succeeded":
        raise RuntimeError(f"10k sync job {job['status']}: {job['error']}")
    timings = {name: job["result"].get(name) for name in ("fetchMs", "normalizeMs", "writeMs",
                                                          "dbMs", "totalMs")}
    return {"job_s": (job["finished_at"] - job["started_at"]).total_seconds(),
            "enqueue_to_done_s": round(wall, 3), "timings_ms": timings}


def seed_list_catalogue(stack: Stack) -> uuid.UUID:
    """1,000 models through a sync, as in production; returns the sync's job id."""
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import Model

    stack.sim.configure(models=LIST_MODELS)
    stack.reset_catalogue()
    job_id = stack.enqueue_sync()
    job = stack.wait_for_job(job_id)
    with stack.app.app_context():
        count = db.session.scalar(select(func.count()).select_from(Model))
        db.session.remove()
    if job["status"] != "succeeded" or count != LIST_MODELS:
        raise RuntimeError(f"seeding the list catalogue failed: {job}, {count} models")
    return job_id


# -- HTTP --------------------------------------------------------------------------------------


def admin_token(base: str) -> str:
    response = requests.post(f"{base}/api/v1/auth/login", json={"username": "admin"}, timeout=10)
    response.raise_for_status()
    return response.json()["accessToken"]


LOADS: list[dict] = []  # the machine's state before every figure (see bench.wrk.idle_check)


def load_runs(url: str, seconds: float, connections: int = LOAD_CONNECTIONS, **options) -> list:
    """``REPEATS`` wrk runs; each records the machine's load before it."""
    runs = []
    for _ in range(REPEATS):
        run = wrk.run(url, seconds=seconds, connections=connections, **options)
        LOADS.append({"url": url, **run["load_before"]})
        if run["non_2xx"] or run["errors"]:
            raise RuntimeError(f"{url}: {run['non_2xx']} non-2xx answers, "
                               f"{run['errors']} socket errors")
        runs.append(run)
    return runs


def summary(runs: list[dict]) -> dict:
    return {"rps": median_of(runs, "rps"), "p50_ms": median_of(runs, "latency_ms", "p50"),
            "p99_ms": median_of(runs, "latency_ms", "p99"),
            "runs": [{"rps": r["rps"], "requests": r["requests"], **r["latency_ms"],
                      "load_before": r["load_before"]} for r in runs]}


def uncached_paths(count: int = 4000) -> list[str]:
    """A different search, filter or page on every request, as a UI produces (the read cache
    keeps few of them: each is a database query)."""
    import random

    rng = random.Random(18)
    providers = ("openai", "anthropic", "mistral", "groq", "hosted_vllm", "azure", "bedrock")
    paths = []
    for n in range(count):
        kind = n % 4
        if kind == 0:
            query = f"search={rng.choice('abcdefghijklmnoprstuvw')}{rng.randrange(1000)}"
        elif kind == 1:
            query = f"provider={rng.choice(providers)}&page={rng.randrange(1, 6)}"
        elif kind == 2:
            query = f"page={rng.randrange(1, 21)}&search=model-{rng.randrange(100)}"
        else:
            query = f"search={rng.randrange(10_000)}&page=1"
        paths.append(f"/api/v1/models?limit=50&{query}&v={n}")
    return paths


def uncached_figures(base: str) -> dict:
    return summary(load_runs(base + LIST_PATH, LIST_SECONDS, paths=uncached_paths()))


def usage_figures() -> dict:
    """``bench.usage`` (the rollup ingest and the admin 90-day reads) in a child process."""
    from bench.harness import run_json

    report = run_json([sys.executable, "-m", "bench.usage", "--keys", str(USAGE_KEYS)],
                      timeout=1800)
    LOADS.append({"url": "bench.usage", **(report.get("load_before") or {})})
    return report


def analytics_figures() -> dict:
    """``bench.analytics`` (the web UI's usage dashboards) in a child process."""
    from bench.harness import run_json

    report = run_json([sys.executable, "-m", "bench.analytics", "--keys", str(USAGE_KEYS)],
                      timeout=1800)
    LOADS.append({"url": "bench.analytics", **(report.get("load_before") or {})})
    return report


def list_figures(base: str, seconds: float = LIST_SECONDS) -> dict:
    first = requests.get(base + LIST_PATH, timeout=10)
    if first.status_code != 200 or len(first.json()["data"]) != 50:
        raise RuntimeError(f"catalogue list answered {first.status_code}")
    return summary(load_runs(base + LIST_PATH, seconds))


def list_all_figures(base: str, catalogue: int) -> dict:
    """1,000 models per request (the whole catalogue of 1,000, or a page of 10,000)."""
    first = requests.get(base + LIST_ALL_PATH, timeout=30)
    if first.status_code != 200 or len(first.json()["data"]) != min(1000, catalogue):
        raise RuntimeError(f"catalogue list (limit=1000) answered {first.status_code}")
    return summary(load_runs(base + LIST_ALL_PATH, LIST_ALL_SECONDS, LIST_ALL_CONNECTIONS))


def enqueue_figures(stack: Stack, base: str, token: str) -> dict:
    """POST /models/sync while a sync is running: every answer is that job (202)."""
    headers = {"Authorization": f"Bearer {token}"}
    stack.sim.configure(latency_ms=SLOW_FETCH_MS)
    try:
        running = requests.post(f"{base}/api/v1/models/sync", json={}, headers=headers,
                                timeout=10).json()["jobId"]
        stack.wait_for_job(uuid.UUID(running), statuses=("running",), timeout=60)
        runs = load_runs(f"{base}/api/v1/models/sync", ENQUEUE_SECONDS, ENQUEUE_CONNECTIONS,
                         method="POST", body="{}",
                         headers=[f"Authorization: Bearer {token}", "Prefer: respond-async"])
        again = requests.post(f"{base}/api/v1/models/sync", json={}, headers=headers,
                              timeout=10).json()["jobId"]
        if again != running:
            raise RuntimeError("a sync request during a running sync started another job")
        requests.post(f"{base}/api/v1/jobs/{running}/cancel", headers=headers, timeout=10)
    finally:
        stack.sim.configure(latency_ms=0)
    return summary(runs)


def status_figures(base: str, token: str, job_id: uuid.UUID) -> dict:
    return summary(load_runs(f"{base}/api/v1/jobs/{job_id}", STATUS_SECONDS,
                             headers=[f"Authorization: Bearer {token}"]))


# -- the whole run -----------------------------------------------------------------------------


_BEGAN = time.monotonic()


def note(message: str) -> None:
    """Progress on stderr (stdout carries the JSON)."""
    print(f"[bench {time.monotonic() - _BEGAN:6.1f}s] {message}", file=sys.stderr, flush=True)


def verdicts(figures: dict) -> dict:
    checks = {"<=": float.__le__, "<": float.__lt__, ">=": float.__ge__}
    return {name: {"value": figures[name], "target": f"{op} {limit}",
                   "met": checks[op](float(figures[name]), float(limit))}
            for name, (op, limit) in TARGETS.items() if name in figures}


def run() -> dict:
    began = time.monotonic()
    services = resolve_services()
    figures, details = {}, {}
    note("model sync scenarios (bench.sync)")
    LOADS.append({"url": "bench.sync", **wrk.idle_check()})
    sync = sync_figures()
    figures.update(sync["figures"])
    details["sync_db_ms"] = sync["details"]
    note("budget sweep over 100,000 keys (bench.budget_sweep)")
    from bench import budget_sweep

    sweep = budget_sweep.run(100_000)
    figures["budget_sweep_100k_s"] = sweep["first_sweep"]["seconds"]
    figures["budget_sweep_100k_rerun_s"] = sweep["rerun"]["seconds"]
    details["budget_sweep_100k"] = sweep
    with scratch_database(services.base_database_url) as database_url:
        machine = machine_info(database_url, services.redis_url)
        stack = Stack(database_url, services.redis_url)
        try:
            with stack.worker() as worker:
                note("10,000-model sync jobs on the worker process")
                LOADS.append({"url": "sync job", **wrk.idle_check()})
                job = worker_job_figures(stack, worker)
                figures.update(job["figures"])
                details["worker_sync_10k"] = job["details"]
                port = free_port()
                base = f"http://127.0.0.1:{port}"
                with stack.web(port):
                    note("GET /api/v1/models?limit=1000 on 10,000 models")
                    listing_10k = list_all_figures(base, SYNC_MODELS)
                finished_job = seed_list_catalogue(stack)
                with stack.web(port) as web, RssSampler(web.pid, every=0.2) as web_rss:
                    listing, uncached, listing_all, health = catalogue_http_figures(base)
                    token = admin_token(base)
                    note("GET /api/v1/jobs/{id}")
                    status = status_figures(base, token, finished_job)
                    note("POST /api/v1/models/sync while a sync runs")
                    enqueue = enqueue_figures(stack, base, token)
                with stack.web(port, RATE_LIMIT_ENABLED="false"):
                    note("reference: GET /api/v1/models?limit=50 without rate limiting")
                    unlimited = list_figures(base, DIAGNOSTIC_SECONDS)
        finally:
            stack.close()
    note(f"usage rollup of {USAGE_KEYS * 100:,} activity rows and the admin reads (bench.usage)")
    usage = usage_figures()
    note(f"the usage dashboards over {USAGE_KEYS * 100:,} usage rows (bench.analytics)")
    analytics = analytics_figures()
    figures.update({
        "models_list_rps": listing["rps"], "models_list_p99_ms": listing["p99_ms"],
        "models_list_uncached_rps": uncached["rps"],
        "models_list_uncached_p99_ms": uncached["p99_ms"],
        "models_list_1000_rps": listing_all["rps"],
        "models_list_1000_p99_ms": listing_all["p99_ms"],
        "models_list_1000_of_10k_rps": listing_10k["rps"],
        "models_list_1000_of_10k_p99_ms": listing_10k["p99_ms"],
        "enqueue_p99_ms": enqueue["p99_ms"], "job_status_rps": status["rps"],
        "models_list_no_ratelimit_rps": unlimited["rps"],
        "models_list_no_ratelimit_p99_ms": unlimited["p99_ms"],
        "health_rps": health["rps"], "health_p99_ms": health["p99_ms"],
        "web_rss_peak_tree_mb": round(web_rss.peak_tree_mb, 1),
        "usage_rollup_rows_per_s": usage["rollup"]["rows_per_second"],
        "usage_rerun_rows_per_s": usage["rerun_same_data"]["rows_per_second"],
        "admin_usage_summary_90d_p99_ms": usage["admin_summary_90d"]["p99_ms"],
        "usage_analytics_90d_p99_ms": analytics["user_90d"]["p99_ms"],
        "admin_usage_analytics_90d_p99_ms": analytics["admin_worst_p99_ms"],
    })
    details.update({"models_list": listing, "models_list_uncached": uncached,
                    "models_list_1000": listing_all, "models_list_1000_of_10k": listing_10k,
                    "models_list_no_ratelimit": unlimited,
                    "health": health, "enqueue_during_sync": enqueue, "job_status": status,
                    "web_rss": {"peak_tree_mb": round(web_rss.peak_tree_mb, 1),
                                "peak_process_mb": round(web_rss.peak_mb, 1)},
                    "usage": usage, "analytics": analytics})
    machine["load_average_1m_end"] = round(os.getloadavg()[0], 2)
    return {
        **{name: round(float(value), 4) for name, value in figures.items()},
        "targets": verdicts(figures),
        "machine": machine,
        "loads_before_figures": LOADS,
        "busy": [load for load in LOADS if load.get("busy")],
        "embedded_services": services.embedded,
        "settings": {"repeats": REPEATS, "connections": LOAD_CONNECTIONS,
                     "seconds": SECONDS, "list_models": LIST_MODELS,
                     "list_all_connections": LIST_ALL_CONNECTIONS,
                     "enqueue_connections": ENQUEUE_CONNECTIONS,
                     "enqueue_seconds": ENQUEUE_SECONDS, "usage_activity_rows": USAGE_KEYS * 100,
                     "min_idle_pct": wrk.MIN_IDLE_PCT, "load_generator": "wrk",
                     "web_server": "granian (python -m config.web, the Procfile)",
                     "rate_limit_per_minute": int(UNREFUSED_LIMIT)},
        "details": details,
        "bench_seconds": round(time.monotonic() - began, 1),
    }


def worker_run(parts: set[str]) -> dict:
    """Only the sync jobs (``--sync-job``) and/or the enqueue figure (``--enqueue``), for A/B
    comparisons while working on them: prints JSON, writes no results file."""
    services = resolve_services()
    figures, details = {}, {}
    with scratch_database(services.base_database_url) as database_url:
        stack = Stack(database_url, services.redis_url)
        try:
            with stack.worker() as worker:
                if "--sync-job" in parts:
                    note("10,000-model sync jobs on the worker process")
                    LOADS.append({"url": "sync job", **wrk.idle_check()})
                    job = worker_job_figures(stack, worker)
                    figures.update(job["figures"])
                    details["worker_sync_10k"] = job["details"]
                if "--enqueue" in parts:
                    stack.wait_for_worker(worker)
                    port = free_port()
                    base = f"http://127.0.0.1:{port}"
                    with stack.web(port):
                        note("POST /api/v1/models/sync while a sync runs")
                        enqueue = enqueue_figures(stack, base, admin_token(base))
                    figures["enqueue_p99_ms"] = enqueue["p99_ms"]
                    details["enqueue_during_sync"] = enqueue
        finally:
            stack.close()
    return {**figures, "targets": verdicts(figures), "loads_before_figures": LOADS,
            "details": details}


def catalogue_http_figures(base: str) -> tuple[dict, dict, dict, dict]:
    """The catalogue over HTTP (cached, uncached, ``limit=1000`` of 1,000) and ``/health``."""
    note("GET /api/v1/models?limit=50 (cached)")
    listing = list_figures(base)
    note("GET /api/v1/models, a different query each request (uncached)")
    uncached = uncached_figures(base)
    note("GET /api/v1/models?limit=1000")
    listing_all = list_all_figures(base, LIST_MODELS)
    note("GET /api/v1/health (the request stack; rate limiter on, exempt)")
    health = summary(load_runs(f"{base}/api/v1/health", DIAGNOSTIC_SECONDS))
    return listing, uncached, listing_all, health


def catalogue_run() -> dict:
    """The catalogue figures alone (``--catalogue``), with /health and the web RSS beside them."""
    services = resolve_services()
    with scratch_database(services.base_database_url) as database_url:
        stack = Stack(database_url, services.redis_url)
        try:
            with stack.worker() as worker:
                stack.wait_for_worker(worker)
                seed_list_catalogue(stack)
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            with stack.web(port) as web, RssSampler(web.pid, every=0.2) as web_rss:
                listing, uncached, listing_all, health = catalogue_http_figures(base)
        finally:
            stack.close()
    figures = {
        "models_list_rps": listing["rps"], "models_list_p99_ms": listing["p99_ms"],
        "models_list_uncached_rps": uncached["rps"],
        "models_list_uncached_p99_ms": uncached["p99_ms"],
        "models_list_1000_rps": listing_all["rps"],
        "models_list_1000_p99_ms": listing_all["p99_ms"],
        "health_rps": health["rps"], "health_p99_ms": health["p99_ms"],
        "web_rss_peak_tree_mb": round(web_rss.peak_tree_mb, 1),
    }
    return {**figures,
            "targets": verdicts(figures),
            "loads_before_figures": LOADS,
            "details": {"models_list": listing, "models_list_uncached": uncached,
                        "models_list_1000": listing_all, "health": health}}


def main() -> int:
    os.chdir(ROOT)
    if "--catalogue" in sys.argv[1:]:
        print(json.dumps(catalogue_run(), indent=2, default=str))
        return 0
    only = {"--sync-job", "--enqueue"} & set(sys.argv[1:])
    if only:
        print(json.dumps(worker_run(only), indent=2, default=str))
        return 0
    results = run()
    text = json.dumps(results, indent=2, default=str) + "\n"
    print(text)
    if results["busy"]:
        BUSY_RESULTS.write_text(text)
        print(f"\nbench: REFUSED to write {RESULTS.name}: the machine was busy before "
              f"{len(results['busy'])} of {len(LOADS)} figures (less than "
              f"{wrk.MIN_IDLE_PCT:g} % idle CPU; load average and idle share in "
              f"'loads_before_figures'). The figures are in {BUSY_RESULTS} for reference. "
              "Retry on an idle machine (knobs: BENCH_MIN_IDLE_PCT, BENCH_IDLE_WAIT).",
              file=sys.stderr)
        return 3
    RESULTS.write_text(text)
    note(f"results written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
