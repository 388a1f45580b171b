"""Two ``celery beat`` processes started by mistake: RedBeat's lock lets one of them schedule,
so there is still one scheduled sync per interval (counted in the broker, where every firing
lands as an ``enqueue_scheduled`` message; no worker consumes them during the count)."""

from __future__ import annotations

import base64
import json
import time
import uuid

import pytest
import redis

from tests.reliability.support import celery_process, stop, worker_env

pytestmark = pytest.mark.slow

INTERVAL = 2
WINDOW = 12


def _scheduled_syncs(client: redis.Redis, prefix: str) -> int:
    count = 0
    for raw in client.lrange(f"{prefix}default", 0, -1):
        message = json.loads(raw)
        headers = message.get("headers", {})
        if headers.get("task") != "worker.tasks.maintenance.enqueue_scheduled":
            continue
        args = json.loads(base64.b64decode(message["body"]))[0]
        count += args == ["sync_models"]
    return count


def test_two_beats_still_schedule_one_sync_per_interval(app, settings, tmp_path):
    prefix = f"beats-{uuid.uuid4().hex[:8]}:"
    env = worker_env(settings, prefix, MODEL_SYNC_INTERVAL=str(INTERVAL))
    client = redis.Redis.from_url(settings.REDIS_URL)
    beats = [celery_process(env, "beat", "--loglevel", "INFO", "--pidfile=",
                            log=tmp_path / f"beat{n}.log") for n in (1, 2)]
    try:
        deadline = time.monotonic() + 60
        while _scheduled_syncs(client, prefix) == 0:
            assert time.monotonic() < deadline, "no beat scheduled anything"
            time.sleep(0.2)
        first = _scheduled_syncs(client, prefix)
        time.sleep(WINDOW)
        fired = _scheduled_syncs(client, prefix) - first
        assert all(beat.poll() is None for beat in beats)  # both still running
        expected = WINDOW / INTERVAL
        assert expected - 1 <= fired <= expected + 1, fired
    finally:
        stop(*beats)
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            client.delete(key)
        client.close()
