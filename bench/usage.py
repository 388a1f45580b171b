"""Usage benchmark: roll up 1,000,000 LiteLLM activity rows into PostgreSQL, then time the admin
90-day summary through the whole Flask stack.

``python -m bench.usage`` prints JSON. The activity pages are built in-process in LiteLLM's
``/user/daily/activity`` shape (10,000 keys x 100 days, 10 keys per user, one model per key and
day) and fed to the rollup's own ingest code (``ActivityIngest``), so the figure measures our
parsing, attribution, upserts and the totals recompute, not HTTP. Building the pages is not
timed.

Uses ``DATABASE_URL`` / ``REDIS_URL`` or the embedded servers (``bench.harness``), in a fresh
database dropped afterwards. Targets: rollup ≥ 100,000 rows/s,
admin 90-day summary p99 < 100 ms.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import time
import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text

from bench.harness import latency_summary, resolve_services, scratch_database

TARGET_ROWS_PER_SECOND = 100_000
TARGET_SUMMARY_P99_MS = 100.0
ADMIN_KEY = "ltm_bench_admin_key_0123456789"
PROVIDERS = ("openai", "anthropic", "mistral", "groq", "hosted_vllm")


def bench_app(database_url: str, redis_url: str):
    from app import create_app
    from app.db_migrate import upgrade_with_lock
    from config.settings import Settings

    settings = Settings(
        APP_ENV="test", DATABASE_URL=database_url, REDIS_URL=redis_url,
        REDIS_KEY_PREFIX=f"bench-{uuid.uuid4().hex[:8]}:", MODEL_SYNC_ON_START=False,
        RATE_LIMIT_ENABLED=False, ADMIN_API_KEYS=(ADMIN_KEY,), LOG_LEVEL="WARNING",
    )
    app = create_app(settings)
    upgrade_with_lock(app)
    return app


def seed(users: int, keys_per_user: int, models: int) -> list[dict]:
    """Users, their keys and the model catalogue; returns each user with its key tokens."""
    from app.extensions import db
    from app.models import Model

    db.session.add_all(Model(id=f"bench-model-{n}", provider=PROVIDERS[n % len(PROVIDERS)],
                             content_hash="bench", litellm_info={})
                       for n in range(models))
    db.session.commit()

    people = []
    for n in range(users):
        tokens = [hashlib.sha256(f"sk-bench-{n}-{k}".encode()).hexdigest()
                  for k in range(keys_per_user)]
        people.append({"id": uuid.uuid4(), "litellm_user_id": f"bench-user-{n}",
                       "tokens": tokens})
    with db.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO users (id, username, oauth_provider, oauth_subject, litellm_user_id) "
            "SELECT u.id, u.name, 'bench', u.name, u.name "
            "FROM unnest(CAST(:ids AS uuid[]), CAST(:names AS text[])) AS u(id, name)"),
            {"ids": [str(p["id"]) for p in people],
             "names": [p["litellm_user_id"] for p in people]})
        conn.execute(text(
            "INSERT INTO api_keys (user_id, name, key_prefix, key_hash, provisioning_state) "
            "SELECT k.user_id, 'bench key', 'sk-bench', k.token, 'active' "
            "FROM unnest(CAST(:users AS uuid[]), CAST(:tokens AS text[])) AS k(user_id, token)"),
            {"users": [str(p["id"]) for p in people for _ in p["tokens"]],
             "tokens": [t for p in people for t in p["tokens"]]})
    return people


def activity_pages(person: dict, days: list[date], models: int, page_size: int,
                   rng: random.Random) -> list[dict]:
    """The user's activity as LiteLLM pages it: rows ordered by date desc, cut every page_size.

    Metrics come from a pool drawn from ``rng`` (building a million pages one random draw per
    field took a minute; the figures still vary row to row)."""
    pool = _pool(rng)
    offset = rng.randrange(len(pool))
    rows = [(day, token, f"bench-model-{(offset + n * 7) % models}", pool[(offset + n) % len(pool)])
            for n, (day, token) in enumerate(
                (day, token) for day in sorted(days, reverse=True) for token in person["tokens"])]
    pages = []
    for start in range(0, len(rows), page_size):
        chunk = rows[start:start + page_size]
        pages.append({"results": _results(chunk), "metadata": {
            "page": len(pages) + 1, "has_more": start + page_size < len(rows)}})
    return pages


_POOLS: dict[int, list[dict]] = {}


def _pool(rng: random.Random, size: int = 4099) -> list[dict]:
    key = id(rng)
    if key not in _POOLS:
        _POOLS.clear()
        _POOLS[key] = [_metrics(rng) for _ in range(size)]
    return _POOLS[key]


def _results(rows: list[tuple]) -> list[dict]:
    by_day: dict[date, dict] = {}
    for day, token, model, metrics in rows:
        result = by_day.get(day)
        if result is None:
            result = by_day[day] = {"date": day.isoformat(), "metrics": {}, "breakdown": {
                "models": {}, "model_groups": {}, "providers": {}, "api_keys": {},
                "entities": {}}}
        breakdown = result["breakdown"]
        entry = {"metrics": metrics, "metadata": {"key_alias": None, "team_id": None}}
        for name in ("model_groups", "models"):
            bucket = breakdown[name].get(model)
            if bucket is None:
                bucket = breakdown[name][model] = {"metrics": {}, "metadata": {},
                                                   "api_key_breakdown": {}}
            bucket["api_key_breakdown"][token] = entry
        breakdown["api_keys"][token] = {"metrics": metrics, "metadata": {}}
    return list(by_day.values())


def _metrics(rng: random.Random) -> dict:
    requests = rng.randint(1, 200)
    failed = rng.randint(0, requests // 10)
    prompt, completion = requests * rng.randint(20, 2000), requests * rng.randint(10, 800)
    return {"spend": prompt * 2.5e-06 + completion * 1e-05, "prompt_tokens": prompt,
            "completion_tokens": completion, "total_tokens": prompt + completion,
            "api_requests": requests, "successful_requests": requests - failed,
            "failed_requests": failed}


def rollup(app, people: list[dict], days: list[date], models: int, seed_value: int,
           chunk_users: int = 100) -> dict:
    """The rollup's own steps: mark the window's totals stale, ingest every user's pages through
    one shared writer (a transaction per ``FLUSH_ROWS`` grains), then recompute the totals.
    Only these steps are timed."""
    from app.extensions import db
    from app.services.usage_rollup import (
        ActivityIngest,
        UsageWriter,
        Window,
        mark_totals_stale,
        refresh_stale_totals,
    )

    rng = random.Random(seed_value)
    window = Window(min(days), max(days), backfill=True)
    seconds, rows = 0.0, 0
    with app.app_context():
        catalogue = {f"bench-model-{n}": PROVIDERS[n % len(PROVIDERS)] for n in range(models)}
        started = time.perf_counter()
        mark_totals_stale(window.start, window.end)
        db.session.commit()
        writer = UsageWriter(catalogue, background=True)
        # Pages are built (not timed) for a chunk of users at a time, then the chunk is ingested
        # and written (timed, writes waited for), so the background writer never works
        # while the clock is stopped.
        for first in range(0, len(people), chunk_users):
            chunk = people[first:first + chunk_users]
            pages = [activity_pages(person, days, models, 1000, rng) for person in chunk]
            started_chunk = time.perf_counter()
            for person, user_pages in zip(chunk, pages, strict=True):
                ingest = ActivityIngest(person["id"], window, catalogue, writer)
                for page in user_pages:
                    ingest.add_page(page)
                ingest.finish()
                rows += ingest.rows
            writer.wait()
            seconds += time.perf_counter() - started_chunk
            del pages
        writer.close()
        started = time.perf_counter()
        refresh_stale_totals()
        db.session.commit()
        totals_seconds = time.perf_counter() - started
    seconds += totals_seconds
    return {"rows": rows, "seconds": round(seconds, 3),
            "totals_recompute_seconds": round(totals_seconds, 3),
            "rows_per_second": round(rows / seconds) if seconds else None}


def time_requests(client, path: str, count: int) -> dict:
    headers = {"X-API-Key": ADMIN_KEY}
    assert client.get(path, headers=headers).status_code == 200  # warm up
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.get(path, headers=headers)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.get_json()
    return {"requests": count, **{f"{name}_ms": value
                                  for name, value in latency_summary(timings).items()}}


def run(keys: int = 10_000, days: int = 100, keys_per_user: int = 10, models: int = 50,
        requests: int = 200, seed_value: int = 7) -> dict:
    """Run the benchmark on a scratch database; returns the figures as a dict."""
    from bench.wrk import idle_check

    load_before = idle_check()
    today = datetime.now(UTC).date()
    window = [today - timedelta(days=n) for n in range(days)]
    services = resolve_services()
    with scratch_database(services.base_database_url) as url:
        app = bench_app(url, services.redis_url)
        try:
            with app.app_context():
                people = seed(keys // keys_per_user, keys_per_user, models)
            first = rollup(app, people, window, models, seed_value)
            rerun = rollup(app, people, window, models, seed_value)
            with app.app_context():
                from app.extensions import db

                with db.engine.connect() as conn:
                    conn.execute(text("ANALYZE usage_daily"))
                    conn.execute(text("ANALYZE usage_daily_totals"))
                    conn.commit()
            start, end = (today - timedelta(days=89)).isoformat(), today.isoformat()
            client = app.test_client()
            query = f"startDate={start}&endDate={end}"
            summary = time_requests(client, f"/api/v1/admin/usage/summary?{query}", requests)
            timeseries = time_requests(client, f"/api/v1/admin/usage/timeseries?{query}",
                                       requests // 4)
            by_model = time_requests(client, f"/api/v1/admin/usage/by-model?{query}",
                                     requests // 4)
            user_summary = time_requests(
                client, f"/api/v1/admin/usage/summary?{query}&userId={people[0]['id']}",
                requests // 4)
        finally:
            with app.app_context():
                from app.extensions import db

                db.engine.dispose()
    return {
        "benchmark": "usage", "load_before": load_before,
        "activity_rows": first["rows"], "keys": keys, "days": days, "users": len(people),
        "rollup": first, "rerun_same_data": rerun,
        "admin_summary_90d": summary, "admin_timeseries_90d": timeseries,
        "admin_by_model_90d": by_model, "admin_summary_90d_one_user": user_summary,
        "targets": {"rollup_rows_per_second": TARGET_ROWS_PER_SECOND,
                    "admin_summary_p99_ms": TARGET_SUMMARY_P99_MS},
        "meets_targets": bool(first["rows_per_second"] >= TARGET_ROWS_PER_SECOND
                              and summary["p99_ms"] < TARGET_SUMMARY_P99_MS),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.usage", description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=100)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args(argv)
    print(json.dumps(run(keys=args.keys, days=args.days, requests=args.requests), indent=2))


if __name__ == "__main__":
    main()
