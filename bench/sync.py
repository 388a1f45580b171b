"""Model sync benchmark: the LiteLLM simulator with 1,000 and 10,000 models; a cold sync (empty
catalogue), a no-op sync (same payload) and a sync after 10 % of the models changed.

Each sync runs as a real ``sync_models`` job on a Celery worker (a thread of this process, as
in the tests) and fetches ``/model/info`` over HTTP from the simulator. Figures per scenario,
median of ``--repeats`` runs:

- ``db_ms``: everything after the fetch (fingerprint, normalisation, diff, writes, commit); the
  targets apply to it: 10,000 models no-op ≤ 150 ms, 10 % changed ≤ 500 ms, cold ≤ 1,000 ms;
- ``normalize_ms`` and ``write_ms``: its two halves (write = statements and commit);
- ``fetch_ms``: the HTTP call and JSON parsing (a 10,000-model answer is ~75 MB);
- ``job_ms``: the whole job, from enqueue to ``succeeded`` as seen in the jobs table.

``python -m bench.sync`` prints JSON; ``run()`` returns the same dict (for ``make bench``).
Uses ``DATABASE_URL`` / ``REDIS_URL`` (a scratch database, dropped afterwards) or the embedded
servers.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from contextlib import contextmanager

from bench.harness import machine_info, median, resolve_services, scratch_database

SIZES = (1_000, 10_000)
SCENARIOS = ("cold", "noop", "changed_10pct")
TARGETS_MS = {10_000: {"noop": 150, "changed_10pct": 500, "cold": 1_000}}
FIGURES = ("db_ms", "normalize_ms", "write_ms", "fetch_ms", "total_ms", "job_ms")


@contextmanager
def _stack(database_url: str, redis_url: str, models: int):
    """Simulator, migrated app and a Celery worker thread consuming every queue."""
    from celery.contrib.testing.worker import start_worker

    from app import create_app
    from app.db_migrate import upgrade_with_lock
    from config.settings import Settings
    from litellm_sim.server import start_in_thread
    from worker.celery_app import QUEUES

    sim = start_in_thread(port=0, models=models, seed=42, latency_ms=0, error_rate=0.0,
                          down=False, garbage=None)
    settings = Settings(
        APP_ENV="test", DATABASE_URL=database_url, REDIS_URL=redis_url,
        REDIS_KEY_PREFIX=f"bench-sync-{uuid.uuid4().hex[:8]}:", LITELLM_API_URL=sim.url,
        LITELLM_API_KEY=sim.master_key, LITELLM_TIMEOUT_SECONDS=120.0,
        MODEL_SYNC_ON_START=False, LOG_LEVEL="WARNING", DB_MAX_CONNECTIONS=5,
    )
    app = create_app(settings)
    upgrade_with_lock(app)
    celery = app.extensions["celery"]
    try:
        with start_worker(celery, pool="threads", concurrency=1, perform_ping_check=False,
                          queues=list(QUEUES), shutdown_timeout=30, loglevel="WARNING"):
            yield app, sim
    finally:
        with app.app_context():
            from app.extensions import db

            redis = app.extensions["redis"]
            for key in redis.scan_iter(match=f"{settings.REDIS_KEY_PREFIX}*", count=1000):
                redis.delete(key)
            db.session.remove()
            db.engine.dispose()
        sim.stop()


def _run_job(app, timeout: float = 600.0) -> dict:
    """Enqueue one sync job and wait for it; the job's own timings plus enqueue→done."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models import Job
    from app.services import model_sync

    with app.app_context():
        started = time.perf_counter()
        job, _ = model_sync.request_sync(None)
        job_id = job.id
        deadline = started + timeout
        while True:
            db.session.rollback()
            status, result, error = db.session.execute(
                select(Job.status, Job.result, Job.error).where(Job.id == job_id)).one()
            if status in ("succeeded", "failed", "cancelled"):
                break
            if time.perf_counter() > deadline:
                raise RuntimeError(f"sync job still {status} after {timeout}s")
            time.sleep(0.05)
        job_ms = (time.perf_counter() - started) * 1000
        db.session.remove()
    if status != "succeeded":
        raise RuntimeError(f"sync job {status}: {error}")
    return {
        "job_ms": round(job_ms, 1), "db_ms": result["dbMs"],
        "normalize_ms": result["normalizeMs"], "write_ms": result["writeMs"],
        "fetch_ms": result["fetchMs"], "total_ms": result["totalMs"],
        "noop": result["noop"], "added": result["added"], "updated": result["updated"],
        "unchanged": result["unchanged"],
    }


def _reset_catalogue(app) -> None:
    from sqlalchemy import text

    from app.extensions import db

    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text("TRUNCATE models, sync_runs, jobs, audit_logs CASCADE"))


def bench_size(database_url: str, redis_url: str, models: int, repeats: int) -> dict:
    runs: dict[str, list[dict]] = {name: [] for name in SCENARIOS}
    with _stack(database_url, redis_url, models) as (app, sim):
        for _ in range(repeats):
            _reset_catalogue(app)
            runs["cold"].append(_run_job(app))
            runs["noop"].append(_run_job(app))
            with sim.state.lock:
                mutated = sim.state.catalog.mutate(10)
            changed = _run_job(app)
            changed["mutated"] = len(mutated)
            runs["changed_10pct"].append(changed)
    summary = {}
    for name, results in runs.items():
        summary[name] = {figure: median(r[figure] for r in results) for figure in FIGURES}
        summary[name]["runs"] = results
    checks = {
        "cold_added_all": all(r["added"] == models for r in runs["cold"]),
        "noop_was_noop": all(r["noop"] for r in runs["noop"]),
        "changed_updated_exactly_mutated": all(
            r["updated"] == r["mutated"] and r["added"] == 0 for r in runs["changed_10pct"]),
    }
    return {"models": models, "repeats": repeats, "scenarios": summary, "checks": checks}


def run(sizes: tuple[int, ...] = SIZES, repeats: int = 3) -> dict:
    """Run the benchmark and return its figures (what ``main`` prints)."""
    services = resolve_services()
    results = {}
    with scratch_database(services.base_database_url) as database_url:
        machine = machine_info(database_url, services.redis_url)
        for size in sizes:
            results[str(size)] = bench_size(database_url, services.redis_url, size, repeats)
    verdicts = {}
    for size, targets in TARGETS_MS.items():
        if str(size) not in results:
            continue
        scenarios = results[str(size)]["scenarios"]
        verdicts[str(size)] = {
            name: {"db_ms": scenarios[name]["db_ms"], "target_ms": target,
                   "met": scenarios[name]["db_ms"] <= target}
            for name, target in targets.items()
        }
    return {"benchmark": "model_sync", "machine": machine, "embedded_services": services.embedded,
            "results": results, "targets": verdicts,
            "all_checks_passed": all(all(r["checks"].values()) for r in results.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES),
                        help="comma-separated model counts")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sizes = tuple(int(s) for s in args.sizes.split(",") if s.strip())
    print(json.dumps(run(sizes, args.repeats), indent=2, default=str))


if __name__ == "__main__":
    main()
