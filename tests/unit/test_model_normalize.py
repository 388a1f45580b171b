"""The normaliser against every real LiteLLM 1.106 /model/info capture, and its edge cases."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from app.services.model_normalize import (
    HASHED_FIELDS,
    NORMALIZER_VERSION,
    MalformedEntry,
    NormalizedModel,
    content_hash,
    normalize_entry,
    normalize_payload,
    payload_fingerprint,
    sanitize_params,
)

SHARED = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "litellm" / "model_info.json"
BUNDLED = Path(__file__).resolve().parents[2] / "litellm_sim" / "fixtures" / "model_info.json"
FIXTURE = SHARED if SHARED.is_file() else BUNDLED
ENTRIES = json.loads(FIXTURE.read_text())["data"]
BY_NAME = {entry["model_name"]: entry for entry in ENTRIES}


def entry(name: str) -> dict:
    return copy.deepcopy(BY_NAME[name])


def test_every_captured_model_normalises():
    payload = normalize_payload(copy.deepcopy(ENTRIES))
    assert payload.rejected == []
    assert [m.id for m in payload.models] == list(BY_NAME)  # in LiteLLM's order
    for model in payload.models:
        raw = BY_NAME[model.id]
        assert model.provider == raw["model_info"]["litellm_provider"]
        assert model.litellm_model_id == raw["model_info"]["id"]
        assert model.backend_model and model.backend_model in raw["litellm_params"]["model"]
        assert list(model.features) == sorted(set(model.features))
        assert len(model.content_hash) == 64
        for cost in (model.input_cost_per_token, model.output_cost_per_token):
            assert cost is None or (isinstance(cost, float) and cost >= 0)
        info = model.litellm_info()
        assert None not in info["model_info"].values()
        assert info["model_info"]["id"] == model.litellm_model_id
        json.dumps(info)  # storable as JSONB


def test_gpt_4o_is_a_priced_vision_chat_model():
    model = normalize_entry(entry("gpt-4o"))
    assert (model.id, model.provider, model.backend_model, model.mode) == (
        "gpt-4o", "openai", "gpt-4o", "chat")
    assert (model.context_length, model.max_output_tokens) == (128000, 16384)
    assert (model.input_cost_per_token, model.output_cost_per_token) == (2.5e-06, 1e-05)
    assert model.supports_vision and model.supports_function_calling
    assert model.supports_parallel_function_calling and model.supports_tool_choice
    assert model.supports_response_schema and not model.supports_reasoning
    assert model.features == (
        "chat", "function_calling", "parallel_function_calling", "pdf_input", "prompt_caching",
        "response_schema", "system_messages", "tool_choice", "vision")


def test_model_without_known_metadata_keeps_nulls_and_is_chat():
    model = normalize_entry(entry("claude-3-5-sonnet-20240620"))
    assert (model.provider, model.mode, model.context_length, model.max_output_tokens) == (
        "anthropic", None, None, None)
    assert (model.input_cost_per_token, model.output_cost_per_token) == (None, None)
    assert model.features == ("chat",)
    assert not any((model.supports_vision, model.supports_function_calling))


def test_embedding_model_context_and_zero_output_price():
    model = normalize_entry(entry("text-embedding-3-small"))
    assert (model.mode, model.context_length, model.max_output_tokens) == (
        "embedding", 8191, None)
    assert model.output_cost_per_token == 0
    assert model.features == ("embeddings",)


def test_bedrock_id_with_dots_and_colon():
    model = normalize_entry(entry("anthropic.claude-3-sonnet-20240229-v1:0"))
    assert model.id == "anthropic.claude-3-sonnet-20240229-v1:0"
    assert (model.provider, model.backend_model) == (
        "bedrock", "anthropic.claude-3-sonnet-20240229-v1:0")


def test_self_hosted_model_from_config_model_info():
    model = normalize_entry(entry("Llama-3.1-8B-Instruct"))
    assert model.provider == "hosted_vllm"
    assert model.backend_model == "meta-llama/Llama-3.1-8B-Instruct"
    assert model.context_length == 8192  # only max_tokens is known
    assert model.input_cost_per_token == 1e-07
    assert model.features == ("chat", "function_calling")
    assert model.api_base == "http://127.0.0.1:9/v1"
    assert model.description == "self-hosted"


def test_provider_falls_back_to_custom_provider_then_model_prefix():
    raw = entry("gpt-4o")
    raw["model_info"]["litellm_provider"] = None
    raw["litellm_params"]["custom_llm_provider"] = "Azure"
    assert normalize_entry(raw).provider == "azure"
    del raw["litellm_params"]["custom_llm_provider"]
    raw["litellm_params"]["model"] = "groq/llama3"
    assert normalize_entry(raw).provider == "groq"
    raw["litellm_params"]["model"] = "llama3"
    assert normalize_entry(raw).provider == "unknown"


def test_costs_fall_back_to_litellm_params_and_accept_numeric_strings():
    raw = {"model_name": "m", "model_info": {"input_cost_per_token": None},
           "litellm_params": {"model": "openai/m", "input_cost_per_token": "0.000002",
                              "output_cost_per_token": 3e-06}}
    model = normalize_entry(raw)
    assert (model.input_cost_per_token, model.output_cost_per_token) == (2e-06, 3e-06)


def test_minimal_entry_with_nulls_and_unknown_fields_is_accepted():
    model = normalize_entry({"model_name": "tiny", "model_info": None, "litellm_params": None,
                             "brand_new_field": [1, 2]})
    assert (model.id, model.provider, model.litellm_model_id, model.features) == (
        "tiny", "unknown", None, ("chat",))


@pytest.mark.parametrize(("change", "message"), [
    (lambda e: e.pop("model_name"), "model_name"),
    (lambda e: e.update(model_name=" padded "), "model_name"),
    (lambda e: e.update(model_name="x" * 256), "model_name"),
    (lambda e: e.update(model_info=[1]), "model_info is not an object"),
    (lambda e: e.update(litellm_params="openai/x"), "litellm_params is not an object"),
    (lambda e: e["model_info"].update(max_input_tokens="many"), "max_input_tokens"),
    (lambda e: e["model_info"].update(max_output_tokens=-1), "max_output_tokens"),
    (lambda e: e["model_info"].update(max_tokens=1.5), "max_tokens"),
    (lambda e: e["model_info"].update(max_tokens=True), "max_tokens"),
    (lambda e: e["model_info"].update(input_cost_per_token=-0.1), "input_cost_per_token"),
    (lambda e: e["model_info"].update(output_cost_per_token=float("nan")),
     "output_cost_per_token"),
    (lambda e: e["model_info"].update(input_cost_per_token=1e13), "input_cost_per_token"),
    (lambda e: e["model_info"].update(litellm_provider=7), "litellm_provider"),
    (lambda e: e["model_info"].update(mode={"chat": True}), "mode"),
])
def test_malformed_fields_reject_the_entry(change, message):
    raw = entry("gpt-4o")
    change(raw)
    with pytest.raises(MalformedEntry, match=message):
        normalize_entry(raw)


def test_payload_rejects_bad_entries_individually_and_later_duplicates():
    bad = entry("gpt-4o-mini")
    bad["model_info"]["max_input_tokens"] = "lots"
    second = entry("gpt-4o")
    second["litellm_params"]["model"] = "azure/gpt-4o"
    payload = normalize_payload([entry("gpt-4o"), 42, bad, second, {"no": "name"}])
    assert [m.id for m in payload.models] == ["gpt-4o"]
    assert payload.models[0].provider == "openai"
    assert [(r.index, r.model) for r in payload.rejected] == [
        (1, None), (2, "gpt-4o-mini"), (3, "gpt-4o"), (4, None)]
    assert "duplicate" in payload.rejected[2].error
    assert payload.rejected_names == {"gpt-4o-mini", "gpt-4o"}


def test_hashes_are_deterministic_and_sensitive_to_normalised_fields_only():
    first, again = normalize_entry(entry("gpt-4o")), normalize_entry(entry("gpt-4o"))
    assert first.content_hash == again.content_hash
    cosmetic = entry("gpt-4o")
    cosmetic["model_info"]["some_new_litellm_field"] = "x"
    cosmetic["model_info"]["description"] = "not ours to sync"
    assert normalize_entry(cosmetic).content_hash == first.content_hash
    for field, value in (("input_cost_per_token", 3e-06), ("max_input_tokens", 1000),
                         ("supports_vision", False), ("mode", "completion")):
        changed = entry("gpt-4o")
        changed["model_info"][field] = value
        assert normalize_entry(changed).content_hash != first.content_hash, field


def test_content_hash_is_sha256_of_canonical_json_in_field_order():
    model = normalize_entry(entry("granite-3-8b-instruct"))
    values = [getattr(model, name) for name in HASHED_FIELDS]
    canonical = json.dumps([NORMALIZER_VERSION, *values], separators=(",", ":"))
    assert model.content_hash == hashlib.sha256(canonical.encode()).hexdigest()
    assert canonical.startswith('[1,"granite-3-8b-instruct","openai",')
    assert content_hash(tuple(values)) == model.content_hash
    slots = [f.name for f in dataclasses.fields(NormalizedModel)]
    assert tuple(slots[:len(HASHED_FIELDS)]) == HASHED_FIELDS


def test_fingerprint_is_equal_for_an_equal_payload_and_differs_on_change():
    text = FIXTURE.read_text()
    assert payload_fingerprint(json.loads(text)["data"]) == payload_fingerprint(
        json.loads(text)["data"])
    changed = json.loads(text)["data"]
    changed[0]["model_info"]["max_tokens"] = 1
    assert payload_fingerprint(changed) != payload_fingerprint(json.loads(text)["data"])


def test_credentials_never_reach_the_stored_copy():
    raw = entry("gpt-4o")
    raw["litellm_params"].update(api_key="sk-secret-value", aws_secret_access_key="s",
                                 vertex_credentials="{}", extra_headers={"Authorization": "x"},
                                 api_base="https://example", some_param="sk-also-secret")
    stored = normalize_entry(raw).litellm_info()["litellm_params"]
    assert "api_base" in stored and "model" in stored
    for name in ("api_key", "aws_secret_access_key", "vertex_credentials", "extra_headers",
                 "some_param"):
        assert name not in stored
    assert sanitize_params({"tpm": None, "rpm": 5}) == {"rpm": 5}
