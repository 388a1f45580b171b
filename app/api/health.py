"""Liveness, readiness (db, redis, litellm, worker) and database pool figures.

Readiness is public and anyone may poll it, so it must stay cheap: the component probes run at
most once per ``HEALTH_CACHE_SECONDS`` per process (one request probes, concurrent ones reuse the
last result), it counts against the caller's rate limit, and only admins see the components.
"""

from __future__ import annotations

import threading
import time

import marshmallow as ma
from flask import current_app
from sqlalchemy import text

from app.api.base import Blueprint
from app.auth.identity import peek_identity
from app.auth.permissions import PUBLIC
from app.extensions import db, redis_client
from app.litellm import litellm_client
from app.schemas.base import CamelSchema
from app.services.workers import live_workers

blp = Blueprint("health", __name__, url_prefix="/health", description="Health checks")


class LivenessSchema(CamelSchema):
    status = ma.fields.String(required=True)
    version = ma.fields.String(required=True)


class ComponentSchema(CamelSchema):
    status = ma.fields.String(required=True)
    latency_ms = ma.fields.Float(allow_none=True)
    required = ma.fields.Boolean(required=True)
    detail = ma.fields.String(allow_none=True)


class ReadinessSchema(CamelSchema):
    status = ma.fields.String(required=True, metadata={"description": "ok, degraded or down"})
    components = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Nested(ComponentSchema),
                                metadata={"description": "Admins and readonly admins only"})
    checked_at = ma.fields.Float(metadata={
        "description": "Admins only: seconds since the probes ran (they are cached)"})


class DatabaseHealthSchema(CamelSchema):
    status = ma.fields.String(required=True)
    latency_ms = ma.fields.Float(allow_none=True)
    pool = ma.fields.Dict(required=True)
    detail = ma.fields.String(allow_none=True)


def _timed(check) -> dict:
    started = time.perf_counter()
    try:
        detail = check()
        status = "ok"
    except Exception as exc:  # a health check reports failures, it never raises them
        detail, status = type(exc).__name__, "down"
    return {"status": status, "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            "detail": detail}


def _check_db():
    db.session.execute(text("SELECT 1"))
    return None


def _check_redis():
    redis_client().ping()
    return None


def _check_litellm():
    litellm_client().health_liveliness()
    return None


def _check_worker():
    workers = live_workers(current_app)
    if not workers:
        raise RuntimeError("no worker heartbeat")
    return f"{len(workers)} worker(s)"


@blp.route("")
@blp.auth(PUBLIC)
@blp.response(200, LivenessSchema)
def liveness():
    """Liveness: the process answers (no dependency is checked)."""
    return {"status": "ok", "version": current_app.config["API_VERSION"]}


CHECKS = {
    "database": (_check_db, True),
    "redis": (_check_redis, True),
    "litellm": (_check_litellm, False),
    "worker": (_check_worker, False),
}


class ProbeCache:
    """The last probe results of this process, and a lock so that one request probes at a time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.components: dict | None = None
        self.probed_at = 0.0

    def fresh(self, ttl: float) -> bool:
        return self.components is not None and time.monotonic() - self.probed_at < ttl

    def forget(self) -> None:
        self.components = None


def probe_cache(app=None) -> ProbeCache:
    app = app or current_app
    return app.extensions.setdefault("health_probes", ProbeCache())


def _probe() -> dict:
    components = {name: {**_timed(check), "required": required}
                  for name, (check, required) in CHECKS.items()}
    if components["database"]["status"] != "ok":
        db.session.rollback()
    return components


def _components() -> tuple[dict, float]:
    """Cached probe results; while one request probes, others get the previous results."""
    cache = probe_cache()
    ttl = current_app.config["HEALTH_CACHE_SECONDS"]
    if not cache.fresh(ttl):
        blocking = cache.components is None  # nothing to answer with yet: wait for the probe
        if cache.lock.acquire(blocking=blocking):
            try:
                if not cache.fresh(ttl):
                    cache.components, cache.probed_at = _probe(), time.monotonic()
            finally:
                cache.lock.release()
    return cache.components, time.monotonic() - cache.probed_at


@blp.route("/ready")
@blp.auth(PUBLIC)
@blp.response(200, ReadinessSchema)
@blp.alt_response(503, schema=ReadinessSchema, description="A required component is down")
@blp.alt_response(429, response="TOO_MANY_REQUESTS")
def readiness():
    """Readiness: database, Redis, LiteLLM and a live worker. Everyone gets the overall status;
    admins also get each component with status and latency. Probes are cached a few seconds
    (``HEALTH_CACHE_SECONDS``); the caller's rate limit applies."""
    components, age = _components()
    down = any(c["required"] and c["status"] != "ok" for c in components.values())
    degraded = any(c["status"] != "ok" for c in components.values())
    body: dict = {"status": "down" if down else ("degraded" if degraded else "ok")}
    identity = peek_identity()
    if identity is not None and identity.can_read_all:
        body.update(components=components, checked_at=round(age, 3))
    return body, 503 if down else 200


@blp.route("/database")
@blp.auth(PUBLIC)
@blp.response(200, DatabaseHealthSchema)
@blp.alt_response(503, schema=DatabaseHealthSchema, description="Database unreachable")
@blp.alt_response(429, response="TOO_MANY_REQUESTS")
def database():
    """Database round-trip latency and connection pool figures."""
    result = _timed(_check_db)
    pool = db.engine.pool
    figures = {
        "size": pool.size(),
        "checkedOut": pool.checkedout(),
        "overflow": pool.overflow(),
        "checkedIn": pool.checkedin(),
        "maxConnections": current_app.config["DB_MAX_CONNECTIONS"],
    }
    ok = result["status"] == "ok"
    if not ok:
        db.session.rollback()
    return {**result, "pool": figures}, 200 if ok else 503
