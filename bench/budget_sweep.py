"""Budget sweep benchmark (issue 19): thresholds and the period ledger over N keys.

``python -m bench.budget_sweep [--keys 100000]`` prints JSON: the first sweep of a month (every
key, user and team gets its ledger row; the keys over a threshold fire their alerts, each with a
forecast and an in-app notice to its owner) and a rerun (nothing new: the steady cost of a beat).
The sweep is the service the ``budget_sweep`` job runs, in this one process (one worker).
Keys, users and usage are seeded with set-based SQL (not timed).

Uses ``DATABASE_URL`` (a fresh ``litemaas_bench_<id>`` database, dropped afterwards) and
``REDIS_URL``, or the embedded servers of ``make run`` (``bench.harness``).
"""

from __future__ import annotations

import argparse
import json
import time
import uuid

from sqlalchemy import func, select, text

from bench.harness import resolve_services, scratch_database

KEYS_PER_USER = 10
TARGET_SECONDS = 30.0


def seed(keys: int) -> None:
    """Users (budget 100, lifetime; 2 % at 85 %), keys (budget 10 a month) with spend spread so
    ~3 % of keys cross 50 %, ~1.5 % 80 % and ~0.5 % 100 %, and a week of usage for the crossing
    keys."""
    from app.extensions import db

    users = max(1, keys // KEYS_PER_USER)
    with db.engine.begin() as conn:
        conn.execute(text("""
            INSERT INTO users (id, username, oauth_provider, oauth_subject, max_budget, spend)
            SELECT gen_random_uuid(), 'u' || n, 'bench', 'u' || n, 100,
                   CASE WHEN n % 50 = 0 THEN 85 ELSE n % 40 END
            FROM generate_series(1, :users) AS n"""), {"users": users})
        conn.execute(text("""
            INSERT INTO api_keys (user_id, name, key_prefix, key_hash, provisioning_state,
                                  max_budget, budget_duration, spend)
            SELECT u.id, 'k' || n, 'sk-bench', md5(n::text) || md5((n * 7)::text), 'active',
                   10, 'monthly',
                   CASE WHEN n % 200 = 0 THEN 10.5 WHEN n % 67 = 0 THEN 8.2
                        WHEN n % 33 = 0 THEN 5.1 ELSE (n % 40) / 10.0 END
            FROM generate_series(1, :keys) AS n
            JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS i FROM users) u
              ON u.i = n % :users"""), {"keys": keys, "users": users})
        conn.execute(text("""
            INSERT INTO usage_daily (day, user_id, api_key_id, api_key_hash, model_id, spend)
            SELECT current_date - d, k.user_id, k.id, k.key_hash, 'gpt-4o', k.spend / 7
            FROM api_keys k CROSS JOIN generate_series(0, 6) AS d
            WHERE k.spend >= 5"""))


def bench_app(database_url: str):
    from app import create_app
    from app.db_migrate import upgrade_with_lock
    from config.settings import Settings

    app = create_app(Settings(
        APP_ENV="test", DATABASE_URL=database_url, REDIS_URL=resolve_services().redis_url,
        REDIS_KEY_PREFIX=f"bench-{uuid.uuid4().hex[:8]}:", MODEL_SYNC_ON_START=False,
        LOG_LEVEL="WARNING"))
    upgrade_with_lock(app)
    return app


def timed_sweep() -> tuple[float, dict]:
    from app.services import budget_alerts
    from app.services.usage_rollup import utc_today

    started = time.perf_counter()
    result = budget_alerts.sweep(utc_today())
    return time.perf_counter() - started, result


def run(keys: int = 100_000) -> dict:
    with scratch_database(resolve_services().base_database_url) as database_url:
        app = bench_app(database_url)
        with app.app_context():
            from app.extensions import db
            from app.models import BudgetPeriodLedger, Notification

            seed(keys)
            db.session.execute(text("ANALYZE"))
            db.session.commit()
            first_seconds, first = timed_sweep()
            rerun_seconds, rerun = timed_sweep()
            notices = db.session.scalar(select(func.count()).select_from(Notification))
            ledger = db.session.scalar(select(func.count()).select_from(BudgetPeriodLedger))
            db.session.remove()
            db.engine.dispose()
    return {
        "keys": keys, "users": max(1, keys // KEYS_PER_USER),
        "first_sweep": {"seconds": round(first_seconds, 3), "alerts": first["alerts"],
                        "ledger_opened": first["ledger"]["opened"],
                        "keys_per_second": round(keys / first_seconds)},
        "rerun": {"seconds": round(rerun_seconds, 3), "alerts_fired": rerun["alertsFired"],
                  "keys_per_second": round(keys / rerun_seconds)},
        "notices_written": notices, "ledger_rows": ledger,
        "target_seconds": TARGET_SECONDS,
        "met": max(first_seconds, rerun_seconds) < TARGET_SECONDS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=100_000)
    print(json.dumps(run(parser.parse_args().keys), indent=2))


if __name__ == "__main__":
    main()
