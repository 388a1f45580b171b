"""The suite against a REAL LiteLLM proxy (``make test-litellm``, which starts and stops
``../shared/litellm-real/start.sh``): this backend, its real Celery worker and PostgreSQL /
Redis as in the integration suite, with ``LITELLM_API_URL`` pointing at the real proxy.

Collected only when ``LITELLM_REAL_URL`` is set (tests/conftest.py), so ``make test`` stays
fast. LiteLLM keeps its state across tests (only our database is emptied between them): every
test works with users, teams and keys of its own.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests

from app.litellm import LiteLLMClient
from config.settings import Settings
from tests.conftest import RUN_ID
from tests.support.jobs import wait_for_job

REAL_URL = os.environ.get("LITELLM_REAL_URL", "http://127.0.0.1:4011").rstrip("/")
MASTER_KEY = os.environ.get("LITELLM_MASTER_KEY", "sk-master-1234")
CHAT, EMBED, MOCK = "e2e-chat", "e2e-embed", "e2e-mock"  # ../shared/litellm-real/litellm.yaml


@pytest.fixture(scope="session")
def real_litellm() -> str:
    """The real proxy's URL; it must answer (make test-litellm started it)."""
    try:
        alive = requests.get(f"{REAL_URL}/health/liveliness", timeout=10)
    except requests.RequestException as exc:
        pytest.fail(f"no LiteLLM at {REAL_URL} ({exc}); run `make test-litellm`")
    assert alive.status_code == 200, alive.text
    return REAL_URL


@pytest.fixture(scope="session")
def settings(database_url, redis_url, real_litellm) -> Settings:
    return Settings(
        APP_ENV="test",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        REDIS_KEY_PREFIX=f"test-real-{RUN_ID}:",
        LITELLM_API_URL=real_litellm,
        LITELLM_API_KEY=MASTER_KEY,
        LITELLM_TIMEOUT_SECONDS=20.0,
        MODEL_SYNC_ON_START=False,
        RATE_LIMIT_ENABLED=False,
        JOB_LEASE_SECONDS=30,
        CELERY_VISIBILITY_TIMEOUT=60,
        ADMIN_API_KEYS=("ltm_admin_test_key_0123456789",),
        DB_MAX_CONNECTIONS=5,
        LOG_LEVEL="WARNING",
    )


@pytest.fixture(scope="session")
def master(real_litellm):
    """LiteLLM read back with the master key (what the proxy really holds)."""
    with LiteLLMClient(real_litellm, MASTER_KEY, timeout=20.0) as client:
        yield client


@pytest.fixture
def admin(app, client, login, celery_worker):
    """An admin's headers, with the catalogue synced from the real proxy; jobs settle after."""
    from tests.support.jobs import settle_jobs

    headers = login("admin")
    synced = client.post("/api/v1/models/sync", headers=headers)
    assert synced.status_code in (200, 202), synced.get_json()  # 200: done within the wait
    assert wait_job(client, headers, synced.get_json()["jobId"])["status"] == "succeeded"
    yield headers
    settle_jobs(app, timeout=120)


@pytest.fixture
def person(client, login):
    """``person()`` → (headers, user id) of a new user (own name: LiteLLM keeps every user)."""

    def _person(prefix: str = "u") -> tuple[dict, str]:
        headers = login(f"{prefix}{uuid.uuid4().hex[:10]}")
        return headers, client.get("/api/v1/auth/me", headers=headers).get_json()["id"]

    return _person


def wait_job(client, headers, job_id: str, timeout: float = 90.0) -> dict:
    """The shared job wait, with the real proxy's longer default."""
    return wait_for_job(client, headers, job_id, timeout=timeout)


def eventually(probe: Callable[[], Any], what: str, timeout: float = 45.0,
               interval: float = 0.5) -> Any:
    """Poll until ``probe()`` is truthy (LiteLLM writes spend to its database in batches,
    about every 10 s); returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen within {timeout}s")
        time.sleep(interval)


def subscribe(client, headers, model: str) -> None:
    response = client.post("/api/v1/subscriptions", json={"modelId": model}, headers=headers)
    assert response.status_code == 201, response.get_json()


def create_key(client, headers, models: list[str], **fields) -> dict:
    body = {"name": fields.pop("name", "real key"), "modelIds": models, **fields}
    response = client.post("/api/v1/api-keys", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    issued = response.get_json()
    assert issued["status"] == "active", issued
    return issued


def as_key(raw: str, method: str, path: str, **kwargs) -> requests.Response:
    """A call to the real proxy made with a LiteMaaS-issued key."""
    return requests.request(method, f"{REAL_URL}{path}", timeout=30,
                            headers={"Authorization": f"Bearer {raw}"}, **kwargs)


def chat(raw: str, model: str = CHAT) -> requests.Response:
    return as_key(raw, "POST", "/chat/completions",
                  json={"model": model, "messages": [{"role": "user", "content": "hi"}]})


def key_row(master: LiteLLMClient, raw_or_token: str) -> dict:
    return master.key_info(raw_or_token)["info"]
