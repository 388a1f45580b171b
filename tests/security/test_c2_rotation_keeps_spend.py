"""C2: rotating a key must not reset its budget.

LiteLLM starts a new key at spend 0; a user whose key hit its budget would rotate it and spend
again. The new value is generated with the old value's spend and the same budget period
(duration, and the reset time LiteLLM derives from it). Fails when rotation stops carrying it.
"""

from __future__ import annotations

import pytest

from tests.integration.provisioning_support import (
    chat,
    create_key,
    seed_models,
    sim_key,
    subscribe,
)
from tests.support.jobs import wait_for_job

MODEL = "gpt-4o"


@pytest.fixture
def subscribed(app, client, login, sim, celery_worker):
    seed_models(app, sim)
    headers = login("user")
    subscribe(client, headers, MODEL)
    return headers


def rotate(client, headers, key_id: str) -> dict:
    response = client.post(f"/api/v1/api-keys/{key_id}/rotate", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_a_key_over_its_budget_stays_over_it_after_rotation(client, sim, subscribed):
    body = create_key(client, subscribed, [MODEL], maxBudget=0.0001, budgetDuration="monthly")
    old = body["key"]
    while chat(sim, old, MODEL).status_code == 200:
        pass
    assert chat(sim, old, MODEL).status_code == 422  # "Budget has been exceeded"
    before = sim_key(sim, old)

    rotated = rotate(client, subscribed, body["id"])
    after = sim_key(sim, rotated["key"])

    assert after["spend"] == pytest.approx(before["spend"]) and after["spend"] >= 0.0001
    assert after["budget_duration"] == before["budget_duration"]
    assert after["budget_reset_at"] == before["budget_reset_at"]  # same period, same reset
    refused = chat(sim, rotated["key"], MODEL)
    assert refused.status_code == 422, refused.text
    assert "Budget has been exceeded" in refused.json()["error"]["message"]
    assert wait_for_job(client, subscribed, rotated["jobId"])["status"] == "succeeded"
    assert sim_key(sim, old) is None


def test_spend_is_carried_for_a_key_without_a_budget_too(client, sim, subscribed):
    body = create_key(client, subscribed, [MODEL])
    for _ in range(3):
        assert chat(sim, body["key"], MODEL).status_code == 200
    spent = sim_key(sim, body["key"])["spend"]
    assert spent > 0

    rotated = rotate(client, subscribed, body["id"])

    assert sim_key(sim, rotated["key"])["spend"] == pytest.approx(spent)


def test_a_budget_period_already_over_carries_nothing(client, sim, subscribed):
    body = create_key(client, subscribed, [MODEL], maxBudget=0.0001, budgetDuration="daily")
    while chat(sim, body["key"], MODEL).status_code == 200:
        pass
    with sim.state.lock:  # the period ended; LiteLLM's budget job has not run yet
        sim.state.key_by(body["key"])["budget_reset_at"] = "2020-01-01T00:00:00+00:00"

    rotated = rotate(client, subscribed, body["id"])

    assert sim_key(sim, rotated["key"])["spend"] == 0
    assert chat(sim, rotated["key"], MODEL).status_code == 200
