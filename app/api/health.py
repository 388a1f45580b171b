"""Liveness, readiness (db, redis, litellm, worker) and database pool figures."""

from __future__ import annotations

import time

import marshmallow as ma
from flask import current_app
from sqlalchemy import text

from app.api.base import Blueprint
from app.auth.permissions import PUBLIC
from app.extensions import db, redis_client
from app.schemas.base import CamelSchema
from worker.signals import live_workers

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
    status = ma.fields.String(required=True)
    components = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Nested(ComponentSchema))


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
    current_app.extensions["litellm"].health_liveliness()
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


@blp.route("/ready")
@blp.auth(PUBLIC)
@blp.response(200, ReadinessSchema)
@blp.alt_response(503, schema=ReadinessSchema, description="A required component is down")
def readiness():
    """Readiness: database, Redis, LiteLLM and a live worker, each with status and latency."""
    checks = {
        "database": (_check_db, True),
        "redis": (_check_redis, True),
        "litellm": (_check_litellm, False),
        "worker": (_check_worker, False),
    }
    components = {}
    for name, (check, required) in checks.items():
        components[name] = {**_timed(check), "required": required}
    if components["database"]["status"] != "ok":
        db.session.rollback()
    down = any(c["required"] and c["status"] != "ok" for c in components.values())
    degraded = any(c["status"] != "ok" for c in components.values())
    status = "down" if down else ("degraded" if degraded else "ok")
    return {"status": status, "components": components}, 503 if down else 200


@blp.route("/database")
@blp.auth(PUBLIC)
@blp.response(200, DatabaseHealthSchema)
@blp.alt_response(503, schema=DatabaseHealthSchema, description="Database unreachable")
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
