"""The simulator kept honest: one scenario of the LiteLLM calls this backend relies on, run
against the simulator and the real proxy, must give the same observations (status codes, error
shapes and the start of their messages, the fields read back) (issue 15, DESIGN §12).

Each difference found while writing it was settled in the simulator (see the README's "Running
against real LiteLLM"); a new one fails here with both sides shown.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

import requests

from tests.litellm_real.conftest import CHAT, MASTER_KEY, MOCK, REAL_URL


class Backend:
    def __init__(self, url: str, master_key: str, model: str, other_model: str) -> None:
        self.url, self.master_key = url, master_key
        self.model, self.other_model = model, other_model

    def call(self, method: str, path: str, key: str | None = None, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {key or self.master_key}"}
        return requests.request(method, self.url + path, headers=headers, timeout=30, **kwargs)

    def chat(self, key: str, model: str | None = None) -> requests.Response:
        return self.call("POST", "/chat/completions", key, json={
            "model": model or self.model, "messages": [{"role": "user", "content": "hi"}]})


def kind(response: requests.Response, message_chars: int = 0) -> tuple:
    """Status, error shape (ProxyException's type/param/code, or FastAPI's detail) and the
    first ``message_chars`` characters of the message."""
    try:
        body = response.json()
    except ValueError:
        return (response.status_code, "not-json")
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        return (response.status_code, "error", error.get("type"), error.get("param"),
                str(error.get("code")), str(error.get("message"))[:message_chars])
    if isinstance(body, dict) and "detail" in body:
        detail = body["detail"]
        text = detail.get("error") if isinstance(detail, dict) else detail
        return (response.status_code, "detail", type(detail).__name__,
                str(text)[:message_chars])
    return (response.status_code, "ok")


def moment(stamp: str | None) -> datetime | None:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None


def scenario(b: Backend) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []
    user, team = str(uuid.uuid4()), str(uuid.uuid4())
    key = "sk-" + uuid.uuid4().hex + uuid.uuid4().hex
    token = hashlib.sha256(key.encode()).hexdigest()

    made = b.call("POST", "/user/new", json={
        "user_id": user, "user_role": "internal_user_viewer", "auto_create_key": False,
        "max_budget": 5, "budget_duration": "weekly"})
    seen.append(("user/new", (kind(made), made.json().get("user_role"),
                              made.json().get("budget_duration"))))
    seen.append(("user/new again", kind(b.call("POST", "/user/new", json={
        "user_id": user, "auto_create_key": False}), 24)))
    info = b.call("GET", "/user/info", params={"user_id": user})
    row = info.json()["user_info"]
    seen.append(("user/info", (kind(info), row["user_role"], row["max_budget"],
                               row["budget_duration"])))
    seen.append(("user/info unknown", kind(b.call("GET", "/user/info", params={
        "user_id": "nobody-" + user}))))
    seen.append(("user/update role", kind(b.call("POST", "/user/update", json={
        "user_id": user, "user_role": "internal_user_viewer", "max_budget": 6}))))

    generated = b.call("POST", "/key/generate", json={
        "key": key, "user_id": user, "models": [b.model], "max_budget": 1.0, "soft_budget": 0.5,
        "budget_duration": "monthly", "spend": 1.5, "metadata": {"litemaas_key_id": "k1"}})
    seen.append(("key/generate", (kind(generated), generated.json().get("key") == key,
                                  generated.json().get("spend"))))
    info = b.call("GET", "/key/info", params={"key": key}).json()["info"]
    seen.append(("key/info", (info["spend"], info.get("soft_budget", "absent"),
                              (info.get("litellm_budget_table") or {}).get("soft_budget"),
                              info["budget_duration"], moment(info["budget_reset_at"]),
                              info["user_id"] == user, info["metadata"],
                              info["models"] == [b.model])))
    listed = b.call("GET", "/key/list", params={"user_id": user, "return_full_object": "true"})
    first = listed.json()["keys"][0]
    seen.append(("key/list", (kind(listed), listed.json()["total_count"], first["token"] == token,
                              first.get("soft_budget", "absent"),
                              first["litellm_budget_table"]["soft_budget"])))

    seen.append(("chat over budget", kind(b.chat(key), 30)))
    seen.append(("key/update budget", kind(b.call("POST", "/key/update", json={
        "key": key, "max_budget": 100}))))
    seen.append(("chat", kind(b.chat(key))))
    seen.append(("chat other model", kind(b.chat(key, b.other_model))))

    for path, body in (("/key/generate", {}), ("/key/update", {"key": key, "max_budget": 1e6}),
                       ("/key/delete", {"keys": [key]}), ("/user/update", {"user_id": user}),
                       ("/team/new", {"team_id": "mine-" + team})):
        seen.append((f"as key {path}", kind(b.call("POST", path, key, json=body), 80)))
    seen.append(("as key own user/info", kind(b.call("GET", "/user/info", key, params={
        "user_id": user}))))
    listed = b.call("GET", "/v1/models", key)
    seen.append(("as key /v1/models", (kind(listed),
                                       [m["id"] == b.model for m in listed.json()["data"]])))

    created = b.call("POST", "/team/new", json={"team_id": team, "max_budget": 10,
                                                "budget_duration": "monthly"})
    seen.append(("team/new", (kind(created), created.json().get("budget_duration"))))
    seen.append(("member_add admin", kind(b.call("POST", "/team/member_add", json={
        "team_id": team, "member": {"user_id": user, "role": "admin"}}), 45)))
    seen.append(("member_add user", kind(b.call("POST", "/team/member_add", json={
        "team_id": team, "member": {"user_id": user, "role": "user"}}))))
    seen.append(("as key team/update", kind(b.call("POST", "/team/update", key, json={
        "team_id": team, "max_budget": 1}), 40)))
    info = b.call("GET", "/team/info", params={"team_id": team}).json()["team_info"]
    seen.append(("team/info", (info["max_budget"], info["budget_duration"],
                               [m["role"] for m in info["members_with_roles"]
                                if m["user_id"] == user],
                               any(m["user_id"] == "default_user_id" and m["role"] == "admin"
                                   for m in info["members_with_roles"]))))
    seen.append(("team/info unknown", kind(b.call("GET", "/team/info", params={
        "team_id": "nope-" + team}))))
    seen.append(("team/delete", kind(b.call("POST", "/team/delete", json={"team_ids": [team]}))))
    seen.append(("team/delete again", kind(b.call("POST", "/team/delete", json={
        "team_ids": [team]}), 16)))

    for duration in ("2mo", "0d", "weekly", "1mo", "2w"):
        seen.append((f"budget_duration {duration}", kind(b.call("POST", "/key/generate", json={
            "budget_duration": duration}), 30)))

    seen.append(("key/block", kind(b.call("POST", "/key/block", json={"key": key}))))
    seen.append(("chat blocked", kind(b.chat(key))))
    seen.append(("key/delete", kind(b.call("POST", "/key/delete", json={"keys": [key]}))))
    deleted = b.call("GET", "/key/info", params={"key": key})
    seen.append(("key/info deleted", (kind(deleted), deleted.json()["info"].get("status"))))
    seen.append(("chat deleted", kind(b.chat(key), 60)))
    seen.append(("key/delete again", kind(b.call("POST", "/key/delete", json={
        "keys": [key]}), 30)))
    seen.append(("no key", kind(requests.get(b.url + "/key/list", timeout=30), 60)))
    return seen


def test_simulator_answers_like_the_real_litellm(litellm_sim):
    sim_models = [m["model_name"] for m in requests.get(
        f"{litellm_sim.url}/model/info", timeout=10,
        headers={"Authorization": f"Bearer {litellm_sim.master_key}"}).json()["data"]]
    simulated = scenario(Backend(litellm_sim.url, litellm_sim.master_key, *sim_models[:2]))
    real = scenario(Backend(REAL_URL, MASTER_KEY, CHAT, MOCK))

    differences = [(label, {"simulator": ours, "litellm": theirs})
                   for (label, ours), (_, theirs) in zip(simulated, real, strict=True)
                   if ours != theirs]
    assert differences == [], "\n".join(f"{label}: {sides}" for label, sides in differences)


# -- model management (STORE_MODEL_IN_DB) -----------------------------------------------------


def model_scenario(b: Backend, upstream: str, upstream_key: str, upstream_model: str,
                   config_model_id: str) -> list[tuple[str, Any]]:
    """/model/new, PATCH /model/{id}/update, /model/delete and /health/test_connection as
    POST /admin/models and its test use them."""
    seen: list[tuple[str, Any]] = []
    name = f"contract-{uuid.uuid4().hex[:8]}"
    secret = "provider-secret-" + uuid.uuid4().hex
    made = b.call("POST", "/model/new", json={
        "model_name": name, "litellm_params": {
            "model": "openai/fake-chat", "api_base": upstream, "api_key": secret,
            "custom_llm_provider": "openai", "input_cost_per_token": 0.000001,
            "output_cost_per_token": 0.000002, "tpm": 1000, "rpm": 100},
        "model_info": {"db_model": True, "max_tokens": 1024, "supports_vision": False}})
    body = made.json()
    model_id = body.get("model_id")
    seen.append(("model/new", (kind(made), sorted(body), body["model_info"]["id"] == model_id,
                               body["model_info"]["db_model"], secret not in made.text,
                               body["litellm_params"]["rpm"])))
    listed = [m for m in b.call("GET", "/model/info").json()["data"]
              if m["model_name"] == name]
    seen.append(("model/info lists it", (len(listed), listed[0]["model_info"]["id"] == model_id,
                                         listed[0]["litellm_params"]["api_base"] == upstream,
                                         "api_key" in listed[0]["litellm_params"],
                                         secret not in str(listed))))
    patched = b.call("PATCH", f"/model/{model_id}/update",
                     json={"litellm_params": {"rpm": 50}, "model_info": {"max_tokens": 2048}})
    seen.append(("model/update", (kind(patched), patched.json()["model_id"] == model_id,
                                  patched.json()["litellm_params"]["rpm"])))
    listed = [m for m in b.call("GET", "/model/info").json()["data"] if m["model_name"] == name]
    seen.append(("model/info after update", (listed[0]["litellm_params"]["rpm"],
                                             listed[0]["model_info"]["max_tokens"])))
    seen.append(("model/update unknown", kind(b.call(
        "PATCH", "/model/nope-123/update", json={"litellm_params": {"rpm": 5}}), 40)))
    seen.append(("model/update config model", kind(b.call(
        "PATCH", f"/model/{config_model_id}/update", json={"litellm_params": {"rpm": 5}}), 40)))

    def probe(api_base: str, key: str, model: str = "openai/fake-chat") -> tuple:
        answer = b.call("POST", "/health/test_connection", json={
            "mode": "chat", "litellm_params": {"model": model, "api_base": api_base,
                                               "api_key": key}})
        result = answer.json().get("result") or {}
        return (kind(answer), answer.json().get("status"),
                str(result.get("error", ""))[:28], result.get("api_base") == api_base)

    seen.append(("test_connection ok", probe(upstream, upstream_key, upstream_model)))
    seen.append(("test_connection bad key", probe(b.url + "/v1", "sk-wrong-key",
                                                  f"openai/{b.model}")))
    seen.append(("test_connection refused", probe("http://127.0.0.1:9/v1", "k")))
    seen.append(("test_connection no model", kind(b.call(
        "POST", "/health/test_connection", json={"litellm_params": {}}), 40)))
    gone = b.call("POST", "/model/delete", json={"id": model_id})
    seen.append(("model/delete", (kind(gone), gone.json().get("message", "")[:6])))
    seen.append(("model/info after delete", [m for m in b.call("GET", "/model/info").json()[
        "data"] if m["model_name"] == name]))
    seen.append(("model/delete again", kind(b.call("POST", "/model/delete",
                                                    json={"id": model_id}), 22)))
    return seen


def _config_model_id(url: str, key: str, name: str) -> str:
    models = requests.get(f"{url}/model/info", timeout=10,
                          headers={"Authorization": f"Bearer {key}"}).json()["data"]
    return next(m["model_info"]["id"] for m in models if m["model_name"] == name)


def test_simulator_manages_models_like_the_real_litellm(litellm_sim):
    import os

    sim_model = requests.get(f"{litellm_sim.url}/model/info", timeout=10, headers={
        "Authorization": f"Bearer {litellm_sim.master_key}"}).json()["data"][0]["model_name"]
    simulated = model_scenario(
        Backend(litellm_sim.url, litellm_sim.master_key, sim_model, sim_model),
        litellm_sim.url + "/v1", litellm_sim.master_key, f"openai/{sim_model}",
        _config_model_id(litellm_sim.url, litellm_sim.master_key, sim_model))
    fake = f"http://127.0.0.1:{os.environ.get('FAKE_PORT', '4012')}/v1"
    real = model_scenario(Backend(REAL_URL, MASTER_KEY, CHAT, CHAT), fake, "sk-fake-upstream",
                          "openai/fake-chat", _config_model_id(REAL_URL, MASTER_KEY, CHAT))
    differences = [(label, {"simulator": ours, "litellm": theirs})
                   for (label, ours), (_, theirs) in zip(simulated, real, strict=True)
                   if ours != theirs]
    assert differences == [], "\n".join(f"{label}: {sides}" for label, sides in differences)
