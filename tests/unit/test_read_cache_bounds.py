"""The read cache's memory bound (app/services/read_cache.py), without a server."""

from __future__ import annotations


def test_the_read_cache_is_bounded_in_bytes():
    from app.services.read_cache import BodyCache, CachedBody

    bodies = BodyCache(max_entries=10, max_bytes=100)
    for name in ("a", "b", "c"):
        bodies.put((name,), CachedBody(b"x" * 40, name))
    assert bodies.get(("a",)) is None and len(bodies) == 2
    bodies.put(("b",), CachedBody(b"y" * 10, "b2"))  # replacing an entry frees its bytes
    bodies.put(("d",), CachedBody(b"z" * 40, "d"))
    assert [bodies.get((n,)) is not None for n in "bcd"] == [True, True, True]
