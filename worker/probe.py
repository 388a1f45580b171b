"""Kubernetes probes for the worker and beat containers (exec probes, so kept light: settings and
redis-py only, no Flask app, no Celery).

``python -m worker.probe ready``  this pod's worker (``celery@<hostname>``) has published a
    heartbeat within ``WORKER_HEARTBEAT_TTL`` (the same heartbeat ``/health/ready`` counts):
    it is up and reaches Redis, the broker.
``python -m worker.probe live``   as ``ready`` with three times the TTL, but Redis being
    unreachable passes: restarting a worker does not bring Redis back.
``python -m worker.probe beat``   RedBeat's lock is held (the scheduler ticks and extends it);
    Redis unreachable passes, for the same reason.

Exit 0 when healthy, 1 otherwise, with one line saying why.
"""

from __future__ import annotations

import socket
import sys
import time

import redis

from config.settings import load_settings

# worker/signals.py's HEARTBEAT_KEY, not imported: that would load Celery in every probe run
# (tests/integration/test_deploy_ordering.py checks the probe reads what the worker writes).
HEARTBEAT_KEY = "worker-heartbeats"


def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)


def heartbeat_age(client: redis.Redis, prefix: str, hostname: str) -> float | None:
    """Seconds since this worker's last heartbeat, or None if it never beat."""
    score = client.zscore(prefix + HEARTBEAT_KEY, hostname)
    return None if score is None else max(0.0, time.time() - score)


def check(mode: str, environ: dict[str, str] | None = None,
          hostname: str | None = None) -> tuple[bool, str]:
    settings = load_settings(environ)
    hostname = hostname or f"celery@{socket.gethostname()}"
    client = _client(settings.REDIS_URL)
    try:
        if mode == "beat":
            lock = f"{settings.REDIS_KEY_PREFIX}redbeat:lock"
            if client.exists(lock):
                return True, "the RedBeat lock is held"
            return False, "nobody holds the RedBeat lock: the scheduler is not ticking"
        age = heartbeat_age(client, settings.REDIS_KEY_PREFIX, hostname)
    except redis.RedisError as exc:
        if mode == "ready":
            return False, f"Redis unreachable ({type(exc).__name__})"
        return True, f"Redis unreachable ({type(exc).__name__}): not a reason to restart"
    finally:
        client.close()
    limit = settings.WORKER_HEARTBEAT_TTL * (3 if mode == "live" else 1)
    if age is None:
        return False, f"no heartbeat from {hostname}"
    if age > limit:
        return False, f"last heartbeat from {hostname} {age:.0f}s ago (limit {limit}s)"
    return True, f"heartbeat from {hostname} {age:.0f}s ago"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] not in ("ready", "live", "beat"):
        print("usage: python -m worker.probe ready|live|beat", file=sys.stderr)
        return 2
    ok, why = check(argv[0])
    print(why)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
