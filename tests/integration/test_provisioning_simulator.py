"""What the provisioning tests rely on in the simulator: budgets refused like LiteLLM (key,
user and team), spend visible in key info, blocked keys, calls recorded."""

from __future__ import annotations

import requests

from app.litellm import LiteLLMClient

KEY = "sk-provisioning-simulator-key-0001"


def chat(sim, key: str = KEY, model: str = "gpt-4o") -> requests.Response:
    return requests.post(f"{sim.url}/v1/chat/completions", timeout=5,
                         headers={"Authorization": f"Bearer {key}"},
                         json={"model": model, "messages": [{"role": "user", "content": "hi"}]})


def test_spent_key_budget_is_refused_with_the_configured_status(
        litellm_sim, litellm_client: LiteLLMClient):
    litellm_client.key_generate(key=KEY, max_budget=1e-9)
    assert chat(litellm_sim).status_code == 200
    refused = chat(litellm_sim)
    assert refused.status_code == 422  # LiteLLM 1.106's default
    assert refused.json()["error"]["type"] == "budget_exceeded"

    litellm_sim.configure(budget_exceeded_status=429)  # budget_exceeded_status_code: 429
    assert chat(litellm_sim).status_code == 429


def test_personal_key_is_held_to_its_users_budget(litellm_sim, litellm_client: LiteLLMClient):
    litellm_client.user_new(user_id="u1", max_budget=1e-9, auto_create_key=False)
    litellm_client.key_generate(key=KEY, user_id="u1")
    assert chat(litellm_sim).status_code == 200
    refused = chat(litellm_sim)
    assert refused.status_code == 422
    assert refused.json()["error"]["message"].startswith("ExceededBudget: User=u1 over budget")
    assert litellm_client.user_info("u1")["user_info"]["spend"] > 0


def test_team_key_is_held_to_its_teams_budget(litellm_sim, litellm_client: LiteLLMClient):
    litellm_client.user_new(user_id="u1", max_budget=100.0, auto_create_key=False)
    litellm_client.team_new(team_id="t1", max_budget=1e-9)
    litellm_client.key_generate(key=KEY, user_id="u1", team_id="t1")
    assert chat(litellm_sim).status_code == 200
    refused = chat(litellm_sim)
    assert refused.status_code == 422
    assert "Team=t1 over budget" in refused.json()["error"]["message"]


def test_key_info_shows_spend_and_blocked_keys_are_refused(
        litellm_sim, litellm_client: LiteLLMClient):
    litellm_client.key_generate(key=KEY, models=["gpt-4o"])
    chat(litellm_sim)
    info = litellm_client.key_info(KEY)["info"]
    assert info["spend"] > 0 and info["model_spend"]["gpt-4o"] == info["spend"]
    litellm_client.key_block(KEY)
    assert litellm_client.key_info(KEY)["info"]["status"] == "revoked"
    blocked = chat(litellm_sim)
    assert blocked.status_code == 401 and "blocked" in blocked.json()["error"]["message"]
    litellm_client.key_update(key=KEY, blocked=False)
    assert chat(litellm_sim).status_code == 200


def test_calls_are_recorded_for_assertions(litellm_sim, litellm_client: LiteLLMClient):
    litellm_client.key_generate(key=KEY, models=["gpt-4o"], metadata={"litemaas_key_id": "k1"})
    litellm_client.key_update(key=KEY, rpm_limit=3)
    calls = requests.get(f"{litellm_sim.url}/_sim/calls", timeout=5,
                         headers={"Authorization": f"Bearer {litellm_sim.master_key}"}).json()
    paths = [(c["method"], c["path"]) for c in calls["calls"]]
    assert paths == [("POST", "/key/generate"), ("POST", "/key/update")]
    assert calls["calls"][1]["json"]["rpm_limit"] == 3
