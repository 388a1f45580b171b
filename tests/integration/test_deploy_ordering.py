"""What the Kubernetes manifests rely on, for real: the init container `python -m app.db_migrate
wait` holds a pod until the migrations Job (`python -m app.db_migrate`) has run, and the worker
and beat probes (worker/probe.py) read the heartbeat and the RedBeat lock in Redis."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.db_migrate import code_revisions, schema_state
from config.settings import sqlalchemy_url
from worker import probe

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh_database(database_url):
    name = f"litemaas_order_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(sqlalchemy_url(database_url)).set(database="postgres"),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _env(url: str, redis_url: str) -> dict[str, str]:
    return {"DATABASE_URL": url, "REDIS_URL": redis_url, "APP_ENV": "test", "PATH": "/usr/bin:/bin"}


def test_pods_wait_until_the_migrations_job_has_run(fresh_database, redis_url):
    env = _env(fresh_database, redis_url)
    waiting = subprocess.Popen(
        [sys.executable, "-m", "app.db_migrate", "wait", "--timeout", "90", "--interval", "0.2"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(3)
        assert waiting.poll() is None, "the init container must not pass before the Job ran"
        job = subprocess.run([sys.executable, "-m", "app.db_migrate"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=90)
        assert job.returncode == 0, job.stdout + job.stderr
        output, _ = waiting.communicate(timeout=30)
    finally:
        if waiting.poll() is None:
            waiting.kill()
    assert waiting.returncode == 0, output
    assert "database schema is missing" in output
    assert "database schema is head of this code" in output


def test_wait_gives_up_on_a_schema_behind_and_accepts_one_ahead(fresh_database, redis_url):
    env = _env(fresh_database, redis_url)
    subprocess.run([sys.executable, "-m", "app.db_migrate"], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=90)
    assert schema_state(fresh_database) == "head"
    heads, known = code_revisions()
    older = sorted(known - heads)[0]
    engine = create_engine(sqlalchemy_url(fresh_database))
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": older})
        assert schema_state(fresh_database) == "behind"
        behind = subprocess.run([sys.executable, "-m", "app.db_migrate", "wait", "--timeout", "1",
                                 "--interval", "0.2"], cwd=ROOT, env=env, capture_output=True,
                                text=True, timeout=60)
        assert behind.returncode == 1, behind.stdout
        assert "database schema is behind" in behind.stdout
        # A newer image migrated past this code (a rollback in progress): old pods still start.
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
        ahead = subprocess.run([sys.executable, "-m", "app.db_migrate", "wait", "--timeout", "5"],
                               cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert ahead.returncode == 0, ahead.stdout
        assert "ahead" in ahead.stdout
    finally:
        engine.dispose()


def test_wait_counts_an_unreachable_database_as_not_ready():
    assert schema_state.__module__ == "app.db_migrate"
    from app.db_migrate import wait_for_head

    started = time.monotonic()
    assert wait_for_head("postgresql://nobody@127.0.0.1:1/none", timeout=1, interval=0.2) is False
    assert time.monotonic() - started < 20


@pytest.fixture
def probe_env(redis_url):
    prefix = f"probe-{uuid.uuid4().hex[:8]}:"
    yield {"REDIS_URL": redis_url, "REDIS_KEY_PREFIX": prefix, "WORKER_HEARTBEAT_TTL": "30"}
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"{prefix}*"):
        client.delete(key)
    client.close()


def test_worker_probe_follows_this_pods_heartbeat(probe_env, redis_url):
    client = redis.Redis.from_url(redis_url)
    key = probe_env["REDIS_KEY_PREFIX"] + "worker-heartbeats"
    host = "celery@litemaas-worker-7d9f-abcde"
    assert probe.check("ready", probe_env, host) == (False, f"no heartbeat from {host}")
    assert probe.check("live", probe_env, host)[0] is False
    # Another pod's heartbeat does not make this one ready.
    client.zadd(key, {"celery@litemaas-worker-other": time.time()})
    assert probe.check("ready", probe_env, host)[0] is False
    client.zadd(key, {host: time.time()})
    assert probe.check("ready", probe_env, host)[0] is True
    assert probe.check("live", probe_env, host)[0] is True
    # Stale beyond the TTL: not ready; beyond three TTLs: not live (restart).
    client.zadd(key, {host: time.time() - 45})
    assert probe.check("ready", probe_env, host)[0] is False
    assert probe.check("live", probe_env, host)[0] is True
    client.zadd(key, {host: time.time() - 100})
    assert probe.check("live", probe_env, host)[0] is False
    client.close()


def test_worker_probe_matches_the_heartbeat_the_worker_writes(probe_env):
    from flask import Flask

    from app.services.workers import beat_once

    app = Flask("probe")
    app.config.update(REDIS_KEY_PREFIX=probe_env["REDIS_KEY_PREFIX"], WORKER_HEARTBEAT_TTL=30)
    app.extensions["redis"] = redis.Redis.from_url(probe_env["REDIS_URL"])
    beat_once(app, "celery@pod-1")
    assert probe.check("ready", probe_env, "celery@pod-1")[0] is True
    app.extensions["redis"].close()


def test_redis_down_fails_readiness_but_not_liveness(probe_env):
    down = {**probe_env, "REDIS_URL": "redis://127.0.0.1:1/0"}
    ready, why = probe.check("ready", down, "celery@pod")
    assert ready is False and "Redis unreachable" in why
    assert probe.check("live", down, "celery@pod")[0] is True
    assert probe.check("beat", down)[0] is True


def test_beat_probe_reads_the_redbeat_lock(probe_env, redis_url):
    assert probe.check("beat", probe_env)[0] is False
    client = redis.Redis.from_url(redis_url)
    client.set(probe_env["REDIS_KEY_PREFIX"] + "redbeat:lock", "token", ex=300)
    assert probe.check("beat", probe_env) == (True, "the RedBeat lock is held")
    client.close()


def test_the_beat_probe_lock_key_is_redbeats(settings):
    from worker.celery_app import celery_config

    config = celery_config(settings)
    # RedBeat's default lock key is "<redbeat_key_prefix>:lock".
    assert config["redbeat_key_prefix"] == f"{settings.REDIS_KEY_PREFIX}redbeat"
    assert "redbeat_lock_key" not in config


def test_probe_cli_exit_codes(probe_env):
    env = {**probe_env, "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "worker.probe", "ready"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and "no heartbeat from celery@" in result.stdout
    result = subprocess.run([sys.executable, "-m", "worker.probe", "bogus"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2


def test_the_probe_reads_the_key_the_worker_writes():
    from app.services import workers

    assert probe.HEARTBEAT_KEY == workers.HEARTBEAT_KEY
