"""M1: ``/health/ready`` is public but cheap: probes are cached a few seconds per process (one
request probes, concurrent ones share it), it counts against the caller's rate limit, and only
admins see the components."""

from __future__ import annotations

import threading
import time

import pytest

from app.api.health import probe_cache
from tests.support.apps import extra_app

READY = "/api/v1/health/ready"
ADMIN_KEY = {"X-API-Key": "ltm_admin_test_key_0123456789"}


def liveliness_calls(sim) -> int:
    with sim.state.lock:
        return sum(1 for c in sim.state.calls if c["path"] == "/health/liveliness")


@pytest.fixture(autouse=True)
def _fresh_probes(app):
    probe_cache(app).forget()


def test_anonymous_and_users_get_only_the_overall_status(client, login):
    for headers in ({}, login("user"), {"Authorization": "Bearer not-a-token"}):
        response = client.get(READY, headers=headers)
        assert response.status_code in (200, 503)
        assert set(response.get_json()) == {"status"}, headers


def test_admins_get_the_components(client, login):
    for headers in (login("admin"), login("adminro"), ADMIN_KEY):
        body = client.get(READY, headers=headers).get_json()
        assert set(body["components"]) == {"database", "redis", "litellm", "worker"}
        assert body["checkedAt"] >= 0


def test_probes_are_cached_and_shared_by_concurrent_requests(app, sim):
    sim.configure(latency_ms=300)  # a slow LiteLLM
    before = liveliness_calls(sim)
    codes: list[int] = []

    def call():
        codes.append(app.test_client().get(READY).status_code)

    threads = [threading.Thread(target=call) for _ in range(12)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for _ in range(10):
        call()
    assert len(codes) == 22 and set(codes) <= {200, 503}
    assert liveliness_calls(sim) - before == 1
    assert time.monotonic() - started < 3


def test_probes_run_again_once_the_cache_expires(app, settings, sim):
    with extra_app(settings, HEALTH_CACHE_SECONDS=0.2) as other:
        client = other.test_client()
        before = liveliness_calls(sim)
        client.get(READY)
        client.get(READY)
        time.sleep(0.3)
        client.get(READY)
        assert liveliness_calls(sim) - before == 2


def test_readiness_is_rate_limited_but_liveness_is_not(app, settings):
    with extra_app(settings, RATE_LIMIT_ANONYMOUS=3) as other:
        client = other.test_client()
        env = {"REMOTE_ADDR": "203.0.113.77"}
        codes = [client.get(READY, environ_base=env).status_code for _ in range(4)]
        assert codes[:3] != [429] * 3 and codes[3] == 429
        assert client.get(READY, environ_base=env).get_json()["error"]["code"] == "RATE_LIMITED"
        assert {client.get("/api/v1/health", environ_base=env).status_code
                for _ in range(5)} == {200}
