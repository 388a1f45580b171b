"""The web UI's dashboards over 90 days of 1,000,000 usage rows: ``POST /admin/usage/analytics``
(no filter, one model, one provider, one user, the default 7 days) and the user's
``POST /usage/analytics`` (their own 90 days, signed in with a session token), through the
whole Flask stack (test client, JSON included). Each request of a case names another model,
provider or user where the case has several, so most answers are first answers.

``python -m bench.analytics [--keys 10000] [--days 100] [--requests 30]`` prints JSON. The rows
have the shape of ``bench.usage`` (10 keys per user, one model per key and day) and are written
in PostgreSQL by SQL (not timed); the daily totals are recomputed by the rollup's own code.
Uses ``DATABASE_URL`` / ``REDIS_URL`` or the embedded servers, in a scratch database.
Target (issue 18, item 7): p99 < 100 ms.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from bench.harness import latency_summary, resolve_services, scratch_database
from bench.usage import ADMIN_KEY, PROVIDERS, bench_app
from bench.wrk import idle_check

TARGET_P99_MS = 100.0
SUMMARIES = ("usage_daily_totals", "users", "api_keys")

SEED_SQL = """
INSERT INTO users (id, username, email, oauth_provider, oauth_subject, litellm_user_id)
SELECT gen_random_uuid(), 'bench-user-' || n, 'bench-' || n || '@example.com', 'bench',
       'bench-' || n, 'bench-user-' || n
FROM generate_series(0, :users - 1) AS n;

INSERT INTO api_keys (user_id, name, key_alias, key_prefix, key_hash, provisioning_state)
SELECT u.id, 'bench key ' || k, 'bench-alias-' || (u.n * :per_user + k), 'sk-bench',
       md5(u.n || '-' || k) || md5(k || '-' || u.n), 'active'
FROM (SELECT id, CAST(substr(username, 12) AS int) AS n FROM users
      WHERE username LIKE 'bench-user-%') AS u
CROSS JOIN generate_series(0, :per_user - 1) AS k;

INSERT INTO usage_daily (day, user_id, api_key_id, api_key_hash, model_id, provider, requests,
                         successful_requests, failed_requests, prompt_tokens, completion_tokens,
                         total_tokens, spend)
SELECT CAST(:today AS date) - d, k.user_id, k.id, k.key_hash, m.id, m.provider,
       r, r - r % 3 / 2, r % 3 / 2, 100 * r, 40 * r, 140 * r, 0.00012 * r
FROM (SELECT id, user_id, key_hash, row_number() OVER (ORDER BY key_hash) AS n
      FROM api_keys) AS k
CROSS JOIN generate_series(0, :days - 1) AS d
CROSS JOIN LATERAL (SELECT 1 + (k.n * 7 + d * 13) % 40 AS r) AS amount
JOIN (SELECT id, provider, row_number() OVER (ORDER BY id) - 1 AS n FROM models) AS m
  ON m.n = (k.n + d) % :models;
"""


def seed(app, keys: int, days: int, keys_per_user: int, models: int) -> int:
    from app.extensions import db
    from app.models import Model
    from app.services import usage_rollup

    today = datetime.now(UTC).date()
    with app.app_context():
        db.session.add_all(Model(id=f"bench-model-{n}", provider=PROVIDERS[n % len(PROVIDERS)],
                                 content_hash="bench", litellm_info={}) for n in range(models))
        db.session.commit()
        with db.engine.begin() as conn:
            for statement in SEED_SQL.split(";\n\n"):
                conn.execute(text(statement), {
                    "users": keys // keys_per_user, "per_user": keys_per_user,
                    "models": models, "days": days, "today": today})
        usage_rollup.mark_totals_stale(today - timedelta(days=days - 1), today)
        usage_rollup.refresh_stale_totals()
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE usage_daily"))
            for table in SUMMARIES:  # what autovacuum does after a rollup's first big write
                conn.execute(text(f"VACUUM ANALYZE {table}"))
            return conn.execute(text("SELECT count(*) FROM usage_daily")).scalar()


def time_posts(client, path: str, bodies: list[dict], headers: dict, count: int) -> dict:
    assert client.post(path, json=bodies[0], headers=headers).status_code == 200  # warm up
    timings = []
    for n in range(count):
        started = time.perf_counter()
        response = client.post(path, json=bodies[n % len(bodies)], headers=headers)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.get_json()
    return {"requests": count, **{f"{name}_ms": value
                                  for name, value in latency_summary(timings).items()}}


def user_tokens(app, user_ids: list[str]) -> list[dict]:
    """A session token of each user, as a sign-in gives it."""
    from app.extensions import db
    from app.models import User
    from app.services import sessions

    with app.app_context():
        headers = [{"Authorization": "Bearer " + sessions.start(
            db.session.get(User, user_id), None, "bench")["access_token"]}
            for user_id in user_ids]
        db.session.commit()
        db.session.remove()
    return headers


def time_users(client, path: str, body: dict, tokens: list[dict], count: int) -> dict:
    """Like ``time_posts``, one user after another."""
    timings = []
    for n in range(count + 1):
        started = time.perf_counter()
        response = client.post(path, json=body, headers=tokens[n % len(tokens)])
        if n:  # the first one warms up
            timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.get_json()
    return {"requests": count, **{f"{name}_ms": value
                                  for name, value in latency_summary(timings).items()}}


def run(keys: int = 10_000, days: int = 100, keys_per_user: int = 10, models: int = 50,
        requests: int = 30) -> dict:
    today = datetime.now(UTC).date()
    ninety = {"startDate": (today - timedelta(days=89)).isoformat(),
              "endDate": today.isoformat()}
    week = {"startDate": (today - timedelta(days=6)).isoformat(), "endDate": today.isoformat()}
    services = resolve_services()
    with scratch_database(services.base_database_url) as url:
        app = bench_app(url, services.redis_url)
        try:
            rows = seed(app, keys, days, keys_per_user, models)
            load_before = idle_check()
            with app.app_context():
                from app.extensions import db

                users = [str(u) for u in db.session.execute(text(
                    "SELECT id FROM users WHERE username LIKE 'bench-user-%' "
                    "ORDER BY username LIMIT 20")).scalars()]
                db.session.remove()
            client = app.test_client()
            admin = {"X-API-Key": ADMIN_KEY}
            path = "/api/v1/admin/usage/analytics"
            figures = {
                "admin_90d_no_filter": time_posts(client, path, [ninety], admin, requests),
                "admin_90d_one_model": time_posts(
                    client, path, [{**ninety, "modelIds": [f"bench-model-{n}"]}
                                   for n in range(models)], admin, requests),
                "admin_90d_one_provider": time_posts(
                    client, path, [{**ninety, "providerIds": [p]} for p in PROVIDERS], admin,
                    requests),
                "admin_90d_one_user": time_posts(
                    client, path, [{**ninety, "userIds": [u]} for u in users], admin,
                    requests),
                "admin_7d_no_filter": time_posts(client, path, [week], admin, requests),
                "user_90d": time_users(client, "/api/v1/usage/analytics", ninety,
                                       user_tokens(app, users), requests),
            }
        finally:
            with app.app_context():
                from app.extensions import db

                db.engine.dispose()
    worst = max(f["p99_ms"] for f in figures.values())
    worst_admin = max(f["p99_ms"] for name, f in figures.items() if name.startswith("admin"))
    return {"benchmark": "analytics", "usage_rows": rows, "keys": keys, "days": days,
            "load_before": load_before, **figures, "target_p99_ms": TARGET_P99_MS,
            "admin_worst_p99_ms": worst_admin, "worst_p99_ms": worst,
            "meets_target": worst < TARGET_P99_MS}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.analytics",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=100)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args(argv)
    print(json.dumps(run(keys=args.keys, days=args.days, requests=args.requests), indent=2))


if __name__ == "__main__":
    main()
