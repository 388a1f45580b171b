"""Pure normalisation of LiteLLM ``/model/info`` entries into catalogue rows (no I/O).

``normalize_payload(entries)`` turns the ``data`` list into ``NormalizedModel`` values, each with
a content hash (sha256 of the canonical JSON of its normalised fields), plus the entries it
rejected (malformed, or a later deployment of a name already seen). ``payload_fingerprint``
hashes the list as received, before any of that, so an unchanged answer costs almost nothing.
Nulls, missing and unknown fields are tolerated; a wrong type or an impossible value in a field
we use rejects that one entry, never the payload.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

# Bump when the normalised fields or their derivation change: every model then hashes anew and
# the next sync rewrites each row once.
NORMALIZER_VERSION = 1

# The normalised fields, in the order their values enter the content hash.
HASHED_FIELDS = (
    "id", "provider", "litellm_model_id", "backend_model", "mode", "context_length",
    "max_output_tokens", "input_cost_per_token", "output_cost_per_token", "supports_vision",
    "supports_function_calling", "supports_parallel_function_calling", "supports_tool_choice",
    "supports_response_schema", "supports_reasoning", "features", "api_base", "tpm", "rpm",
)

MAX_ID_LENGTH = 255
MAX_PROVIDER_LENGTH = 64
MAX_MODE_LENGTH = 32
MAX_INT = 2**31 - 1
# models.*_cost_per_token is NUMERIC(24, 12): 12 digits each side of the point.
MAX_COST = 1e12

COLUMN_FLAGS = (
    "supports_vision",
    "supports_function_calling",
    "supports_parallel_function_calling",
    "supports_tool_choice",
    "supports_response_schema",
    "supports_reasoning",
)
# LiteLLM's names for the same capability; the feature list uses the left-hand name.
FEATURE_ALIASES = {"embedding": "embeddings"}
MODE_FEATURES = {"embedding": "embeddings"}
# LiteLLM treats a deployment without ``mode`` as a chat model (health checks, routing).
DEFAULT_MODE_FEATURE = "chat"

_SECRET_PARAM = re.compile(
    r"(api_key|secret|password|credential|access_key|session_token|ad_token|auth|headers)", re.I
)
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


class MalformedEntry(ValueError):
    """One ``/model/info`` entry cannot be used; the message says which field and why."""


@dataclass(slots=True)  # not frozen: frozen pays object.__setattr__ per field, 10,000x a run
class NormalizedModel:
    """A catalogue row as LiteLLM describes it (sync-owned fields, in ``HASHED_FIELDS`` order,
    then the hash and the stored copy of the entry)."""

    id: str
    provider: str
    litellm_model_id: str | None
    backend_model: str | None
    mode: str | None
    context_length: int | None
    max_output_tokens: int | None
    input_cost_per_token: float | None
    output_cost_per_token: float | None
    supports_vision: bool
    supports_function_calling: bool
    supports_parallel_function_calling: bool
    supports_tool_choice: bool
    supports_response_schema: bool
    supports_reasoning: bool
    features: tuple[str, ...]
    api_base: str | None
    tpm: int | None
    rpm: int | None
    content_hash: str
    # The entry as received minus nulls (most of LiteLLM's ~180 model_info fields) and minus
    # anything that may hold a credential: what ``models.litellm_info`` keeps.
    info: dict[str, Any] = field(repr=False, compare=False)
    params: dict[str, Any] = field(repr=False, compare=False)

    def litellm_info(self) -> dict[str, Any]:
        return {"model_info": self.info, "litellm_params": self.params}

    @property
    def description(self) -> str | None:
        """LiteLLM's own description (``model_info.description``), used only on first insert."""
        value = self.info.get("description")
        return value if isinstance(value, str) and value.strip() else None


@dataclass(frozen=True, slots=True)
class RejectedEntry:
    index: int
    model: str | None
    error: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "model": self.model, "error": self.error}


@dataclass(frozen=True, slots=True)
class NormalizedPayload:
    models: list[NormalizedModel]
    rejected: list[RejectedEntry]

    @property
    def rejected_names(self) -> set[str]:
        """Names LiteLLM still lists, though their entry was refused (never marked unavailable)."""
        return {r.model for r in self.rejected if r.model}


def normalize_payload(entries: Iterable[Any]) -> NormalizedPayload:
    """Normalise every entry; duplicates after the first deployment of a name are rejected."""
    models: list[NormalizedModel] = []
    rejected: list[RejectedEntry] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        name = _model_name_or_none(entry)
        try:
            model = normalize_entry(entry)
        except MalformedEntry as exc:
            rejected.append(RejectedEntry(index, name, str(exc)))
            continue
        if model.id in seen:
            rejected.append(RejectedEntry(
                index, model.id, "duplicate model_name: only the first deployment is kept"))
            continue
        seen.add(model.id)
        models.append(model)
    return NormalizedPayload(models, rejected)


def normalize_entry(entry: Any) -> NormalizedModel:
    """One entry → ``NormalizedModel``; raises ``MalformedEntry`` naming the faulty field.

    Runs 10,000 times per sync: plain locals and fast paths for well-typed values (the
    general readers handle the rest)."""
    if not isinstance(entry, dict):
        raise MalformedEntry("entry is not an object")
    name = _model_name(entry.get("model_name"))
    # Nulls dropped first: the ~40 remaining fields are all there is to read and to store.
    info = _without_nulls(_object(entry, "model_info"))
    params = sanitize_params(_object(entry, "litellm_params"))
    backend = _optional_str(params, "model", "litellm_params.model", MAX_ID_LENGTH)
    mode = _optional_str(info, "mode", "model_info.mode", MAX_MODE_LENGTH)
    flags = tuple(_flag(info, flag) for flag in COLUMN_FLAGS)
    max_input = _optional_int(info, "max_input_tokens")
    max_tokens = _optional_int(info, "max_tokens")
    context = max_input if max_input is not None else max_tokens
    values = (
        name,
        _provider(info, params, backend),
        _optional_str(info, "id", "model_info.id", MAX_ID_LENGTH),
        (backend.partition("/")[2] or backend) if backend else None,
        mode,
        context,
        _optional_int(info, "max_output_tokens"),
        _cost(info, params, "input_cost_per_token"),
        _cost(info, params, "output_cost_per_token"),
        *flags,
        _features(info, params, mode, flags),
        _optional_str(params, "api_base", "litellm_params.api_base", 2048),
        _limit(params, info, "tpm"),
        _limit(params, info, "rpm"),
    )
    return NormalizedModel(*values, content_hash(values), info, params)


_encode_canonical = json.JSONEncoder(separators=(",", ":")).encode


def content_hash(values: tuple[Any, ...]) -> str:
    """sha256 of the canonical JSON of the normalised fields: a JSON array of the normaliser
    version and each value in ``HASHED_FIELDS`` order, no spaces (floats in Python's shortest
    round-trip form)."""
    canonical = _encode_canonical((NORMALIZER_VERSION, *values))
    return hashlib.sha256(canonical.encode()).hexdigest()


def sanitize_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """``litellm_params`` without nulls or anything that may hold a credential."""
    return {
        key: value for key, value in params.items()
        if value is not None and not _is_secret_param(key)
        and not (isinstance(value, str) and value.startswith("sk-"))
    }


@lru_cache(maxsize=4096)
def _is_secret_param(key: Any) -> bool:
    return bool(_SECRET_PARAM.search(str(key)))


# -- field readers ------------------------------------------------------------------------------


def _model_name_or_none(entry: Any) -> str | None:
    if isinstance(entry, Mapping):
        name = entry.get("model_name")
        if isinstance(name, str) and name.strip() and len(name) <= MAX_ID_LENGTH:
            return name
    return None


def _model_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise MalformedEntry("model_name is missing or not a non-empty string")
    if value != value.strip() or _CONTROL_CHARS.search(value):
        raise MalformedEntry("model_name has surrounding spaces or control characters")
    if len(value) > MAX_ID_LENGTH:
        raise MalformedEntry(f"model_name is longer than {MAX_ID_LENGTH} characters")
    return value


def _object(entry: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = entry.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedEntry(f"{key} is not an object")
    return value


def _without_nulls(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in mapping.items() if value is not None}


def _optional_str(source: Mapping[str, Any], key: str, label: str, max_length: int) -> str | None:
    value = source.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise MalformedEntry(f"{label} is not a string")
    if len(value) > max_length:
        raise MalformedEntry(f"{label} is longer than {max_length} characters")
    return value


def _optional_int(source: Mapping[str, Any], key: str, where: str = "model_info") -> int | None:
    value = source.get(key)
    if value is None:
        return None
    if type(value) is int and 0 <= value <= MAX_INT:
        return value
    number = _number(value, f"{where}.{key}")
    if number != int(number) or not 0 <= number <= MAX_INT:
        raise MalformedEntry(f"{where}.{key} is not a whole number between 0 and {MAX_INT}")
    return int(number)


def _number(value: Any, label: str) -> Decimal:
    if isinstance(value, bool):
        raise MalformedEntry(f"{label} is a boolean, not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise MalformedEntry(f"{label} is not a finite number")
    if isinstance(value, int | float):
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise MalformedEntry(f"{label} is not a number") from None
        if number.is_finite():
            return number
    raise MalformedEntry(f"{label} is not a number")


def _limit(params: Mapping[str, Any], info: Mapping[str, Any], key: str) -> int | None:
    value = _optional_int(params, key, "litellm_params")
    return value if value is not None else _optional_int(info, key)


def _cost(info: Mapping[str, Any], params: Mapping[str, Any], key: str) -> float | None:
    """A price per token as a float (what LiteLLM sends); the column keeps 12 decimals."""
    value, label = info.get(key), f"model_info.{key}"
    if value is None:
        value, label = params.get(key), f"litellm_params.{key}"
    if value is None:
        return None
    if type(value) is float and 0.0 <= value < MAX_COST:
        return value
    number = _number(value, label)
    if number < 0 or number >= MAX_COST:
        raise MalformedEntry(f"{label} is outside [0, {MAX_COST:.0e})")
    return float(number)


def _flag(source: Mapping[str, Any], key: str) -> bool:
    value = source.get(key)
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _provider(info: Mapping[str, Any], params: Mapping[str, Any], backend: str | None) -> str:
    for value, label in ((info.get("litellm_provider"), "model_info.litellm_provider"),
                         (params.get("custom_llm_provider"), "litellm_params.custom_llm_provider")):
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise MalformedEntry(f"{label} is not a string")
        return _provider_name(value, label)
    if backend and "/" in backend:
        return _provider_name(backend.partition("/")[0], "litellm_params.model")
    return "unknown"


def _provider_name(value: str, label: str) -> str:
    name = value.strip().lower()
    if not name or len(name) > MAX_PROVIDER_LENGTH or _CONTROL_CHARS.search(name):
        raise MalformedEntry(f"{label} is not a usable provider name")
    return name


_FEATURES_CACHE: dict[tuple, tuple[str, ...]] = {}


def _features(info: Mapping[str, Any], params: Mapping[str, Any], mode: str | None,
              flags: tuple[bool, ...]) -> tuple[str, ...]:
    """Sorted, de-duplicated: the mode's feature plus every ``supports_*`` flag that is true.

    Few distinct combinations exist in one payload, so the result is cached by the entry's
    true-valued keys."""
    key = (mode, flags, tuple(k for k, v in info.items() if v is True),
           tuple(k for k, v in params.items() if v is True))
    features = _FEATURES_CACHE.get(key)
    if features is None:
        if len(_FEATURES_CACHE) > 4096:
            _FEATURES_CACHE.clear()
        names = {MODE_FEATURES.get(mode, mode) if mode else DEFAULT_MODE_FEATURE}
        names.update(flag for flag, value in zip(COLUMN_FLAGS, flags, strict=True) if value)
        names.update(k for k in (*key[2], *key[3]) if isinstance(k, str)
                     and k.startswith("supports_"))
        features = tuple(sorted({FEATURE_ALIASES.get(n, n) for n in
                                 (f.removeprefix("supports_") for f in names)}))
        _FEATURES_CACHE[key] = features
    return features


def payload_fingerprint(entries: list[Any]) -> str:
    """A cheap hash of the ``/model/info`` list exactly as received (no normalisation).

    ``marshal`` serialises the parsed JSON in C, ~5x faster than normalising it; equal bytes
    mean an equal payload. The encoding can differ for an equal payload (it depends on how
    objects are shared in memory), which only costs a full diff that then writes nothing.
    """
    digest = hashlib.sha256(f"litemaas-model-info:v{NORMALIZER_VERSION}\n".encode())
    try:
        digest.update(marshal.dumps(entries, 4))
    except ValueError:  # not plain JSON data: let the full diff decide
        digest.update(os.urandom(16))
    return digest.hexdigest()
