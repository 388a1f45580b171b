"""Append-only audit trail with secrets redacted (DESIGN §7)."""

from __future__ import annotations

import base64
import binascii
import logging
import re
import uuid
from datetime import datetime
from typing import Any

from flask import g, has_request_context, request
from sqlalchemy import Text, cast, or_, select, tuple_

from app.errors import ValidationError
from app.extensions import db
from app.models import AuditLog, User

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
        from app.task_context import task_context

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


# --- reading the trail (admin, admin-readonly) ----------------------------------------------


def encode_cursor(entry: AuditLog) -> str:
    raw = f"{entry.created_at.isoformat()}|{entry.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, _, ident = base64.urlsafe_b64decode(padded.encode()).decode().partition("|")
        moment = datetime.fromisoformat(created)
        if moment.tzinfo is None:
            raise ValueError("naive timestamp")
        return moment, uuid.UUID(ident)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise ValidationError("Invalid cursor",
                              {"fields": {"cursor": ["Not a valid cursor."]}}) from None


def list_query(*, actor: str | None = None, actor_id: uuid.UUID | None = None,
               action: str | None = None, resource_type: str | None = None,
               resource_id: str | None = None, success: bool | None = None,
               since: datetime | None = None, until: datetime | None = None,
               search: str | None = None, exclude_resource_types: tuple[str, ...] = ()):
    """Audit rows matching the filters, newest first (each filter but ``search`` has an index
    to use). ``search`` is a case-insensitive substring of the action, resource id, actor
    (label or username) or details."""
    stmt = (select(AuditLog, User.username, User.email)
            .outerjoin(User, User.id == AuditLog.actor_id))
    if search:
        pattern = "%" + _like_escaped(search) + "%"
        stmt = stmt.where(or_(*(column.ilike(pattern, escape="\\") for column in (
            AuditLog.action, AuditLog.resource_id, AuditLog.resource_type, AuditLog.actor_label,
            User.username, cast(AuditLog.details, Text)))))
    if exclude_resource_types:
        stmt = stmt.where(AuditLog.resource_type.not_in(exclude_resource_types))
    if actor is not None:
        stmt = stmt.where(_actor_filter(actor))
    if actor_id is not None:
        stmt = stmt.where(AuditLog.actor_id == actor_id)
    if action:
        stmt = stmt.where(AuditLog.action == action.upper())
    if resource_type:
        stmt = stmt.where(AuditLog.resource_type == resource_type)
    if resource_id:
        stmt = stmt.where(AuditLog.resource_id == resource_id)
    if success is not None:
        stmt = stmt.where(AuditLog.success.is_(success))
    if since is not None:
        stmt = stmt.where(AuditLog.created_at >= since)
    if until is not None:
        stmt = stmt.where(AuditLog.created_at < until)
    return stmt.order_by(AuditLog.created_at.desc(), AuditLog.id.desc())


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def distinct_actions(resource_type: str | None = None,
                     exclude_resource_types: tuple[str, ...] = ()) -> list[str]:
    """Every action in the trail (of one resource type, or outside some), sorted."""
    stmt = select(AuditLog.action).distinct().order_by(AuditLog.action)
    if resource_type:
        stmt = stmt.where(AuditLog.resource_type == resource_type)
    if exclude_resource_types:
        stmt = stmt.where(AuditLog.resource_type.not_in(exclude_resource_types))
    return list(db.session.scalars(stmt))


def distinct_resource_types() -> list[str]:
    """Every resource type (the web UI's "categories") in the trail, sorted."""
    return list(db.session.scalars(
        select(AuditLog.resource_type).distinct().order_by(AuditLog.resource_type)))


def _actor_filter(actor: str):
    """``actor`` is a user id, a username, or an actor label such as ``admin_api_key:…``."""
    try:
        return AuditLog.actor_id == uuid.UUID(actor)
    except ValueError:
        pass
    user_id = db.session.scalar(select(User.id).where(User.username == actor))
    if user_id is not None:
        return AuditLog.actor_id == user_id
    return AuditLog.actor_label == actor


def keyset_page(stmt, limit: int, cursor: str | None) -> dict:
    """One page after ``cursor`` (newest first): constant cost however deep the page is."""
    if cursor:
        created, ident = decode_cursor(cursor)
        # The plain bound lets the per-filter (x, created_at) indexes seek straight to the page.
        stmt = stmt.where(AuditLog.created_at <= created,
                          tuple_(AuditLog.created_at, AuditLog.id) < tuple_(created, ident))
    rows = db.session.execute(stmt.limit(limit + 1)).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    return {
        "data": [_view(*row) for row in rows],
        "pagination": {"limit": limit, "has_more": has_more,
                       "next_cursor": encode_cursor(rows[-1][0]) if has_more else None},
    }


def offset_page(stmt, page: int, limit: int) -> dict:
    """Page/limit with a total, for clients of the original API (slower on deep pages)."""
    from app.services.listing import paginate

    result = paginate(stmt, page, limit, scalars=False)
    pagination = result["pagination"]
    has_more = pagination["page"] < pagination["total_pages"]
    return {
        "data": [_view(*row) for row in result["data"]],
        "pagination": {**pagination, "has_more": has_more,
                       "next_cursor": (encode_cursor(result["data"][-1][0])
                                       if has_more and result["data"] else None)},
    }


def _view(entry: AuditLog, username: str | None, email: str | None = None) -> dict:
    details = entry.details or {}
    error = None
    if not entry.success:
        error = next((str(details[name]) for name in ("error", "reason", "message")
                      if details.get(name)), None)
    return {**{c.name: getattr(entry, c.name) for c in AuditLog.__table__.columns},
            "actor_username": username,
            # the web UI's names for the same facts (upstream LiteMaaS's audit page)
            "user_id": entry.actor_id, "username": username, "email": email,
            "metadata": details, "error_message": error}
