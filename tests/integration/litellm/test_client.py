"""LiteLLMClient against the simulator over real HTTP."""

from __future__ import annotations

import json
import socket
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from app.litellm import (
    LiteLLMAuthError,
    LiteLLMBadRequest,
    LiteLLMClient,
    LiteLLMConflict,
    LiteLLMEnterpriseRequired,
    LiteLLMError,
    LiteLLMInvalidResponse,
    LiteLLMNotFound,
    LiteLLMUnavailable,
)
from litellm_sim.catalog import load_fixture

RAW_KEY = "sk-" + "Q" * 24 + "client-test-key-0001"


def sim_calls(sim) -> list[dict]:
    with sim.state.lock:
        return list(sim.state.calls)


def make_key(client: LiteLLMClient, suffix: str, **fields) -> str:
    raw_key = f"sk-{suffix:0>40}"
    client.key_generate(key=raw_key, **fields)
    return raw_key


# -- models and health --------------------------------------------------------------------------


def _without_null_fields(value):
    if isinstance(value, dict):
        return {k: _without_null_fields(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_null_fields(item) for item in value]
    return value


def test_model_info_returns_the_12_captured_models_without_null_fields(litellm_client):
    # null and missing fields mean the same; dropping nulls while streaming saves memory
    expected = _without_null_fields(load_fixture("model_info.json")["data"])
    assert litellm_client.model_info() == expected


def test_models_returns_the_captured_v1_list(litellm_client):
    assert litellm_client.models() == load_fixture("v1_models.json")["data"]


def test_health_probes_answer_like_litellm(litellm_client):
    assert litellm_client.health_liveliness() == "I'm alive!"
    assert litellm_client.health_readiness() == {"status": "healthy", "db": "connected"}


# -- keys ---------------------------------------------------------------------------------------


def test_key_generate_with_caller_key_returns_litellm_token_and_masked_name(litellm_client):
    created = litellm_client.key_generate(
        key=RAW_KEY, key_alias="alice_0001", models=["gpt-4o"], max_budget=5.0, tpm_limit=1000,
        rpm_limit=10, budget_duration="30d", user_id="alice", metadata={"created_by": "litemaas"},
        duration="30d",
    )

    assert created["key"] == RAW_KEY
    assert created["token"] == LiteLLMClient.hash_key(RAW_KEY) == created["token_id"]
    assert created["key_name"] == "sk-..." + RAW_KEY[-4:]
    assert created["models"] == ["gpt-4o"]
    assert (created["max_budget"], created["tpm_limit"], created["rpm_limit"]) == (5.0, 1000, 10)
    assert created["metadata"] == {"created_by": "litemaas"}
    expires = datetime.fromisoformat(created["expires"])
    assert timedelta(days=29) < expires - datetime.now(UTC) <= timedelta(days=30)


def test_retried_key_generate_with_same_key_and_alias_is_refused_without_duplicate(
    litellm_client,
):
    litellm_client.key_generate(key=RAW_KEY, key_alias="alice_0001", models=["gpt-4o"])

    with pytest.raises(LiteLLMBadRequest) as refused:
        litellm_client.key_generate(key=RAW_KEY, key_alias="alice_0001", models=["gpt-4o"])

    assert "already exists" in refused.value.message
    assert refused.value.param == "key_alias"
    assert litellm_client.key_list()["total_count"] == 1


def test_retried_key_generate_without_alias_leaves_the_stored_key_unchanged(litellm_client):
    litellm_client.key_generate(key=RAW_KEY, max_budget=1.0)

    litellm_client.key_generate(key=RAW_KEY, max_budget=99.0)

    assert litellm_client.key_list()["total_count"] == 1
    assert litellm_client.key_info(RAW_KEY)["info"]["max_budget"] == 1.0


def test_key_update_changes_limits_and_key_info_shows_them(litellm_client):
    litellm_client.key_generate(key=RAW_KEY, models=["gpt-4o"], max_budget=1.0)

    updated = litellm_client.key_update(key=RAW_KEY, models=["gpt-4o", "gpt-4o-mini"],
                                        max_budget=2.5, rpm_limit=None, metadata={"a": 1})
    info = litellm_client.key_info(RAW_KEY)

    assert updated["token"] == LiteLLMClient.hash_key(RAW_KEY)
    assert info["info"]["models"] == ["gpt-4o", "gpt-4o-mini"]
    assert info["info"]["max_budget"] == 2.5
    assert info["info"]["metadata"] == {"a": 1}
    assert info["info"]["status"] == "active"
    assert "token" not in info["info"]


def test_key_update_of_unknown_key_raises_not_found(litellm_client):
    with pytest.raises(LiteLLMNotFound):
        litellm_client.key_update(key=RAW_KEY, max_budget=1.0)


def test_deleted_key_is_reported_deleted_and_cannot_be_deleted_twice(litellm_client):
    litellm_client.key_generate(key=RAW_KEY)

    deleted = litellm_client.key_delete([RAW_KEY])

    assert deleted == {"deleted_keys": [LiteLLMClient.hash_key(RAW_KEY)]}
    assert litellm_client.key_info(RAW_KEY)["info"]["status"] == "deleted"
    with pytest.raises(LiteLLMNotFound, match="No keys found"):
        litellm_client.key_delete([RAW_KEY])


def test_key_info_of_unknown_key_raises_not_found(litellm_client):
    with pytest.raises(LiteLLMNotFound):
        litellm_client.key_info(RAW_KEY)


def test_key_list_pages_and_filters_by_user_and_team(litellm_client):
    for index in range(5):
        make_key(litellm_client, f"u1-{index}", user_id="u1")
    make_key(litellm_client, "u2-0", user_id="u2", team_id="t1")

    first = litellm_client.key_list(page=1, size=2, user_id="u1")
    last = litellm_client.key_list(page=3, size=2, user_id="u1", return_full_object=False)
    team = litellm_client.key_list(team_id="t1")

    assert (first["total_count"], first["current_page"], first["total_pages"]) == (5, 1, 3)
    assert all(key["user_id"] == "u1" for key in first["keys"])
    assert len(last["keys"]) == 1 and isinstance(last["keys"][0], str)
    assert [key["user_id"] for key in team["keys"]] == ["u2"]


def test_key_list_page_size_above_100_is_a_422_bad_request(litellm_client):
    with pytest.raises(LiteLLMBadRequest, match=r"query\.size"):
        litellm_client.key_list(size=101)


def test_blocked_key_shows_revoked_until_unblocked(litellm_client):
    litellm_client.key_generate(key=RAW_KEY)

    blocked = litellm_client.key_block(RAW_KEY)
    status_blocked = litellm_client.key_info(RAW_KEY)["info"]["status"]
    litellm_client.key_unblock(RAW_KEY)

    assert blocked["blocked"] is True
    assert status_blocked == "revoked"
    assert litellm_client.key_info(RAW_KEY)["info"]["status"] == "active"


def test_tags_without_enterprise_licence_raise_a_permanent_error(litellm_client):
    with pytest.raises(LiteLLMEnterpriseRequired) as refused:
        litellm_client.key_generate(key=RAW_KEY, tags=["team-a"])

    assert refused.value.retryable is False
    assert litellm_client.key_list()["total_count"] == 0


def test_raw_keys_travel_only_in_the_generate_body(litellm_sim, litellm_client):
    litellm_client.key_generate(key=RAW_KEY)
    litellm_client.key_info(RAW_KEY)
    litellm_client.key_update(key=RAW_KEY, max_budget=3.0)
    litellm_client.key_block(RAW_KEY)
    litellm_client.key_unblock(RAW_KEY)
    litellm_client.key_delete([RAW_KEY])

    calls = sim_calls(litellm_sim)

    assert calls[0]["path"] == "/key/generate" and calls[0]["json"]["key"] == RAW_KEY
    assert all(RAW_KEY not in json.dumps(call) for call in calls[1:])


# -- users and teams ----------------------------------------------------------------------------


def test_user_lifecycle_new_info_update_delete(litellm_client):
    created = litellm_client.user_new(user_id="u1", user_email="u1@example.com",
                                      user_alias="alice", user_role="internal_user",
                                      max_budget=10.0, auto_create_key=False)
    litellm_client.user_update(user_id="u1", max_budget=20.0, tpm_limit=500)
    info = litellm_client.user_info("u1")
    deleted = litellm_client.user_delete(["u1"])

    assert created["user_id"] == "u1" and created["key"] == ""
    assert info["user_info"]["max_budget"] == 20.0
    assert info["user_info"]["tpm_limit"] == 500
    assert info["keys"] == []
    assert deleted == 1
    with pytest.raises(LiteLLMNotFound):
        litellm_client.user_info("u1")


def test_second_user_new_with_same_id_is_a_conflict(litellm_client):
    litellm_client.user_new(user_id="u1", auto_create_key=False)

    with pytest.raises(LiteLLMConflict, match="already exists"):
        litellm_client.user_new(user_id="u1", auto_create_key=False)


def test_user_info_lists_the_users_keys(litellm_client):
    litellm_client.user_new(user_id="u1", auto_create_key=False)
    litellm_client.key_generate(key=RAW_KEY, user_id="u1", key_alias="mine")

    keys = litellm_client.user_info("u1")["keys"]

    assert [(k["token"], k["key_name"], k["key_alias"]) for k in keys] == [
        (LiteLLMClient.hash_key(RAW_KEY), "sk-..." + RAW_KEY[-4:], "mine")]


def test_deleting_an_unknown_user_raises_not_found(litellm_client):
    with pytest.raises(LiteLLMNotFound, match="User not found"):
        litellm_client.user_delete(["ghost"])


def test_team_lifecycle_with_members(litellm_client):
    litellm_client.team_new(team_id="t1", team_alias="Team One", max_budget=100.0, models=[])
    added = litellm_client.team_member_add("t1", {"user_id": "u1", "role": "user"})
    litellm_client.team_update(team_id="t1", max_budget=200.0, tpm_limit=5000)
    info = litellm_client.team_info("t1")
    litellm_client.team_member_delete("t1", "u1")

    assert [user["user_id"] for user in added["updated_users"]] == ["u1"]
    assert info["team_info"]["max_budget"] == 200.0
    assert info["team_info"]["members_with_roles"] == [  # the creator first, as LiteLLM does
        {"user_id": "default_user_id", "user_email": None, "role": "admin"},
        {"user_id": "u1", "user_email": None, "role": "user"}]
    assert litellm_client.user_info("u1")["user_info"]["teams"] == []
    assert litellm_client.team_delete(["t1"]) == {"deleted_teams": ["t1"]}
    with pytest.raises(LiteLLMNotFound):
        litellm_client.team_info("t1")


def test_team_new_with_existing_id_is_a_bad_request(litellm_client):
    litellm_client.team_new(team_id="t1")

    with pytest.raises(LiteLLMBadRequest, match="already exists"):
        litellm_client.team_new(team_id="t1")


def test_adding_a_member_twice_is_a_bad_request(litellm_client):
    litellm_client.team_new(team_id="t1")
    litellm_client.team_member_add("t1", {"user_id": "u1", "role": "user"})

    with pytest.raises(LiteLLMBadRequest, match="already in team"):
        litellm_client.team_member_add("t1", {"user_id": "u1", "role": "user"})


# -- failures -----------------------------------------------------------------------------------


@pytest.mark.parametrize("wrong_key", ["sk-wrong-master-key-0123456789", "plain-wrong-master"])
def test_bad_master_key_raises_auth_error_that_never_shows_the_key(litellm_sim, wrong_key):
    with LiteLLMClient(litellm_sim.url, api_key=wrong_key, timeout=5.0) as client, \
            pytest.raises(LiteLLMAuthError) as refused:
        client.model_info()

    assert refused.value.status == 401
    assert ("Invalid API key provided" in refused.value.message
            or "LiteLLM Virtual Key expected" in refused.value.message)
    assert wrong_key not in str(refused.value)
    assert wrong_key not in repr(refused.value.args)


def test_missing_master_key_raises_auth_error(litellm_sim):
    with LiteLLMClient(litellm_sim.url, timeout=5.0) as client, pytest.raises(
        LiteLLMAuthError, match="No api key passed in"
    ):
        client.key_list()


def test_down_proxy_raises_unavailable_after_retrying_gets_only(litellm_sim, litellm_client):
    litellm_sim.configure(down=True)

    with pytest.raises(LiteLLMUnavailable) as get_error:
        litellm_client.model_info()
    with pytest.raises(LiteLLMUnavailable):
        litellm_client.key_generate(key=RAW_KEY)

    paths = [call["path"] for call in sim_calls(litellm_sim)]
    assert get_error.value.retryable is True
    assert paths.count("/model/info") == 3  # first try + 2 retries
    assert paths.count("/key/generate") == 1


@pytest.mark.parametrize("mode", ["invalid_json", "wrong_shape"])
def test_garbage_model_info_raises_invalid_response(litellm_sim, litellm_client, mode):
    litellm_sim.configure(garbage=mode)

    with pytest.raises(LiteLLMInvalidResponse) as invalid:
        litellm_client.model_info()

    assert invalid.value.retryable is False


class _TextAnswers(BaseHTTPRequestHandler):
    """A proxy in front of LiteLLM answering text: 200 for /ok, 502 for anything else."""

    def do_GET(self):
        body = b"<html>upstream said no</html>"
        self.send_response(200 if self.path.startswith("/ok") else 502)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_an_answer_that_is_not_json_raises_invalid_response_or_the_status_error():
    with ThreadingHTTPServer(("127.0.0.1", 0), _TextAnswers) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            base = f"http://127.0.0.1:{server.server_port}"
            with LiteLLMClient(base + "/ok", "sk-master-secret-123456", retries=0) as client, \
                    pytest.raises(LiteLLMInvalidResponse, match="not JSON"):
                client.user_daily_activity("2026-01-01", "2026-01-02")
            with LiteLLMClient(base, "sk-master-secret-123456", retries=0) as client, \
                    pytest.raises(LiteLLMUnavailable) as failed:
                client.user_daily_activity("2026-01-01", "2026-01-02")
        finally:
            server.shutdown()

    assert failed.value.retryable is True


def test_answer_slower_than_the_timeout_raises_unavailable(litellm_sim):
    litellm_sim.configure(latency_ms=1500)

    with LiteLLMClient(litellm_sim.url, litellm_sim.master_key, timeout=0.3,
                       retries=0) as client, pytest.raises(LiteLLMUnavailable, match="timed out"):
        client.health_liveliness()


def test_refused_connection_raises_unavailable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with LiteLLMClient(f"http://127.0.0.1:{port}", "sk-master-secret-123456", timeout=1.0,
                       retries=1) as client, pytest.raises(LiteLLMUnavailable) as failed:
        client.key_info(RAW_KEY)

    assert RAW_KEY not in str(failed.value)
    assert failed.value.__cause__ is None and failed.value.__suppress_context__


def test_no_error_message_contains_the_master_key(litellm_sim, litellm_client):
    master = litellm_sim.master_key
    failures: list[LiteLLMError] = []
    for call in (lambda: litellm_client.key_info(RAW_KEY),
                 lambda: litellm_client.user_info("ghost"),
                 lambda: litellm_client.key_list(size=500),
                 lambda: litellm_client.team_member_add("ghost", {"user_id": "u", "role": "user"})):
        with pytest.raises(LiteLLMError) as failed:
            call()
        failures.append(failed.value)
    litellm_sim.configure(down=True)
    with pytest.raises(LiteLLMError) as down:
        litellm_client.key_generate(key=RAW_KEY)
    failures.append(down.value)

    assert all(master not in str(error) and master not in error.message for error in failures)


# -- usage --------------------------------------------------------------------------------------


def test_iter_user_daily_activity_follows_has_more_and_page_totals_add_up(litellm_sim,
                                                                          litellm_client):
    for index in range(3):
        make_key(litellm_client, f"k{index}", user_id=f"user-{index}", models=["gpt-4o-mini"])
    requests.post(f"{litellm_sim.url}/_sim/activity", timeout=5,
                  headers={"Authorization": f"Bearer {litellm_sim.master_key}"},
                  json={"days": 5, "requests_per_key_per_day": 10, "seed": 7}).raise_for_status()
    today = datetime.now(UTC).date()

    pages = list(litellm_client.iter_user_daily_activity(today - timedelta(days=4), today,
                                                         page_size=4))

    assert [page["metadata"]["page"] for page in pages] == [1, 2, 3, 4]
    assert [page["metadata"]["has_more"] for page in pages] == [True, True, True, False]
    results = [day for page in pages for day in page["results"]]
    requests_total = sum(page["metadata"]["total_api_requests"] for page in pages)
    assert requests_total == 3 * 5 * 10
    assert sum(day["metrics"]["api_requests"] for day in results) == requests_total
    assert sum(p["metadata"]["total_spend"] for p in pages) == pytest.approx(
        sum(day["metrics"]["spend"] for day in results))
    spend_by_key = sum(key["info"]["spend"] for key in (
        litellm_client.key_info(f"sk-{f'k{i}':0>40}") for i in range(3)))
    assert spend_by_key == pytest.approx(sum(p["metadata"]["total_spend"] for p in pages))


def test_user_daily_activity_filters_by_key_token(litellm_sim, litellm_client):
    mine = make_key(litellm_client, "mine", user_id="u1", models=["gpt-4o"])
    make_key(litellm_client, "other", user_id="u2", models=["gpt-4o"])
    requests.post(f"{litellm_sim.url}/_sim/activity", timeout=5,
                  headers={"Authorization": f"Bearer {litellm_sim.master_key}"},
                  json={"days": 2, "requests_per_key_per_day": 5}).raise_for_status()
    today = datetime.now(UTC).date()

    page = litellm_client.user_daily_activity(today - timedelta(days=1), today, api_key=mine)

    token = LiteLLMClient.hash_key(mine)
    assert page["metadata"]["total_api_requests"] == 10
    assert {k for day in page["results"] for k in day["breakdown"]["api_keys"]} == {token}
    model = page["results"][0]["breakdown"]["models"]["gpt-4o"]
    assert list(model["api_key_breakdown"]) == [token]
    assert model["api_key_breakdown"][token]["metadata"]["user_id"] == "u1"
