"""The simulated model list, generated from the 12 captured ``/model/info`` entries.

Up to 12 models are the captures as they are. Beyond that, each extra model is a deterministic
(by seed) clone of a capture named ``<template>-v<index>`` with its own ``model_info.id``, prices
and context window. Mutations and removals are deterministic too.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import random
from functools import cache
from pathlib import Path
from typing import Any

BUNDLED_FIXTURES = Path(__file__).with_name("fixtures")
SHARED_FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "litellm"

_PRICE_FACTORS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0)
_BASE_INPUT_PRICES = (1e-07, 2.5e-07, 5e-07, 1e-06, 3e-06)
_CONTEXT_WINDOWS = (8192, 32768, 65536, 128000, 200000)
_OUTPUT_LIMITS = (4096, 8192, 16384)
_PRICED_FIELDS = ["input_cost_per_token", "output_cost_per_token"]


def fixture_path(name: str) -> Path:
    """``$LITELLM_FIXTURES_DIR`` when set, else the copy shipped in the package, else shared/."""
    override = os.environ.get("LITELLM_FIXTURES_DIR")
    candidates = [Path(override)] if override else []
    for folder in [*candidates, BUNDLED_FIXTURES, SHARED_FIXTURES]:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"LiteLLM fixture {name} not found")


@cache
def _fixture_text(name: str) -> str:
    return fixture_path(name).read_text()


def load_fixture(name: str) -> Any:
    """A fresh copy of a fixture file's JSON (callers may change it)."""
    return json.loads(_fixture_text(name))


def build_models(count: int, seed: int) -> list[dict]:
    """``count`` ``/model/info`` entries; the same (count, seed) always gives the same list."""
    templates = load_fixture("model_info.json")["data"]
    models = templates[:count]
    rng = random.Random(seed)
    for index in range(len(templates), count):
        models.append(_clone(copy.deepcopy(rng.choice(templates)), index, seed, rng))
    return models


def _clone(model: dict, index: int, seed: int, rng: random.Random) -> dict:
    name = f"{model['model_name']}-v{index}"
    model["model_name"] = name
    info = model["model_info"]
    info["id"] = hashlib.sha256(f"litellm-sim:{seed}:{name}".encode()).hexdigest()
    input_cost = info["input_cost_per_token"] or rng.choice(_BASE_INPUT_PRICES)
    output_cost = info["output_cost_per_token"]
    if output_cost is None:
        output_cost = input_cost * rng.choice((2, 3, 4))
    factor = rng.choice(_PRICE_FACTORS)
    info["input_cost_per_token"] = _price(input_cost * factor)
    info["output_cost_per_token"] = _price(output_cost * factor)
    info["pricing_overrides"] = list(_PRICED_FIELDS)
    _set_context(info, rng.choice(_CONTEXT_WINDOWS), rng.choice(_OUTPUT_LIMITS))
    return model


def _set_context(info: dict, context: int, output_limit: int) -> None:
    if info.get("mode") == "embedding":
        info["max_tokens"] = info["max_input_tokens"] = context
        return
    info["max_tokens"] = output_limit
    if info.get("max_input_tokens") is not None:
        info["max_input_tokens"] = context
    if info.get("max_output_tokens") is not None:
        info["max_output_tokens"] = output_limit


def _price(value: float) -> float:
    return float(f"{value:.3g}")


def template_name(model_name: str) -> str:
    """The capture a model was cloned from (the model itself for a capture)."""
    base, _, suffix = model_name.rpartition("-v")
    return base if base and suffix.isdigit() else model_name


def mutate_one(info: dict, rng: random.Random) -> str:
    """Change one price or the context of a model; returns the field changed."""
    if rng.random() < 0.5:
        cost = info.get("input_cost_per_token")
        info["input_cost_per_token"] = _price(cost * 1.25) if cost else 1e-07
        return "input_cost_per_token"
    info["max_tokens"] = (info.get("max_tokens") or 4096) * 2
    if info.get("max_input_tokens") is not None:
        info["max_input_tokens"] = info["max_input_tokens"] * 2
    return "max_tokens"


class ModelCatalog:
    """The models LiteLLM would serve: generated entries minus removed names. Not thread-safe:
    the simulator state calls it under its lock."""

    def __init__(self, count: int, seed: int) -> None:
        self.count = count
        self.seed = seed
        self.models = build_models(count, seed)
        self.removed: set[str] = set()
        self._mutation_round = 0
        self._model_info_bytes: bytes | None = None

    def visible(self) -> list[dict]:
        return [model for model in self.models if model["model_name"] not in self.removed]

    def find(self, name: str) -> dict | None:
        return next((m for m in self.visible() if m["model_name"] == name), None)

    def model_info_bytes(self) -> bytes:
        """The ``/model/info`` body, cached so the same state answers byte-identical JSON."""
        if self._model_info_bytes is None:
            # private bookkeeping ("_secret": the provider key of a /model/new) never shows
            payload = {"data": [{k: v for k, v in m.items() if not k.startswith("_")}
                                for m in self.visible()]}
            self._model_info_bytes = json.dumps(payload, separators=(",", ":")).encode()
        return self._model_info_bytes

    def v1_models(self) -> dict:
        templates = {entry["id"]: entry for entry in load_fixture("v1_models.json")["data"]}
        return {"data": [_v1_entry(m, templates) for m in self.visible()], "object": "list"}

    def mutate(self, percent: float) -> list[str]:
        """Change a price or the context of ``round(count * percent / 100)`` models."""
        share = round(len(self.models) * percent / 100)
        self._mutation_round += 1
        rng = random.Random(f"{self.seed}:mutate:{self._mutation_round}")
        chosen = rng.sample(self.models, min(share, len(self.models)))
        for model in chosen:
            mutate_one(model["model_info"], rng)
        self._model_info_bytes = None
        return sorted(model["model_name"] for model in chosen)

    def add(self, entry: dict) -> None:
        """A model added by ``/model/new`` (LiteLLM keeps it in its database)."""
        self.models.append(entry)
        self._model_info_bytes = None

    def by_id(self, model_id: str) -> dict | None:
        return next((m for m in self.models if m["model_info"].get("id") == model_id), None)

    def drop(self, model_id: str) -> dict | None:
        """Forget a model added by ``/model/new`` (``/model/delete``)."""
        model = self.by_id(model_id)
        if model is not None:
            self.models.remove(model)
            self._model_info_bytes = None
        return model

    def changed(self) -> None:
        self._model_info_bytes = None

    def remove(self, names: list[str]) -> list[str]:
        known = {m["model_name"] for m in self.models} & set(names)
        self.removed |= known
        self._model_info_bytes = None
        return sorted(known)

    def restore(self, names: list[str]) -> list[str]:
        restored = self.removed & set(names)
        self.removed -= restored
        self._model_info_bytes = None
        return sorted(restored)


def _v1_entry(model: dict, templates: dict[str, dict]) -> dict:
    name = model["model_name"]
    entry = copy.deepcopy(templates.get(template_name(name)) or _default_v1_entry())
    entry["id"] = name
    info = model["model_info"]
    for field in ("max_input_tokens", "max_output_tokens"):
        if field in entry:
            entry[field] = info.get(field)
    return entry


def _default_v1_entry() -> dict:
    return {"id": "", "object": "model", "created": 1677610602, "owned_by": "openai"}
