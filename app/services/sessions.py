"""Login sessions and token issuing: a session is one refresh-token family."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from flask import current_app
from flask_jwt_extended import create_access_token, create_refresh_token

from app.extensions import db, redis_client, redis_key
from app.models import User, UserSession


def _revoked_key(session_id: str) -> str:
    return redis_key("revoked-session", str(session_id))


def is_revoked(session_id: str) -> bool:
    """Revocation is checked in Redis on every request (DB is the durable record)."""
    return bool(redis_client().exists(_revoked_key(session_id)))


def mark_revoked(session_id: uuid.UUID) -> None:
    ttl = current_app.config["JWT_REFRESH_TTL_SECONDS"]
    redis_client().set(_revoked_key(str(session_id)), "1", ex=ttl)


def _claims(user: User, session_id: uuid.UUID) -> dict:
    return {"roles": list(user.roles), "tv": user.token_version, "sid": str(session_id),
            "username": user.username}


def start(user: User, ip: str | None, user_agent: str | None) -> dict:
    """Open a session and return the token pair; the caller commits."""
    ttl = current_app.config["JWT_REFRESH_TTL_SECONDS"]
    session = UserSession(
        id=uuid.uuid4(),
        user_id=user.id,
        refresh_jti=uuid.uuid4().hex,
        ip_address=ip,
        user_agent=(user_agent or "")[:512] or None,
        expires_at=datetime.now(UTC) + timedelta(seconds=ttl),
    )
    db.session.add(session)
    return token_pair(user, session)


def token_pair(user: User, session: UserSession) -> dict:
    claims = _claims(user, session.id)
    access = create_access_token(identity=str(user.id), additional_claims=claims)
    refresh = create_refresh_token(
        identity=str(user.id), additional_claims={**claims, "jti": session.refresh_jti}
    )
    return {
        "access_token": access,
        "refresh_token": refresh,
        "token_type": "Bearer",
        "expires_in": current_app.config["JWT_ACCESS_TTL_SECONDS"],
        "session_id": session.id,
    }
