"""Cached JSON answers of hot public reads (the model catalogue), with exact invalidation.

Each web process keeps the encoded bodies of recent answers in memory, keyed by
``(scope, version token, query)``. The token lives in ``cache_versions`` and PostgreSQL changes
it, by statement triggers, in the same transaction as any write to the scope's tables
(``catalogue``: ``models`` and ``sync_runs``; see migration 0003). A request reads the token
first, then (on a miss) the data: a token is never paired with older data than it describes, so
an answer is stale for no one once the writer has committed, whichever process or code path
wrote. A missing row (never written, or truncated) means "do not cache".

A hit costs at most one primary-key read, over a connection kept for it (``TokenReader``), and
no query or serialisation; answers carry a strong ``ETag`` and honour ``If-None-Match`` with 304.
Threads of a process share token reads: a read that began after a request arrived answers that
request too (any write committed before the request arrived is in its snapshot), so under load
one read serves the requests that queued behind it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from flask import Response, current_app, g, request

from app.extensions import db

log = logging.getLogger(__name__)

MAX_ENTRIES = 256
# One body may be the whole catalogue (the web UI asks limit=1000: ~2 MB for 1,000 models);
# all bodies together stay under MAX_TOTAL_BYTES per process.
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_TOTAL_BYTES = 64 * 1024 * 1024
_TOKEN_SQL = "SELECT token FROM cache_versions WHERE scope = %s"


@dataclass(frozen=True, slots=True)
class CachedBody:
    body: bytes
    etag: str


class BodyCache:
    """A small thread-safe LRU of encoded bodies (gthread workers share it between threads)."""

    def __init__(self, max_entries: int = MAX_ENTRIES,
                 max_bytes: int = MAX_TOTAL_BYTES) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._entries: OrderedDict[tuple, CachedBody] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple) -> CachedBody | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: tuple, entry: CachedBody) -> None:
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._bytes -= len(previous.body)
            self._entries[key] = entry
            self._bytes += len(entry.body)
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= len(dropped.body)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)


class TokenReader:
    """Reads version tokens over one autocommit connection of its own (per process and app):
    a primary-key read in one round trip, without the session's pool check-out ping and
    rollback, which cost a hit as much as the rest of the request. Any error drops the
    connection and answers None (the request is then served uncached); a failed connect is
    retried after ``RETRY_SECONDS``."""

    RETRY_SECONDS = 1.0

    def __init__(self, engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._fairy = None  # the pool's wrapper, detached: closing it closes the connection
        self._retry_at = 0.0
        self._last: dict[str, tuple[float, str | None]] = {}  # scope -> (read began, token)

    def read(self, scope: str, not_before: float | None = None) -> str | None:
        """The token as a read that began at ``not_before`` (``time.perf_counter()``, default
        now) or later saw it: the last read qualifies when it began then or later (another
        thread's, while this one waited for the lock); otherwise this thread reads."""
        not_before = time.perf_counter() if not_before is None else not_before
        with self._lock:
            last = self._last.get(scope)
            if last is not None and last[0] >= not_before:
                return last[1]
            connection = self._connection()
            if connection is None:
                return None
            began = time.perf_counter()
            try:
                with connection.cursor() as cursor:
                    cursor.execute(_TOKEN_SQL, (scope,))
                    row = cursor.fetchone()
            except Exception:
                log.warning("cache version read failed; serving uncached", exc_info=True)
                self._discard()
                return None
            token = None if row is None else str(row[0])
            self._last[scope] = (began, token)
        return token

    def _connection(self):
        if self._fairy is not None:
            return self._fairy.dbapi_connection
        if time.monotonic() < self._retry_at:
            return None
        try:
            fairy = self.engine.raw_connection()
            fairy.detach()
            fairy.dbapi_connection.autocommit = True
        except Exception:
            log.warning("cache version connection failed; serving uncached", exc_info=True)
            self._retry_at = time.monotonic() + self.RETRY_SECONDS
            return None
        self._fairy = fairy
        return fairy.dbapi_connection

    def _discard(self) -> None:
        fairy, self._fairy = self._fairy, None
        with contextlib.suppress(Exception):
            fairy.close()

    def close(self) -> None:
        with self._lock:
            if self._fairy is not None:
                self._discard()


@dataclass
class _ProcessState:
    pid: int
    bodies: BodyCache
    tokens: TokenReader


_STATE_LOCK = threading.Lock()


def _state() -> _ProcessState:
    """This app's cache in this process (a forked worker starts afresh)."""
    app = current_app._get_current_object()
    state = app.extensions.get("read_cache")
    if state is None or state.pid != os.getpid():
        with _STATE_LOCK:  # the first requests of a worker's threads arrive together
            state = app.extensions.get("read_cache")
            if state is None or state.pid != os.getpid():
                state = _ProcessState(os.getpid(), BodyCache(), TokenReader(db.engine))
                app.extensions["read_cache"] = state
    return state


def version_token(scope: str, not_before: float | None = None) -> str | None:
    """The scope's token as a read that began at ``not_before`` (default now) or later saw it,
    or None when there is none (then nothing is cached)."""
    return _state().tokens.read(scope, not_before)


def query_key(query: Mapping[str, Any]) -> str:
    """A canonical text of parsed query arguments (order of keys and list items ignored)."""
    parts = []
    for name in sorted(query):
        value = query[name]
        if isinstance(value, list | tuple | set):
            value = sorted(map(str, value))
        parts.append(f"{name}={value!r}")
    return "&".join(parts)


def json_response(scope: str, query: Mapping[str, Any], build: Callable[[], Any]) -> Response:
    """The 200 JSON answer ``build()`` gives (data orjson encodes: datetimes in ISO 8601,
    Decimal as numbers), from the cache when the scope is unchanged; 304 when the client
    already holds it (``If-None-Match``)."""
    # A read (GET) sees every write committed before it arrived: g.started, when its first
    # hook ran (app.logs). A request that writes must see its own writes: it reads anew.
    arrived = g.get("started") if request.method in ("GET", "HEAD") else None
    token = version_token(scope, arrived)
    key = (scope, token, query_key(query))
    bodies = _state().bodies
    entry = bodies.get(key) if token is not None else None
    if entry is None:
        entry = _encode(build())
        if token is not None and len(entry.body) <= MAX_BODY_BYTES:
            bodies.put(key, entry)
    return _respond(entry)


def _encode(data: Any) -> CachedBody:
    body = orjson.dumps(data, default=_json_number)
    return CachedBody(body, hashlib.blake2b(body, digest_size=16).hexdigest())


def _json_number(value: Any) -> float:
    """Money is Decimal in the database and a JSON number on the wire (as app.JSONProvider)."""
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _respond(entry: CachedBody) -> Response:
    if request.if_none_match.contains(entry.etag):
        response = current_app.response_class(status=304)
    else:
        response = current_app.response_class(entry.body, mimetype="application/json")
    response.set_etag(entry.etag)
    response.headers["Cache-Control"] = "no-cache"  # revalidate with the ETag, then reuse
    return response


def clear() -> None:
    """Forget every cached body of this app in this process."""
    _state().bodies.clear()
