"""The LiteLLM simulator over real HTTP: generation, knobs, the chat endpoint and spend."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
import requests

from litellm_sim import SimConfig, start_in_thread
from litellm_sim.catalog import load_fixture
from tests.litellm_fixtures import SIM_TEST_KNOBS

KEY = "sk-" + "s" * 44


def call(sim, method: str, path: str, key: str | None = None, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {key or sim.master_key}"}
    return requests.request(method, sim.url + path, headers=headers, timeout=10, **kwargs)


def chat(sim, key: str, model: str = "gpt-4o", text: str = "Hello there") -> requests.Response:
    return call(sim, "POST", "/v1/chat/completions", key=key,
                json={"model": model, "messages": [{"role": "user", "content": text}]})


def new_key(sim, raw_key: str = KEY, **fields) -> dict:
    response = call(sim, "POST", "/key/generate", json={"key": raw_key, **fields})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def big_sims():
    servers = [start_in_thread(**{**SIM_TEST_KNOBS, "models": 1000, "seed": seed})
               for seed in (42, 42, 7)]
    yield servers
    for server in servers:
        server.stop()


# -- model generation ---------------------------------------------------------------------------


def test_same_seed_gives_byte_identical_model_info_for_1000_models(big_sims):
    first, same_seed, other_seed = (call(s, "GET", "/model/info").content for s in big_sims)

    models = json.loads(first)["data"]
    assert first == same_seed
    assert first != other_seed
    assert len(models) == 1000
    assert len({m["model_name"] for m in models}) == 1000
    assert len({m["model_info"]["id"] for m in models}) == 1000


def test_models_beyond_the_12_captures_are_priced_clones_named_after_them(big_sims):
    models = call(big_sims[0], "GET", "/model/info").json()["data"]
    captured = {m["model_name"] for m in load_fixture("model_info.json")["data"]}

    assert [m["model_name"] for m in models[:12]] == [
        m["model_name"] for m in load_fixture("model_info.json")["data"]]
    for index, model in enumerate(models[12:], start=12):
        base, _, suffix = model["model_name"].rpartition("-v")
        assert base in captured and suffix == str(index)
        assert model["model_info"]["input_cost_per_token"] > 0
    contexts = {m["model_info"]["max_tokens"] for m in models[12:]}
    assert len(contexts) > 1


def test_v1_models_lists_every_generated_model(litellm_sim):
    litellm_sim.configure(models=30)

    ids = [m["id"] for m in call(litellm_sim, "GET", "/v1/models").json()["data"]]
    names = [m["model_name"] for m in call(litellm_sim, "GET", "/model/info").json()["data"]]

    assert ids == names and len(ids) == 30


def test_mutate_changes_exactly_the_requested_share(litellm_sim):
    litellm_sim.configure(models=200)
    before = {m["model_name"]: m for m in call(litellm_sim, "GET", "/model/info").json()["data"]}

    mutated = call(litellm_sim, "POST", "/_sim/mutate", json={"percent": 10}).json()["mutated"]
    after = {m["model_name"]: m for m in call(litellm_sim, "GET", "/model/info").json()["data"]}

    changed = sorted(name for name in before if before[name] != after[name])
    assert len(mutated) == 20
    assert changed == mutated


def test_mutation_is_deterministic_for_a_seed():
    sims = [start_in_thread(**{**SIM_TEST_KNOBS, "models": 50}) for _ in range(2)]
    try:
        picks = [call(s, "POST", "/_sim/mutate", json={"percent": 20}).json() for s in sims]
        bodies = [call(s, "GET", "/model/info").content for s in sims]
    finally:
        for server in sims:
            server.stop()

    assert picks[0] == picks[1]
    assert bodies[0] == bodies[1]


def test_removed_models_leave_model_info_until_restored(litellm_sim):
    removed = call(litellm_sim, "POST", "/_sim/remove", json={"names": ["gpt-4o", "nope"]})
    without = [m["model_name"] for m in call(litellm_sim, "GET", "/model/info").json()["data"]]
    call(litellm_sim, "POST", "/_sim/restore", json={"names": ["gpt-4o"]})
    restored = [m["model_name"] for m in call(litellm_sim, "GET", "/model/info").json()["data"]]

    assert removed.json() == {"removed": ["gpt-4o"]}
    assert "gpt-4o" not in without and len(without) == 11
    assert restored[0] == "gpt-4o" and len(restored) == 12


# -- chat with virtual keys ---------------------------------------------------------------------


def test_chat_with_a_virtual_key_charges_the_key_user_and_team(litellm_sim):
    call(litellm_sim, "POST", "/user/new", json={"user_id": "u1", "auto_create_key": False})
    call(litellm_sim, "POST", "/team/new", json={"team_id": "t1"})
    new_key(litellm_sim, models=["gpt-4o"], user_id="u1", team_id="t1")

    answer = chat(litellm_sim, KEY)

    body = answer.json()
    usage = body["usage"]
    info = load_fixture("model_info.json")["data"][0]["model_info"]
    cost = (usage["prompt_tokens"] * info["input_cost_per_token"]
            + usage["completion_tokens"] * info["output_cost_per_token"])
    assert answer.status_code == 200
    assert body["object"] == "chat.completion" and body["model"] == "gpt-4o"
    assert float(answer.headers["x-litellm-response-cost"]) == pytest.approx(cost)
    key_info = call(litellm_sim, "GET", "/key/info", params={"key": KEY}).json()["info"]
    assert key_info["spend"] == pytest.approx(cost)
    assert key_info["model_spend"] == {"gpt-4o": pytest.approx(cost)}
    user = call(litellm_sim, "GET", "/user/info", params={"user_id": "u1"}).json()
    assert user["user_info"]["spend"] == pytest.approx(cost)
    team = call(litellm_sim, "GET", "/team/info", params={"team_id": "t1"}).json()
    assert team["team_info"]["spend"] == pytest.approx(cost)


def test_chat_is_recorded_in_todays_daily_activity(litellm_sim):
    new_key(litellm_sim, user_id="u1")
    chat(litellm_sim, KEY)
    chat(litellm_sim, KEY)
    today = datetime.now(UTC).date().isoformat()

    page = call(litellm_sim, "GET", "/user/daily/activity",
                params={"start_date": today, "end_date": today}).json()

    day = page["results"][0]
    token = hashlib.sha256(KEY.encode()).hexdigest()
    assert day["date"] == today
    assert day["metrics"]["api_requests"] == day["metrics"]["successful_requests"] == 2
    assert list(day["breakdown"]["api_keys"]) == [token]
    assert list(day["breakdown"]["model_groups"]) == ["gpt-4o"]
    assert day["breakdown"]["providers"]["openai"]["metrics"]["api_requests"] == 2
    assert day["breakdown"]["entities"]["u1"]["api_key_breakdown"][token]["metrics"][
        "api_requests"] == 2
    assert page["metadata"]["total_api_requests"] == 2


def test_key_over_budget_is_refused_like_litellm(litellm_sim):
    new_key(litellm_sim, max_budget=0.0, key_alias="tiny")

    refused = chat(litellm_sim, KEY)

    assert refused.status_code == 422
    assert refused.json() == {"error": {
        "message": f"Budget has been exceeded! Key=tiny (sk-...{KEY[-4:]}) Current cost: 0.0, "
                   "Max budget: 0.0",
        "type": "budget_exceeded", "param": None, "code": "422"}}


def test_key_reaching_its_budget_is_refused_on_the_next_request(litellm_sim):
    new_key(litellm_sim, max_budget=1e-9)

    first, second = chat(litellm_sim, KEY), chat(litellm_sim, KEY)

    assert first.status_code == 200
    assert second.status_code == 422
    assert "Budget has been exceeded" in second.json()["error"]["message"]


def test_model_outside_the_keys_models_is_refused_with_403(litellm_sim):
    new_key(litellm_sim, models=["gpt-4o-mini"])

    refused = chat(litellm_sim, KEY, model="gpt-4o")

    assert refused.status_code == 403
    assert refused.json()["error"]["type"] == "key_model_access_denied"
    assert refused.json()["error"]["param"] == "model"


@pytest.mark.parametrize("change", ["block", "delete", "expire", "unknown"])
def test_blocked_deleted_expired_or_unknown_keys_get_401(litellm_sim, change):
    new_key(litellm_sim)
    if change == "block":
        call(litellm_sim, "POST", "/key/block", json={"key": KEY})
    elif change == "delete":
        call(litellm_sim, "POST", "/key/delete", json={"keys": [KEY]})
    elif change == "expire":
        past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        call(litellm_sim, "POST", "/key/update", json={"key": KEY, "duration": "1s"})
        with litellm_sim.state.lock:
            litellm_sim.state.key_by(KEY)["expires"] = past

    refused = chat(litellm_sim, "sk-" + "u" * 44 if change == "unknown" else KEY)

    assert refused.status_code == 401
    # LiteLLM 1.108.7: an unknown or deleted key is "token_not_found_in_db"
    assert refused.json()["error"]["type"] in ("auth_error", "expired_key",
                                               "token_not_found_in_db")


def test_unknown_model_is_a_400(litellm_sim):
    new_key(litellm_sim)

    refused = chat(litellm_sim, KEY, model="no-such-model")

    assert refused.status_code == 400
    assert "Invalid model name" in refused.json()["error"]["message"]


# -- knobs and controls -------------------------------------------------------------------------


def test_down_answers_503_on_litellm_routes_but_not_on_sim_routes(litellm_sim):
    call(litellm_sim, "POST", "/_sim/config", json={"down": True})

    assert requests.get(f"{litellm_sim.url}/health/liveliness", timeout=5).status_code == 503
    assert call(litellm_sim, "GET", "/_sim/state").status_code == 200


def test_error_rate_one_answers_litellm_500s(litellm_sim):
    litellm_sim.configure(error_rate=1.0)

    answer = call(litellm_sim, "GET", "/key/list")

    assert answer.status_code == 500
    assert answer.json() == {"error": {"message": "Internal server error",
                                       "type": "internal_server_error"}}


def test_error_rate_is_deterministic_for_a_seed():
    outcomes = []
    for _ in range(2):
        server = start_in_thread(**{**SIM_TEST_KNOBS, "error_rate": 0.5})
        try:
            outcomes.append([call(server, "GET", "/key/list").status_code for _ in range(20)])
        finally:
            server.stop()

    assert outcomes[0] == outcomes[1]
    assert set(outcomes[0]) == {200, 500}


def test_sim_routes_require_the_master_key(litellm_sim):
    refused = call(litellm_sim, "GET", "/_sim/state", key="sk-not-the-master-key-0000")

    assert refused.status_code == 401
    assert refused.json()["error"]["type"] == "token_not_found_in_db"


def test_calls_are_recorded_with_their_raw_bodies(litellm_sim):
    new_key(litellm_sim, key_alias="a")
    call(litellm_sim, "GET", "/key/info", params={"key": KEY})

    calls = call(litellm_sim, "GET", "/_sim/calls").json()["calls"]

    assert calls == [
        {"method": "POST", "path": "/key/generate", "query": {},
         "json": {"key": KEY, "key_alias": "a"}},
        {"method": "GET", "path": "/key/info", "query": {"key": KEY}, "json": None},
    ]


def test_reset_forgets_everything_and_restores_the_starting_knobs(litellm_sim):
    new_key(litellm_sim)
    call(litellm_sim, "POST", "/_sim/config", json={"models": 20, "latency_ms": 5})

    call(litellm_sim, "POST", "/_sim/reset")
    state = call(litellm_sim, "GET", "/_sim/state").json()

    assert (state["keys"], state["models"], state["calls"]) == (0, 12, 0)
    assert state["config"]["latency_ms"] == 0
    assert "master_key" not in state["config"]


def test_unknown_knob_is_refused(litellm_sim):
    assert call(litellm_sim, "POST", "/_sim/config", json={"colour": "red"}).status_code == 400


def test_activity_generation_is_deterministic_and_idempotent(litellm_sim):
    new_key(litellm_sim, user_id="u1")
    today = datetime.now(UTC).date()
    window = {"start_date": (today - timedelta(days=6)).isoformat(),
              "end_date": today.isoformat(), "page_size": 1000}

    call(litellm_sim, "POST", "/_sim/activity", json={"days": 7, "seed": 3})
    first = call(litellm_sim, "GET", "/user/daily/activity", params=window).json()
    call(litellm_sim, "POST", "/_sim/activity", json={"days": 7, "seed": 3})
    second = call(litellm_sim, "GET", "/user/daily/activity", params=window).json()
    spend = call(litellm_sim, "GET", "/key/info", params={"key": KEY}).json()["info"]["spend"]

    assert first == second
    assert len(first["results"]) == 7
    assert spend == pytest.approx(first["metadata"]["total_spend"])
    metrics = first["metadata"]
    assert metrics["total_api_requests"] == (metrics["total_successful_requests"]
                                             + metrics["total_failed_requests"])


def test_daily_activity_requires_dates(litellm_sim):
    answer = call(litellm_sim, "GET", "/user/daily/activity")

    assert answer.status_code == 400
    assert answer.json() == {"detail": {"error": "Please provide start_date and end_date"}}


def test_missing_required_field_is_fastapis_422(litellm_sim):
    answer = call(litellm_sim, "POST", "/user/delete", json={})

    assert answer.status_code == 422
    assert answer.json() == {"detail": [{"type": "missing", "loc": ["body", "user_ids"],
                                         "msg": "Field required"}]}


def test_environment_knobs_are_read_and_keyword_knobs_win():
    env = {"SIM_MODELS": "30", "SIM_SEED": "9", "SIM_LATENCY_MS": "15",
           "SIM_ERROR_RATE": "0.25", "SIM_DOWN": "true", "LITELLM_MASTER_KEY": "sk-env-master"}

    config = SimConfig.from_env(env, models=5)

    assert config == SimConfig(models=5, seed=9, latency_ms=15, error_rate=0.25, down=True,
                               master_key="sk-env-master")
