"""Helpers shared by the subscription, API key, provisioning and reconcile tests."""

from __future__ import annotations

import hashlib
import json

import requests

from app.extensions import db
from app.litellm import LiteLLMClient
from app.models import Model


def seed_models(app, sim, restricted: tuple[str, ...] = (), count: int = 5) -> list[str]:
    """Copy the simulator's first ``count`` models into the catalogue (as a sync would)."""
    with app.app_context():
        with LiteLLMClient(sim.url, sim.master_key) as client:
            entries = client.model_info()[:count]
        for entry in entries:
            name = entry["model_name"]
            info = entry["model_info"]
            db.session.add(Model(
                id=name, provider=info.get("litellm_provider") or "openai",
                input_cost_per_token=info.get("input_cost_per_token"),
                output_cost_per_token=info.get("output_cost_per_token"),
                context_length=info.get("max_input_tokens"), restricted=name in restricted,
                content_hash=hashlib.sha256(json.dumps(entry, sort_keys=True).encode())
                .hexdigest(), litellm_info=entry))
        db.session.commit()
        ids = [entry["model_name"] for entry in entries]
        db.session.remove()
    return ids


def user_id(client, headers) -> str:
    return client.get("/api/v1/auth/me", headers=headers).get_json()["id"]


def subscribe(client, headers, model_id: str) -> dict:
    response = client.post("/api/v1/subscriptions", json={"modelId": model_id}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def create_key(client, headers, model_ids: list[str], expect: int = 201, **fields) -> dict:
    body = {"name": fields.pop("name", "my key"), "modelIds": model_ids, **fields}
    response = client.post("/api/v1/api-keys", json=body, headers=headers)
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def chat(sim, key: str, model: str) -> requests.Response:
    """One chat completion against the simulator with a virtual key."""
    return requests.post(f"{sim.url}/v1/chat/completions", timeout=10,
                         headers={"Authorization": f"Bearer {key}"},
                         json={"model": model, "messages": [{"role": "user", "content": "hi"}]})


def sim_key(sim, raw_or_token: str) -> dict | None:
    """The live key row the simulator holds, by raw key or token."""
    token = (hashlib.sha256(raw_or_token.encode()).hexdigest()
             if raw_or_token.startswith("sk-") else raw_or_token)
    with sim.state.lock:
        row = sim.state.keys.get(token)
        return dict(row) if row else None


def sim_calls(sim, path: str) -> list[dict]:
    with sim.state.lock:
        return [call for call in sim.state.calls if call["path"] == path]
