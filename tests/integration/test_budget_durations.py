"""One budget-duration vocabulary for keys, users and teams: what LiteLLM accepts, and only that
(issue 15 §3). Accepted values reach LiteLLM (yearly as 365d); refused ones are a 400
everywhere, and the simulator refuses what LiteLLM refuses."""

from __future__ import annotations

import pytest
import requests

from tests.integration.provisioning_support import (
    create_key,
    seed_models,
    subscribe,
    user_id,
)
from tests.support.jobs import settle_jobs, wait_for_job

ACCEPTED = ["daily", "weekly", "monthly", "hourly", "2w", "7d", "30d", "24h", "1mo", "90s",
            "yearly"]
REFUSED = ["2mo", "12mo", "0d", "1y", "fortnightly", "d", "Weekly ", "30 d"]
IN_LITELLM = {"yearly": "365d"}  # the UI offers "yearly"; LiteLLM knows no year unit


@pytest.fixture
def admin(app, client, login, celery_worker):
    yield login("admin")
    settle_jobs(app)


@pytest.mark.parametrize("duration", ACCEPTED)
def test_users_teams_and_keys_accept_every_duration_litellm_takes(
        app, client, login, sim, admin, duration):
    [model] = seed_models(app, sim, count=1)
    user = login("user")
    uid = user_id(client, user)
    patched = client.patch(f"/api/v1/users/{uid}", json={"budgetDuration": duration},
                           headers=admin)
    assert patched.status_code == 202, patched.get_json()
    assert wait_for_job(client, admin, patched.get_json()["jobId"])["status"] == "succeeded"
    sent = IN_LITELLM.get(duration, duration)
    assert sim.state.users[uid]["budget_duration"] == sent

    team = client.post("/api/v1/teams", json={"name": f"t-{duration}", "maxBudget": 5,
                                              "budgetDuration": duration}, headers=admin)
    assert team.status_code == 201, team.get_json()
    assert wait_for_job(client, admin, team.get_json()["jobId"])["status"] == "succeeded"
    assert sim.state.teams[team.get_json()["id"]]["budget_duration"] == sent

    subscribe(client, user, model)
    key = create_key(client, user, [model], maxBudget=1, budgetDuration=duration)
    assert key["status"] == "active"
    assert sim.state.key_by(key["key"])["budget_duration"] == sent


@pytest.mark.parametrize("duration", REFUSED)
def test_durations_litellm_refuses_are_a_400_for_users_teams_and_keys(
        app, client, login, sim, admin, duration):
    seed_models(app, sim, count=1)
    user = login("user")
    uid = user_id(client, user)
    answers = [
        client.patch(f"/api/v1/users/{uid}", json={"budgetDuration": duration}, headers=admin),
        client.post("/api/v1/teams", json={"name": "t", "budgetDuration": duration},
                    headers=admin),
        client.post("/api/v1/api-keys", json={"name": "k", "modelIds": [],
                                              "budgetDuration": duration}, headers=user),
    ]
    for answer in answers:
        assert answer.status_code == 400, answer.get_json()
        body = answer.get_json()["error"]
        assert "budgetDuration" in str(body["details"]), body
    assert len(sim.state.keys) == 0 and len(sim.state.teams) == 0


def test_simulator_refuses_the_durations_litellm_refuses(sim):
    master = {"Authorization": f"Bearer {sim.master_key}"}
    for duration in ("2mo", "12mo", "0d", "1y", "yearly"):
        answer = requests.post(f"{sim.url}/key/generate", headers=master, timeout=5,
                               json={"budget_duration": duration})
        assert answer.status_code == 400, duration
        assert f"Invalid budget_duration '{duration}'" in answer.json()["error"]["message"]
