"""Streamed decoding of {"data": [objects]} answers: any chunking gives the whole answer's
objects without their null fields; malformed or truncated bodies are refused."""

from __future__ import annotations

import json

import pytest

from app.litellm.stream import MalformedBody, data_items

ENTRIES = [
    {"model_name": "gpt-4o", "model_info": {"id": "a", "max_tokens": 4096, "mode": None,
                                             "supports_vision": True, "nested": {"x": None}},
     "litellm_params": {"model": "openai/gpt-4o", "api_base": None}},
    {"model_name": "zéro-ü-模型", "model_info": {"input_cost_per_token": 2.5e-06, "tags": [None]},
     "litellm_params": {}},
    {"model_name": "третий", "model_info": None, "litellm_params": {"rpm": 10}},
]
WITHOUT_NULLS = [
    {"model_name": "gpt-4o", "model_info": {"id": "a", "max_tokens": 4096,
                                             "supports_vision": True, "nested": {}},
     "litellm_params": {"model": "openai/gpt-4o"}},
    {"model_name": "zéro-ü-模型", "model_info": {"input_cost_per_token": 2.5e-06, "tags": [None]},
     "litellm_params": {}},
    {"model_name": "третий", "litellm_params": {"rpm": 10}},
]


def chunked(body: bytes, size: int) -> list[bytes]:
    return [body[i:i + size] for i in range(0, len(body), size)]


@pytest.mark.parametrize("indent", [None, 2])
def test_every_chunking_gives_the_same_objects_without_nulls(indent):
    body = json.dumps({"data": ENTRIES}, indent=indent, ensure_ascii=False).encode()
    for size in (1, 2, 3, 5, 7, 16, 64, len(body)):  # splits inside keys, numbers, UTF-8
        assert data_items(chunked(body, size)) == WITHOUT_NULLS, size


def test_an_empty_list_and_trailing_members_are_accepted():
    assert data_items([b'{"data": []}']) == []
    body = json.dumps({"data": ENTRIES, "total": 3, "next": None}).encode()
    assert data_items(chunked(body, 10)) == WITHOUT_NULLS


def test_other_member_orders_are_read_whole():
    body = json.dumps({"object": "list", "data": ENTRIES}).encode()
    assert data_items(chunked(body, 9)) == WITHOUT_NULLS


@pytest.mark.parametrize("body", [
    b'{"data": [{"model_name": "gpt-4o", <!-- truncated',
    b'{"data": [{"model_name": "a"}, {"model_name": "b"}',
    b'{"data": [{"model_name": "a"} {"model_name": "b"}]}',
    b'{"data": [{"model_name": "a"}, 5]}',
    b'{"data": [{"model_name": "a"}]',
    b'{"data": [{"model_name": "a"}] garbage',
    b'{"data": [{"model_name": "a"}], "x": }',
    b'{"models": "not a list"}',
    b'{"data": "not a list"}',
    b'not json at all',
    b'',
    '{"data": [{"model_name": "\u00e9"}]}'.encode("latin-1"),
])
def test_malformed_truncated_or_misshapen_bodies_are_refused(body):
    with pytest.raises(MalformedBody):
        data_items(chunked(body, 4) or [b""])


def _reference(body: bytes) -> list[dict]:
    """What the standard library makes of the body, nulls dropped at every depth."""
    return json.loads(body, object_pairs_hook=lambda pairs: {
        key: value for key, value in pairs if value is not None})["data"]


def _catalogue(count: int) -> list[dict]:
    """Entries shaped like LiteLLM's, with what the fast path must hand over or learn: a field
    that appears late, keys that are not identifiers, objects nested in lists (so ``}, {``
    inside an entry), nulls in nested objects and lists, a string holding ``}, {``."""
    entries = []
    for n in range(count):
        info = {"id": f"id-{n}", "max_tokens": 1000 + n, "mode": None if n % 3 else "chat",
                "input_cost_per_token": n * 1e-07, "supports_vision": n % 2 == 0,
                "tiered_pricing": [{"range": [0, 128]}, {"range": [128, 256]}],
                "supported_openai_params": ["tools", "seed"], "pricing_overrides": []}
        info.update({f"unused_{k}": None for k in range(40)})
        if n > count // 2:
            info["added_later"] = {"value": n, "gone": None} if n % 5 == 0 else n
        if n % 7 == 0:
            info["tags"] = [None, {"a": None, "b": [1, None]}]
        params = {"model": f"openai/m-{n}", "api_base": None, "odd key-é": n,
                  "note": 'a "quoted" }, { string'}
        entries.append({"model_name": f"model-{n}", "litellm_params": params,
                        "model_info": info})
    return entries


@pytest.mark.parametrize("separators", [(",", ":"), (", ", ": ")])
@pytest.mark.parametrize("size", [997, 4096, 65536])
def test_long_answers_give_what_the_standard_library_gives(separators, size):
    body = json.dumps({"data": _catalogue(400)}, separators=separators,
                      ensure_ascii=False).encode()
    expected = _reference(body)
    assert data_items(chunked(body, size)) == expected
    assert data_items(chunked(body, size)) == expected  # with the field names learned


def test_json_msgspec_refuses_is_read_by_the_standard_library():
    body = json.dumps({"data": _catalogue(200)}, separators=(",", ":")).encode()
    body = body.replace(b'"max_tokens":1100,', b'"max_tokens":NaN,', 1)
    items = data_items(chunked(body, 2048))
    assert items[100]["model_info"]["max_tokens"] != items[100]["model_info"]["max_tokens"]
    assert items[:100] == _reference(body)[:100] and items[101:] == _reference(body)[101:]


@pytest.mark.parametrize("damage", [
    (b'"model_name":"model-150",', b'"model_name":"model-150" '),  # a missing comma
    (b'{"model_name":"model-150"', b'5,{"model_name":"model-150"'),  # an item not an object
    (b'"max_tokens":1150', b'"max_tokens":1150}'),  # a stray brace
])
def test_damage_in_the_middle_of_a_long_answer_is_refused(damage):
    body = json.dumps({"data": _catalogue(300)}, separators=(",", ":")).encode()
    assert damage[0] in body
    with pytest.raises(MalformedBody):
        data_items(chunked(body.replace(*damage), 4096))
