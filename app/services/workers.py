"""Worker liveness in Redis: each worker writes a heartbeat (worker/signals.py), readiness and
the benchmarks read who is alive."""

from __future__ import annotations

import time

from flask import Flask

HEARTBEAT_KEY = "worker-heartbeats"


def heartbeat_key(app: Flask) -> str:
    return app.config["REDIS_KEY_PREFIX"] + HEARTBEAT_KEY


def beat_once(app: Flask, hostname: str) -> None:
    client = app.extensions["redis"]
    key = heartbeat_key(app)
    now = time.time()
    pipe = client.pipeline()
    pipe.zadd(key, {hostname: now})
    pipe.zremrangebyscore(key, 0, now - 10 * app.config["WORKER_HEARTBEAT_TTL"])
    pipe.execute()


def live_workers(app: Flask) -> list[str]:
    cutoff = time.time() - app.config["WORKER_HEARTBEAT_TTL"]
    members = app.extensions["redis"].zrangebyscore(heartbeat_key(app), cutoff, "+inf")
    return [m.decode() if isinstance(m, bytes) else m for m in members]
