"""API key creation latency through the whole stack: ``POST /api/v1/api-keys``.

``python -m bench.api_keys [--keys 300]`` prints JSON: p50/p95/p99 of key creation (request
validation, subscription check, the pending row's commit, LiteLLM ``/key/generate`` over HTTP
to the simulator, activation commit), for users with 10 keys each. Only the first key of a
user also creates the LiteLLM user; those are reported apart.

Uses ``DATABASE_URL`` (a fresh ``litemaas_bench_<id>`` database, dropped afterwards) and
``REDIS_URL``, or the embedded servers of ``make run`` (``bench.harness``).
"""

from __future__ import annotations

import argparse
import json
import time

from bench.harness import latency_summary, resolve_services, scratch_database
from bench.reconcile import bench_app

KEYS_PER_USER = 10
MODEL = "gpt-4o"


def run(keys: int = 300) -> dict:
    from app.extensions import db
    from app.models import Model
    from litellm_sim.server import start_in_thread

    sim = start_in_thread(models=5)
    first, later = [], []
    try:
        with scratch_database(resolve_services().base_database_url) as database_url:
            app = bench_app(database_url, sim)
            with app.app_context():
                db.session.add(Model(id=MODEL, provider="openai", content_hash="bench",
                                     litellm_info={}))
                db.session.commit()
            client = app.test_client()
            for n in range(max(1, keys // KEYS_PER_USER)):
                login = client.post("/api/v1/auth/login", json={"username": f"bench{n}"})
                headers = {"Authorization": f"Bearer {login.get_json()['accessToken']}"}
                client.post("/api/v1/subscriptions", json={"modelId": MODEL}, headers=headers)
                for k in range(KEYS_PER_USER):
                    started = time.perf_counter()
                    answer = client.post("/api/v1/api-keys", headers=headers,
                                         json={"name": f"k{k}", "modelIds": [MODEL]})
                    elapsed = (time.perf_counter() - started) * 1000
                    assert answer.status_code == 201, answer.get_json()
                    (first if k == 0 else later).append(elapsed)
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
    finally:
        sim.stop()
    return {"keys": len(first) + len(later), "create_key_ms": latency_summary(later),
            "create_key_with_new_litellm_user_ms": latency_summary(first)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=300)
    print(json.dumps(run(parser.parse_args().keys), indent=2))


if __name__ == "__main__":
    main()
