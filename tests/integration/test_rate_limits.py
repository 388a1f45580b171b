"""Rate limits per identity on shared Redis storage: users, API keys, admins, anonymous IPs;
429 in the error envelope with Retry-After and X-RateLimit-* headers; health and docs exempt;
limits shared by every worker; fail-open when Redis is down."""

from __future__ import annotations

import hashlib
import time
import uuid

import pytest

from app.extensions import db
from app.models import ApiKey, User
from tests.support.apps import extra_app

SMALL = {"RATE_LIMIT_MAX": 5, "RATE_LIMIT_API_KEY": 7, "RATE_LIMIT_ADMIN": 9,
         "RATE_LIMIT_ANONYMOUS": 3}


@pytest.fixture(scope="module")
def small_app(settings, app):
    with extra_app(settings, **SMALL) as limited:
        yield limited


def token(client, username: str) -> dict[str, str]:
    body = client.post("/api/v1/auth/login", json={"username": username},
                       environ_base={"REMOTE_ADDR": f"10.9.{len(username)}.{ord(username[0])}"})
    assert body.status_code == 200, body.get_json()
    return {"Authorization": f"Bearer {body.get_json()['accessToken']}"}


def api_key_for(app, username: str) -> str:
    raw = f"sk-{uuid.uuid4().hex}{uuid.uuid4().hex}"
    with app.app_context():
        user = db.session.query(User).filter_by(username=username).one()
        db.session.add(ApiKey(user_id=user.id, name="rl", key_prefix=raw[:8],
                              key_hash=hashlib.sha256(raw.encode()).hexdigest(),
                              provisioning_state="active"))
        db.session.commit()
    return raw


def hits_until_429(client, path: str, headers=None, most: int = 50, **kwargs) -> int:
    """How many requests succeed before the first 429 (most+1 if none)."""
    for n in range(1, most + 2):
        response = client.get(path, headers=headers or {}, **kwargs)
        if response.status_code == 429:
            return n - 1
    return most + 1


def test_101st_request_of_a_user_in_a_minute_is_429_with_retry_after(client, login):
    headers = login("user")
    statuses = [client.get("/api/v1/auth/me", headers=headers).status_code for _ in range(100)]
    assert set(statuses) == {200}
    response = client.get("/api/v1/auth/me", headers=headers)
    assert response.status_code == 429
    body = response.get_json()
    assert body["error"]["code"] == "RATE_LIMITED"
    assert body["error"]["details"]["limit"] == 100
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert response.headers["X-RateLimit-Limit"] == "100"
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert int(response.headers["X-RateLimit-Reset"]) > 0


def test_admin_is_not_limited_at_101(client, login):
    headers = login("admin")
    statuses = {client.get("/api/v1/auth/me", headers=headers).status_code for _ in range(150)}
    assert statuses == {200}
    response = client.get("/api/v1/auth/me", headers=headers)
    assert response.headers["X-RateLimit-Limit"] == "1000"
    assert "Retry-After" not in response.headers  # only 429s (and 503s) carry it


def test_each_identity_gets_its_own_limit(small_app):
    client = small_app.test_client()
    user, readonly, admin = token(client, "user"), token(client, "adminro"), token(client, "admin")
    key = {"X-API-Key": api_key_for(small_app, "user")}
    assert hits_until_429(client, "/api/v1/auth/me", user) == 5
    assert hits_until_429(client, "/api/v1/auth/me", key) == 7  # the key counts on its own
    assert hits_until_429(client, "/api/v1/auth/me", admin) == 9
    assert hits_until_429(client, "/api/v1/auth/me", readonly) == 9
    other = token(client, "olivia")
    assert client.get("/api/v1/auth/me", headers=other).status_code == 200


def test_anonymous_callers_are_limited_per_ip(small_app):
    client = small_app.test_client()
    first = {"REMOTE_ADDR": "203.0.113.7"}
    assert hits_until_429(client, "/api/v1/auth/config", environ_base=first) == 3
    second = {"REMOTE_ADDR": "203.0.113.8"}
    assert client.get("/api/v1/auth/config", environ_base=second).status_code == 200


def test_bad_credentials_count_against_the_ip(small_app):
    client = small_app.test_client()
    junk = {"Authorization": "Bearer not-a-token"}
    env = {"REMOTE_ADDR": "198.51.100.1"}
    codes = [client.get("/api/v1/auth/me", headers=junk, environ_base=env).status_code
             for _ in range(4)]
    assert codes == [401, 401, 401, 429]


def test_health_and_docs_are_exempt(small_app):
    client = small_app.test_client()
    for path in ("/api/v1/health", "/docs/json"):
        codes = {client.get(path).status_code for _ in range(10)}
        assert codes == {200}, path


def test_limits_are_shared_by_every_worker(settings, small_app):
    """Two app instances (two gunicorn workers) count the same caller in one Redis window."""
    with extra_app(settings, **SMALL) as second_worker:
        one, two = small_app.test_client(), second_worker.test_client()
        headers = token(one, "user")
        codes = [(one if n % 2 else two).get("/api/v1/auth/me", headers=headers).status_code
                 for n in range(6)]
        assert codes == [200] * 5 + [429]


def test_rate_limiting_fails_open_when_redis_is_down(settings, app):
    with extra_app(settings, REDIS_URL="redis://127.0.0.1:1/0", **SMALL) as no_redis:
        client = no_redis.test_client()
        headers = token(client, "user")
        codes = {client.get("/api/v1/auth/me", headers=headers).status_code for _ in range(8)}
        assert codes == {200}


def test_counters_live_under_the_deployment_redis_prefix(small_app, settings):
    client = small_app.test_client()
    client.get("/api/v1/auth/config", environ_base={"REMOTE_ADDR": "192.0.2.55"})
    redis = small_app.extensions["redis"]
    keys = [k.decode() for k in redis.scan_iter(match=f"{settings.REDIS_KEY_PREFIX}ratelimit*")]
    assert keys and all(k.startswith(settings.REDIS_KEY_PREFIX) for k in keys)


WEB_SERVERS = {
    "granian": ["-m", "config.web"],  # the Procfile's web process
    "gunicorn": ["-m", "gunicorn", "-c", "config/gunicorn.py", "app:create_app()"],
}


@pytest.mark.slow
@pytest.mark.parametrize("web_server", sorted(WEB_SERVERS))
def test_limits_hold_across_real_web_workers(settings, app, web_server):
    """Two worker processes of the web server, one Redis window per caller."""
    import os
    import shutil
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    import requests

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "APP_ENV": "test", "DATABASE_URL": settings.DATABASE_URL,
           "REDIS_URL": settings.REDIS_URL, "REDIS_KEY_PREFIX": settings.REDIS_KEY_PREFIX,
           "LITELLM_API_URL": settings.LITELLM_API_URL, "MODEL_SYNC_ON_START": "false",
           "RATE_LIMIT_MAX": "5", "RATE_LIMIT_ANONYMOUS": "50", "PORT": str(port),
           "WEB_CONCURRENCY": "2", "WEB_THREADS": "1", "LOG_LEVEL": "WARNING",
           "PROMETHEUS_MULTIPROC_DIR": f".data/test/prometheus-{port}"}
    root = Path(__file__).resolve().parents[2]
    server = subprocess.Popen(
        [sys.executable, *WEB_SERVERS[web_server]], cwd=root, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline, up = time.monotonic() + 90, False
        while not up and time.monotonic() < deadline and server.poll() is None:
            try:
                up = requests.get(f"{base}/health", timeout=1).status_code == 200
            except (requests.ConnectionError, requests.Timeout):  # booting, or a loaded host
                time.sleep(0.2)
        assert up, f"{web_server} did not come up (exit code {server.poll()})"
        token = requests.post(f"{base}/auth/login", json={"username": f"{web_server}-user"},
                              timeout=5).json()["accessToken"]
        codes = []
        for _ in range(6):  # a new connection each time: the workers take turns
            with requests.Session() as fresh:
                codes.append(fresh.get(f"{base}/auth/me", timeout=5, headers={
                    "Authorization": f"Bearer {token}", "Connection": "close"}).status_code)
        assert codes == [200] * 5 + [429]
    finally:
        server.terminate()
        server.wait(timeout=60)  # granian kills a worker that has not stopped after 30 s
        shutil.rmtree(root / env["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


def test_one_redis_round_trip_per_request_with_the_headers(small_app):
    """Acquire and the X-RateLimit-* window come from one EVALSHA (flask-limiter alone: two)."""
    from app.auth.ratelimit import OneTripMovingWindow

    limiter = small_app.extensions["rate_limiter"]
    assert isinstance(limiter.limiter, OneTripMovingWindow)
    connection = limiter._storage.get_connection()
    client = small_app.test_client()
    headers = token(client, "alice-roundtrips")
    client.get("/api/v1/auth/me", headers=headers)  # the script is loaded once
    calls = []
    real = connection.execute_command

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    connection.execute_command = counting
    try:
        answers = [client.get("/api/v1/auth/me", headers=headers) for _ in range(5)]
    finally:
        del connection.execute_command
    assert calls == ["EVALSHA"] * 5
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["3", "2", "1", "0", "0"]
    assert {a.headers["X-RateLimit-Limit"] for a in answers} == {"5"}
    reset = int(answers[0].headers["X-RateLimit-Reset"])
    assert 0 < reset - time.time() <= 61
    assert 0 < int(answers[-1].headers["Retry-After"]) <= 60


def test_a_web_worker_app_leaves_the_collector(settings):
    """config.web's worker app freezes what it built (gc.freeze): full collections no longer
    walk the app and its modules between requests."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "APP_ENV": "test", "DATABASE_URL": settings.DATABASE_URL,
           "REDIS_URL": settings.REDIS_URL, "LOG_LEVEL": "WARNING"}
    probe = ("import gc; from config.web import worker_app; app = worker_app(); "
             "print(app.name, gc.get_freeze_count())")
    answer = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                            text=True, timeout=120, check=True).stdout.split()
    assert answer[0] == "app" and int(answer[1]) > 100_000
