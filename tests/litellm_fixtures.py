"""Pytest plugin: a fresh LiteLLM simulator on a real socket for each test, and a client for it.

Loaded by the root conftest (``pytest_plugins``) or with ``-p tests.litellm_fixtures``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.litellm import LiteLLMClient
from litellm_sim import SimServer, start_in_thread

# Explicit knobs so SIM_* variables in the environment cannot change what tests see.
SIM_TEST_KNOBS = {"models": 12, "seed": 42, "latency_ms": 0, "error_rate": 0.0, "down": False,
                  "garbage": None, "premium": False}


@pytest.fixture
def litellm_sim() -> Iterator[SimServer]:
    server = start_in_thread(**SIM_TEST_KNOBS)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def litellm_client(litellm_sim: SimServer) -> Iterator[LiteLLMClient]:
    with LiteLLMClient(litellm_sim.url, api_key=litellm_sim.master_key, timeout=5.0) as client:
        yield client
