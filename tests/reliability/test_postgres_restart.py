"""PostgreSQL restarted under load: requests in flight fail cleanly (503 in the envelope, never
a 500) and the pool recovers by itself (``pool_pre_ping``) — every request after the restart
succeeds, without restarting the app.

The PostgreSQL here is a private embedded server (pgserver, its own data directory) that this
test restarts with ``pg_ctl restart -m fast``; the machine's PostgreSQL is never touched.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter

import pytest

from app.devstack import stop_postgres
from tests.support.apps import extra_app

pytestmark = pytest.mark.slow

PATHS = ("/api/v1/auth/me", "/api/v1/subscriptions", "/api/v1/api-keys", "/api/v1/models")


@pytest.fixture
def private_postgres(tmp_path):
    import pgserver

    server = pgserver.get_server(tmp_path / "pg", cleanup_mode="stop")
    yield server
    stop_postgres(server)  # by its data directory: restarted, it has another pid


def _restart(server) -> None:
    import pgserver

    pgserver.pg_ctl(["-w", "-m", "fast", "restart"], pgdata=server.pgdata,
                    user=server.system_user, timeout=60)


def test_pool_recovers_after_a_restart_under_load(app, settings, private_postgres):
    from app.db_migrate import upgrade_with_lock

    url = private_postgres.get_uri()
    with extra_app(settings, DATABASE_URL=url, REDIS_KEY_PREFIX=f"pg-{uuid.uuid4().hex[:8]}:",
                   RATE_LIMIT_ENABLED=False, DB_MAX_CONNECTIONS=4) as pg_app:
        upgrade_with_lock(pg_app)
        login = pg_app.test_client().post("/api/v1/auth/login", json={"username": "user"})
        headers = {"Authorization": f"Bearer {login.get_json()['accessToken']}"}
        answers: list[tuple[float, int, dict | None]] = []
        lock, stop = threading.Lock(), threading.Event()

        def load(offset: int) -> None:
            client = pg_app.test_client()
            n = offset
            while not stop.is_set():
                response = client.get(PATHS[n % len(PATHS)], headers=headers)
                n += 1
                body = response.get_json(silent=True)
                with lock:
                    answers.append((time.monotonic(), response.status_code, body))

        threads = [threading.Thread(target=load, args=(i,), daemon=True) for i in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(1.5)
        restart_began = time.monotonic()
        _restart(private_postgres)
        restarted = time.monotonic()
        time.sleep(3.0)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)

        # an idle pool across a restart: its connections are all dead, and the very first
        # request afterwards must still succeed (pre-ping replaces them before use)
        client = pg_app.test_client()
        assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
        _restart(private_postgres)
        idle_after = [client.get(PATHS[n % len(PATHS)], headers=headers).status_code
                      for n in range(8)]

    statuses = Counter(status for _, status, _ in answers)
    assert statuses[500] == 0, statuses
    assert set(statuses) <= {200, 503}, statuses
    for _, status, body in answers:
        if status == 503:
            assert body["error"]["code"] == "SERVICE_UNAVAILABLE"
    before = [s for t, s, _ in answers if t < restart_began]
    after = [s for t, s, _ in answers if t > restarted + 0.5]
    assert before and set(before) == {200}
    assert len(after) > 20 and set(after) == {200}, Counter(after)
    assert idle_after == [200] * 8, idle_after
