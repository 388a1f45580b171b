"""Decode a ``{"data": [objects]}`` answer while it arrives, dropping null fields.

LiteLLM's ``/model/info`` for 10,000 models is ~70 MB of JSON, and ~160 of each entry's ~180
``model_info`` fields are null. Reading it whole held the body, its decoded text and the full
objects at once (~230 MB in a worker); decoding entry by entry from the socket, without the
nulls, holds ~35 MB. A null field and a missing one mean the same to every reader here.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable
from typing import Any

# No single entry comes close: more unparsed text than this means a malformed body.
MAX_PENDING_CHARS = 16 * 1024 * 1024

_DATA_OPENING = re.compile(r'\s*\{\s*"data"\s*:\s*\[')
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
    head = ""
    for chunk in chunks:
        head += _decode(decoder, chunk)
        if len(head) >= 64 or "[" in head:
            break
    opening = _DATA_OPENING.match(head)
    if opening is None:
        rest = "".join(_decode(decoder, chunk) for chunk in chunks) + _decode(decoder, b"", True)
        return _data_of(loads_without_nulls(head + rest))
    return _ArrayReader(head, opening.end()).read(chunks, decoder)


class _ArrayReader:
    def __init__(self, text: str, position: int) -> None:
        self.text, self.position = text, position
        self.items: list[dict[str, Any]] = []

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
