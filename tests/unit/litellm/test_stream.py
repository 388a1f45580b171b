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
