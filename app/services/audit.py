"""Append-only audit trail with secrets redacted (DESIGN §7)."""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import g, has_request_context, request

from app.extensions import db
from app.models import AuditLog

log = logging.getLogger(__name__)

SECRET_FIELD = re.compile(r"(key|token|secret|password|authorization|credential)", re.I)
SECRET_VALUE = re.compile(
    r"(sk-[A-Za-z0-9_\-]{6,}|ltm_[A-Za-z0-9_\-]{6,}|eyJ[\w\-]+\.[\w\-]+\.[\w\-]*)"
)
SAFE_FIELDS = {"keyPrefix", "key_prefix", "apiKeyId", "api_key_id", "keyId", "tokenType"}


def redact(value: Any, field: str = "") -> Any:
    """Remove anything that looks like a secret, by field name or by value shape."""
    if field and field not in SAFE_FIELDS and SECRET_FIELD.search(field):
        return "[REDACTED]"
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return SECRET_VALUE.sub("[REDACTED]", value)
    return value


def _build(action, resource_type, resource_id, success, details, actor) -> AuditLog:
    if actor is None and has_request_context():
        actor = g.get("identity")
    entry = AuditLog(
        action=action,
        resource_type=resource_type,
        resource_id=str(resource_id) if resource_id is not None else None,
        success=success,
        details=redact(details or {}),
        actor_id=getattr(actor, "user_id", None),
        actor_label=getattr(actor, "label", None),
    )
    if has_request_context():
        entry.ip_address = request.remote_addr
        entry.user_agent = (request.user_agent.string or "")[:512] or None
        entry.request_id = g.get("request_id")
    else:
        from worker.context import task_context

        entry.request_id = task_context.get("request_id")
    return entry


def record(action: str, resource_type: str, resource_id: Any = None, *, success: bool = True,
           details: dict | None = None, actor=None) -> AuditLog:
    """Add an audit row to the caller's unit of work (committed with it)."""
    entry = _build(action, resource_type, resource_id, success, details, actor)
    db.session.add(entry)
    return entry


def record_now(action: str, resource_type: str, resource_id: Any = None, *,
               success: bool = True, details: dict | None = None, actor=None) -> None:
    """Write an audit row in its own transaction (for refusals, where nothing else commits)."""
    entry = _build(action, resource_type, resource_id, success, details, actor)
    try:
        with db.engine.begin() as conn:
            conn.execute(AuditLog.__table__.insert().values(
                {c.name: getattr(entry, c.name) for c in AuditLog.__table__.columns
                 if getattr(entry, c.name) is not None}
            ))
    except Exception:  # auditing must never turn a 401/403 into a 500
        log.exception("could not write audit row for %s", action)
