"""Liveness, readiness with every component, and database pool figures."""

import time

import pytest

from app.api.health import probe_cache


@pytest.fixture(autouse=True)
def _fresh_probes(app):
    probe_cache(app).forget()


def test_liveness_needs_no_dependency(client):
    body = client.get("/api/v1/health").get_json()
    assert body["status"] == "ok"


def test_readiness_reports_each_component_with_latency(app, client, login, celery_worker):
    admin = login("admin")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        probe_cache(app).forget()
        response = client.get("/api/v1/health/ready", headers=admin)
        body = response.get_json()
        if body["components"]["worker"]["status"] == "ok":
            break
        time.sleep(0.2)
    assert response.status_code == 200
    assert body["status"] == "ok"
    for name in ("database", "redis", "litellm", "worker"):
        assert body["components"][name]["status"] == "ok", (name, body)
        assert body["components"][name]["latencyMs"] >= 0


def test_readiness_is_503_when_redis_is_down(settings):
    from app import create_app

    app = create_app(settings.with_overrides(REDIS_URL="redis://127.0.0.1:1/0"))
    response = app.test_client().get("/api/v1/health/ready",
                                     headers={"X-API-Key": "ltm_admin_test_key_0123456789"})
    assert response.status_code == 503
    body = response.get_json()
    assert body["components"]["redis"]["status"] == "down"
    assert body["components"]["database"]["status"] == "ok"


def test_litellm_down_degrades_but_does_not_fail_readiness(client, login, sim):
    admin = login("admin")
    sim.configure(down=True)
    body = client.get("/api/v1/health/ready", headers=admin).get_json()
    assert body["components"]["litellm"]["status"] == "down"
    assert body["status"] in {"degraded"}


def test_database_health_reports_pool(client):
    body = client.get("/api/v1/health/database").get_json()
    assert body["status"] == "ok"
    assert body["pool"]["maxConnections"] == 5
    assert body["latencyMs"] >= 0
