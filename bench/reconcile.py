"""Reconciliation benchmark: compare N keys (10 per user) with the LiteLLM simulator.

``python -m bench.reconcile [--keys 2000]`` prints JSON: a run with no drift (every key and
owner checked, nothing repaired) and a run after 10% of the keys had their models changed
behind LiteMaaS's back (each one re-pushed). Keys and users are seeded straight into the
database and the simulator's state (not timed); the runs go through the real client over HTTP
(``/key/list`` pages, ``/user/info`` per owner, ``/key/update`` per repair).

Uses ``DATABASE_URL`` (a fresh ``litemaas_bench_<id>`` database, dropped afterwards) and
``REDIS_URL``, or the embedded servers of ``make run`` (``bench.harness``).
"""

from __future__ import annotations

import argparse
import json
import time
import uuid

from sqlalchemy import text

from bench.harness import resolve_services, scratch_database

KEYS_PER_USER = 10
MODEL = "gpt-4o"


def seed(sim, keys: int) -> list[str]:
    """Users, active subscriptions and keys in the database, the same keys in LiteLLM."""
    from app.extensions import db
    from app.models import Model, User
    from app.services.litellm_accounts import LITELLM_USER_ROLE, user_limits
    from litellm_sim.records import new_key_row, new_user_row

    db.session.add(Model(id=MODEL, provider="openai", content_hash="bench", litellm_info={}))
    db.session.commit()
    users = [uuid.uuid4() for _ in range(max(1, keys // KEYS_PER_USER))]
    rows = [(uuid.uuid4(), users[n % len(users)], f"sk-bench-{uuid.uuid4().hex}")
            for n in range(keys)]
    with db.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO users (id, username, oauth_provider, oauth_subject, litellm_user_id) "
            "SELECT id, id::text, 'bench', id::text, id::text FROM unnest(CAST(:ids AS uuid[]))"
            " AS u(id)"), {"ids": [str(u) for u in users]})
        conn.execute(text(
            "INSERT INTO subscriptions (user_id, model_id, status) "
            "SELECT id, :model, 'active' FROM unnest(CAST(:ids AS uuid[])) AS u(id)"),
            {"ids": [str(u) for u in users], "model": MODEL})
        conn.execute(text(
            "INSERT INTO api_keys (id, user_id, name, key_prefix, key_hash, litellm_key_token, "
            "key_alias, provisioning_state) SELECT k.id, k.user_id, 'bench', 'sk-bench', "
            "encode(sha256(convert_to(k.raw, 'UTF8')), 'hex'), "
            "encode(sha256(convert_to(k.raw, 'UTF8')), 'hex'), 'bench_' || k.id, 'active' "
            "FROM unnest(CAST(:ids AS uuid[]), CAST(:users AS uuid[]), CAST(:raws AS text[])) "
            "AS k(id, user_id, raw)"),
            {"ids": [str(r[0]) for r in rows], "users": [str(r[1]) for r in rows],
             "raws": [r[2] for r in rows]})
        conn.execute(text(
            "INSERT INTO api_key_models (api_key_id, model_id) "
            "SELECT id, :model FROM unnest(CAST(:ids AS uuid[])) AS k(id)"),
            {"ids": [str(r[0]) for r in rows], "model": MODEL})
    limits = user_limits(db.session.get(User, users[0]))
    with sim.state.lock:
        for user in users:
            sim.state.users[str(user)] = new_user_row({"user_id": str(user), **limits,
                                                       "user_role": LITELLM_USER_ROLE})
        for key_id, user, raw in rows:
            row = new_key_row({"models": [MODEL], "user_id": str(user),
                               "key_alias": f"bench_{key_id}",
                               "metadata": {"litemaas_key_id": str(key_id)}}, raw, "bench")
            sim.state.keys[row["token"]] = row
    return [raw for _, _, raw in rows]


def bench_app(database_url: str, sim):
    from app import create_app
    from app.db_migrate import upgrade_with_lock
    from config.settings import Settings

    app = create_app(Settings(
        APP_ENV="test", DATABASE_URL=database_url, REDIS_URL=resolve_services().redis_url,
        REDIS_KEY_PREFIX=f"bench-{uuid.uuid4().hex[:8]}:", MODEL_SYNC_ON_START=False,
        LITELLM_API_URL=sim.url, LITELLM_API_KEY=sim.master_key, LOG_LEVEL="WARNING"))
    upgrade_with_lock(app)
    return app


def timed_run() -> tuple[float, dict]:
    from app.services import reconcile

    started = time.perf_counter()
    result = reconcile.run()
    return time.perf_counter() - started, result


def run(keys: int = 2000) -> dict:
    """Seed, reconcile with no drift, inject 10% drift, reconcile again; the figures."""
    from litellm_sim.server import start_in_thread

    sim = start_in_thread(models=5)
    try:
        with scratch_database(resolve_services().base_database_url) as database_url:
            app = bench_app(database_url, sim)
            with app.app_context():
                seed(sim, keys)
                clean_seconds, clean = timed_run()
                with sim.state.lock:
                    for row in list(sim.state.keys.values())[: keys // 10]:
                        row["models"] = ["gemini-1.5-pro"]
                drift_seconds, drifted = timed_run()
                from app.extensions import db

                db.session.remove()
                db.engine.dispose()
    finally:
        sim.stop()
    return {
        "keys": keys, "users": max(1, keys // KEYS_PER_USER),
        "no_drift": {"seconds": round(clean_seconds, 3), "repairs": clean["repairCount"],
                     "keys_per_second": round(keys / clean_seconds),
                     "phases_ms": clean["timingsMs"]},
        "ten_percent_drift": {"seconds": round(drift_seconds, 3),
                              "repairs": drifted["repairCount"],
                              "keys_per_second": round(keys / drift_seconds),
                              "phases_ms": drifted["timingsMs"]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=2000)
    print(json.dumps(run(parser.parse_args().keys), indent=2))


if __name__ == "__main__":
    main()
