"""Issue 13, part 7: the chat playground. The browser calls LiteLLM (the simulator here)
straight from the UI's origin with one of the user's keys: CORS as LiteLLM allows it, chat
for the key's models, streamed or not, and LiteLLM's refusals."""

from __future__ import annotations

import json

import pytest
import requests

from tests.integration.provisioning_support import create_key, seed_models, subscribe

OPEN, OTHER = "gpt-4o", "gpt-4o-mini"
UI_ORIGIN = "http://localhost:3000"


@pytest.fixture
def key(app, client, login, sim) -> str:
    seed_models(app, sim)
    user = login("user")
    subscribe(client, user, OPEN)
    return create_key(client, user, [OPEN])["key"]


def post_chat(sim, key: str, model: str, **body) -> requests.Response:
    return requests.post(
        f"{sim.url}/v1/chat/completions", timeout=10,
        headers={"Authorization": f"Bearer {key}", "Origin": UI_ORIGIN},
        json={"model": model, "messages": [{"role": "user", "content": "Hello there"}],
              "temperature": 0.7, "max_tokens": 100, **body})


def test_preflight_from_the_ui_origin_is_allowed_without_a_key(sim):
    answer = requests.options(f"{sim.url}/v1/chat/completions", timeout=10, headers={
        "Origin": UI_ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == UI_ORIGIN
    assert answer.headers["Access-Control-Allow-Credentials"] == "true"
    assert "POST" in answer.headers["Access-Control-Allow-Methods"]
    assert answer.headers["Access-Control-Allow-Headers"] == "authorization,content-type"


def test_chat_with_a_users_key_answers_with_cors_headers(sim, key):
    answer = post_chat(sim, key, OPEN)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Access-Control-Allow-Origin"] == UI_ORIGIN
    body = answer.json()
    assert body["choices"][0]["message"]["content"]
    assert body["usage"]["total_tokens"] == (body["usage"]["prompt_tokens"]
                                             + body["usage"]["completion_tokens"])


def test_streamed_chat_as_the_playground_reads_it(sim, key):
    answer = post_chat(sim, key, OPEN, stream=True, stream_options={"include_usage": True})
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/event-stream")
    assert answer.headers["Access-Control-Allow-Origin"] == UI_ORIGIN
    lines = [line[6:] for line in answer.text.split("\n") if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    chunks = [json.loads(line) for line in lines[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks
                   if c["choices"])
    assert text == f"This is a simulated answer from {OPEN}."
    assert any(c["choices"] and c["choices"][0]["finish_reason"] == "stop" for c in chunks)
    usage = [c["usage"] for c in chunks if c.get("usage")]
    assert len(usage) == 1 and usage[0]["total_tokens"] > 0


def test_litellm_refusals_reach_the_browser(sim, key):
    not_allowed = post_chat(sim, key, OTHER)
    assert not_allowed.status_code == 403
    assert not_allowed.headers["Access-Control-Allow-Origin"] == UI_ORIGIN
    bad_key = post_chat(sim, "sk-" + "x" * 48, OPEN)
    assert bad_key.status_code == 401
    assert bad_key.headers["Access-Control-Allow-Origin"] == UI_ORIGIN
    assert "error" in bad_key.json()


def test_v1_models_lists_what_the_key_may_call(sim, key):
    answer = requests.get(f"{sim.url}/v1/models", timeout=10,
                          headers={"Authorization": f"Bearer {key}", "Origin": UI_ORIGIN})
    assert answer.status_code == 200
    assert [m["id"] for m in answer.json()["data"]] == [OPEN]
    everything = requests.get(f"{sim.url}/v1/models", timeout=10,
                              headers={"Authorization": f"Bearer {sim.master_key}"}).json()
    assert len(everything["data"]) > 1
    assert requests.get(f"{sim.url}/v1/models", timeout=10).status_code == 401
