"""Decode a ``{"data": [objects]}`` answer while it arrives, dropping null fields.

LiteLLM's ``/model/info`` for 10,000 models is ~70 MB of JSON, and ~160 of each entry's ~180
``model_info`` fields are null. Reading it whole held the body, its decoded text and the full
objects at once (~230 MB in a worker); decoding entry by entry from the socket, without the
nulls, holds ~35 MB. A null field and a missing one mean the same to every reader here.

Most of the time goes into creating the ~1.6 million null fields only to drop them, so complete
runs of entries are decoded by ``msgspec`` into structs declared from the field names seen so
far, whose null (default) fields ``to_builtins`` leaves out in C: ~2.5x faster than the standard
library. Whatever that cannot take (a field not seen yet is learned and the run decoded again;
JSON msgspec refuses, such as NaN; a shape the structs do not fit) goes through the standard
library's decoder, which also reads the rest of the body whenever no run boundary is found. Both
give the same objects.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

# No single entry comes close: more unparsed text than this means a malformed body.
MAX_PENDING_CHARS = 16 * 1024 * 1024
# Undecoded bytes after which the runs give up and the standard library reads the rest.
MAX_RUN_BYTES = 8 * 1024 * 1024
# Field names the structs may learn, in all (LiteLLM 1.8x has ~200).
MAX_LEARNED_FIELDS = 4096

_DATA_OPENING = re.compile(rb'\s*\{\s*"data"\s*:\s*\[')
_BOUNDARY_TAIL = re.compile(rb"\s*(,)\s*\{")
_SPACE = re.compile(r"\s*")


class MalformedBody(ValueError):
    """The body is not JSON, not of the expected shape, or ends too early."""


def _without_nulls(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return {key: value for key, value in pairs if value is not None}


_DECODER = json.JSONDecoder(object_pairs_hook=_without_nulls)


def loads_without_nulls(text: str | bytes) -> Any:
    """``json.loads`` dropping null object fields (the whole-body path)."""
    try:
        return _DECODER.decode(text.decode() if isinstance(text, bytes) else text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedBody(f"not JSON ({exc})") from None


def data_items(chunks: Iterable[bytes]) -> list[dict[str, Any]]:
    """The objects of the top-level ``data`` array, decoded chunk by chunk.

    A body that does not open with ``{"data": [`` is read whole and checked the usual way, so
    other member orders still work (just without the memory saving)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    chunks = iter(chunks)
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= 64 or b"[" in head:
            break
    opening = _DATA_OPENING.match(head)
    if opening is None:
        rest = "".join(_decode(decoder, chunk) for chunk in chunks) + _decode(decoder, b"", True)
        return _data_of(loads_without_nulls(_decode(decoder, head) + rest))
    items: list[dict[str, Any]] = []
    rest = _Runs(items).read(head[opening.end():], chunks)
    # The standard library's reader takes over where the runs stop (at the latest, the end).
    text = ("," if items else "") + _decode(decoder, rest)
    return _ArrayReader(text, 0, items).read(chunks, decoder)


class _Runs:
    """Complete runs of array items, decoded by ``msgspec`` while the body arrives.

    A run ends at an item's closing brace followed by a comma and the next item's opening
    brace. Such a brace may also close an object nested in an item (a list of objects): the
    text up to it is then not a complete array and fails to decode, so the run waits for the
    next chunk. Runs stop once more than ``MAX_RUN_BYTES`` wait undecoded."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items

    def read(self, text: bytes, chunks: Iterator[bytes]) -> bytes:
        """Decode runs from ``text`` and then ``chunks``; returns the bytes not decoded (the
        rest of ``chunks`` is left unread)."""
        buffer = bytearray(b"[")  # a run is decoded as an array: [item, ..., item]
        buffer += text
        self._take(buffer)
        for chunk in chunks:
            buffer += chunk
            self._take(buffer)
            if len(buffer) > MAX_RUN_BYTES:
                break
        return bytes(buffer[1:])

    def _take(self, buffer: bytearray) -> None:
        boundary = _last_boundary(buffer)
        if boundary is None:
            return
        closing, comma = boundary
        saved, buffer[closing + 1] = buffer[closing + 1], ord("]")
        try:
            with memoryview(buffer) as view:
                run = _decode_run(view[:closing + 2])
        finally:
            buffer[closing + 1] = saved
        if run is not None:
            self.items.extend(run)
            del buffer[1:comma + 1]


def _last_boundary(buffer: bytearray, tries: int = 64) -> tuple[int, int] | None:
    """(closing brace, comma) of the last ``}, {`` in ``buffer``, or None."""
    end = len(buffer)
    for _ in range(tries):
        closing = buffer.rfind(b"}", 1, end)
        if closing < 0:
            return None
        after = _BOUNDARY_TAIL.match(buffer, closing + 1)
        if after is not None:
            return closing, after.start(1)
        end = closing
    return None


def _decode_run(run: memoryview) -> list[dict[str, Any]] | None:
    """The run's items, or None when it is not JSON msgspec reads (not a complete run, or
    e.g. NaN). Field names not seen before are learned; items the structs do not fit (e.g. a
    null field in a nested object) are read by the standard library."""
    global _schema
    while True:
        try:
            return msgspec.to_builtins(_schema.decoder.decode(run))
        except msgspec.ValidationError:
            pass
        except msgspec.DecodeError:
            return None
        try:
            plain = msgspec.json.decode(run)
        except msgspec.DecodeError:
            return None
        learned = _schema.learned(plain)
        if learned is None:  # nothing new: the shape differs (e.g. an item is a string)
            return _objects(loads_without_nulls(bytes(run)))
        _schema = learned


class _Schema:
    """Structs for entries, their ``model_info`` and their ``litellm_params``, with every
    field name seen so far (sorted, so the objects' key order does not depend on what was
    seen first) and null as every field's default: ``to_builtins`` leaves nulls out."""

    def __init__(self, entry: frozenset[str] = frozenset(), info: frozenset[str] = frozenset(),
                 params: frozenset[str] = frozenset()) -> None:
        self.entry, self.info, self.params = entry, info, params
        sections = {"model_info": _struct("ModelInfo", info),
                    "litellm_params": _struct("LiteLLMParams", params)}
        entry_struct = _struct("Entry", entry | sections.keys(), sections)
        self.decoder = msgspec.json.Decoder(list[entry_struct])

    def learned(self, items: list[Any]) -> _Schema | None:
        """A schema that also has the field names of ``items``; None if there is none new
        (or too many)."""
        entry, info, params = set(self.entry), set(self.info), set(self.params)
        for item in items:
            if type(item) is dict:
                entry.update(item)
                if type(section := item.get("model_info")) is dict:
                    info.update(section)
                if type(section := item.get("litellm_params")) is dict:
                    params.update(section)
        known = len(self.entry) + len(self.info) + len(self.params)
        if not known < len(entry) + len(info) + len(params) <= MAX_LEARNED_FIELDS:
            return None
        return _Schema(frozenset(entry), frozenset(info), frozenset(params))


def _null_free(depth: int) -> Any:
    """JSON values whose objects hold no null field, nested up to ``depth`` deep (deeper
    values, or a null in an object, fail validation and go to the standard library)."""
    scalar = str | int | float | bool
    value = scalar
    for _ in range(depth):
        value = scalar | list[value | None] | dict[str, value]
    return value


_FIELD = _null_free(4)


def _struct(name: str, keys: Iterable[str], types: dict[str, type] | None = None) -> type:
    """A struct with a field per key (renamed: a key need not be an identifier)."""
    names = sorted(keys)
    fields = [(f"f{index}", (types or {}).get(key, _FIELD) | None, None)
              for index, key in enumerate(names)]
    rename = {field: key for (field, _, _), key in zip(fields, names, strict=True)}
    # gc=False: JSON holds no reference cycles, and the collector need not visit ~30,000
    # short-lived structs a sync
    return msgspec.defstruct(name, fields, rename=rename, omit_defaults=True,
                             forbid_unknown_fields=True, gc=False)


# What this process has learned so far: LiteLLM's answers differ little from one sync to the
# next, so a sync rarely has to learn anything.
_schema = _Schema()

class _ArrayReader:
    def __init__(self, text: str, position: int, items: list[dict[str, Any]]) -> None:
        self.text, self.position = text, position
        self.items = items

    def read(self, chunks, decoder) -> list[dict[str, Any]]:
        if self._take_items():
            return self._finish(chunks, decoder)
        for chunk in chunks:
            self.text = self.text[self.position:] + _decode(decoder, chunk)
            self.position = 0
            if self._take_items():
                return self._finish(chunks, decoder)
            if len(self.text) > MAX_PENDING_CHARS:
                raise MalformedBody("an array item is malformed or implausibly large")
        raise MalformedBody("the body ends inside the data array")

    def _take_items(self) -> bool:
        """Decode every complete item in the text; True once the closing ``]`` is reached."""
        text = self.text
        while True:
            position = _SPACE.match(text, self.position).end()
            if position >= len(text):
                self.position = position
                return False
            if text[position] == "]":
                self.position = position + 1
                return True
            if self.items:  # items after the first are separated by a comma
                if text[position] != ",":
                    raise MalformedBody("data array items are not separated by commas")
                position = _SPACE.match(text, position + 1).end()
                if position >= len(text):
                    return False  # self.position stays before the comma
            try:
                item, end = _DECODER.raw_decode(text, position)
            except json.JSONDecodeError:
                return False  # incomplete (more text to come) or malformed (caught at the end)
            if not isinstance(item, dict):
                raise MalformedBody("data array items must be objects")
            self.items.append(item)
            self.position = end

    def _finish(self, chunks, decoder) -> list[dict[str, Any]]:
        """After ``]``: the object must close, possibly after more members (checked as JSON)."""
        rest = self.text[self.position:] + "".join(_decode(decoder, c) for c in chunks)
        rest += _decode(decoder, b"", True)
        stripped = rest.strip()
        if stripped == "}":
            return self.items
        if stripped.startswith(","):
            loads_without_nulls("{" + stripped[1:])  # the remaining members must be valid JSON
            return self.items
        raise MalformedBody("unexpected text after the data array")


def _decode(decoder, chunk: bytes, final: bool = False) -> str:
    try:
        return decoder.decode(chunk, final)
    except UnicodeDecodeError as exc:
        raise MalformedBody(f"not UTF-8 ({exc.reason})") from None


def _data_of(payload: Any) -> list[dict[str, Any]]:
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise MalformedBody('expected {"data": [objects]}')
    return data


def _objects(items: list[Any]) -> list[dict[str, Any]]:
    if not all(isinstance(item, dict) for item in items):
        raise MalformedBody("data array items must be objects")
    return items
