"""Who is calling: a JWT user, a user's API key, or an admin API key."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from flask import current_app, g, request
from flask_jwt_extended import decode_token
from jwt.exceptions import ExpiredSignatureError, PyJWTError
from sqlalchemy import select

from app.errors import Unauthorized


@dataclass(frozen=True)
class Identity:
    user_id: uuid.UUID | None
    username: str
    roles: tuple[str, ...]
    kind: str = "jwt"  # jwt | api_key | admin_api_key
    session_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    claims: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def can_read_all(self) -> bool:
        """Admins and readonly admins see every user's resources."""
        return "admin" in self.roles or "admin-readonly" in self.roles

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.username}"


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def current_identity() -> Identity | None:
    return g.get("identity")


def authenticate() -> Identity:
    """Resolve the caller from the request headers, or raise 401."""
    identity = g.get("identity")
    if identity is not None:
        return identity
    token = _presented_credential()
    if token is None:
        raise Unauthorized("Authentication required")
    if token.startswith("sk-") or token.startswith("ltm_"):
        identity = _identity_from_api_key(token)
    else:
        identity = _identity_from_jwt(token)
    g.identity = identity
    return identity


def _presented_credential() -> str | None:
    api_key = request.headers.get("X-API-Key")
    if api_key:
        return api_key.strip()
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def _fail(reason: str, message: str = "Invalid or expired credentials") -> Unauthorized:
    from app.services import audit

    audit.record_now("AUTH_FAILED", "auth", None, success=False, details={"reason": reason})
    return Unauthorized(message)


def _identity_from_jwt(token: str) -> Identity:
    from app.extensions import db
    from app.models import User

    try:
        claims = decode_token(token)
    except ExpiredSignatureError:
        raise _fail("expired", "Token has expired") from None
    except PyJWTError:
        raise _fail("invalid_token") from None
    if claims.get("type") != "access":
        raise _fail("wrong_token_type")
    user = db.session.get(User, uuid.UUID(claims["sub"]))
    if user is None or not user.is_active:
        raise _fail("inactive_user")
    if claims.get("tv") != user.token_version:
        raise _fail("revoked")
    from app.services import sessions

    session_id = claims.get("sid")
    if session_id and sessions.is_revoked(session_id):
        raise _fail("revoked")
    return Identity(
        user_id=user.id,
        username=user.username,
        roles=tuple(user.roles),
        kind="jwt",
        session_id=uuid.UUID(session_id) if session_id else None,
        claims=claims,
    )


def _identity_from_api_key(raw: str) -> Identity:
    from app.extensions import db
    from app.models import ApiKey, User

    digest = sha256_hex(raw)
    for admin_hash in current_app.config["ADMIN_API_KEY_HASHES"]:
        if hmac.compare_digest(admin_hash, digest):
            return Identity(user_id=None, username="admin-api-key", roles=("admin",),
                            kind="admin_api_key")
    row = db.session.execute(
        select(ApiKey, User).join(User, User.id == ApiKey.user_id).where(ApiKey.key_hash == digest)
    ).first()
    if row is None:
        raise _fail("unknown_api_key")
    key, user = row
    now = datetime.now(UTC)
    if key.revoked_at is not None or key.provisioning_state in {"revoking", "revoked", "failed"}:
        raise _fail("revoked_api_key")
    if key.expires_at is not None and key.expires_at <= now:
        raise _fail("expired_api_key")
    if not user.is_active:
        raise _fail("inactive_user")
    return Identity(user_id=user.id, username=user.username, roles=("user",), kind="api_key",
                    api_key_id=key.id)
