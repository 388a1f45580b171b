"""Who is calling: a JWT user, a user's API key, or an admin API key.

The caller is resolved once per request and remembered on ``g``: the rate limiter peeks at it
(``peek_identity``, no side effects) before the view runs; ``authenticate()`` then returns it or
raises 401, auditing the failure (or the admin-key use) once.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from flask import current_app, g, request
from flask_jwt_extended import decode_token
from jwt.exceptions import ExpiredSignatureError, PyJWTError

from app.errors import Unauthorized
from app.litellm.client import key_hash

API_KEY_PREFIXES = ("sk-", "ltm_")


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
    def credential(self) -> str:
        """What kind of credential: ``session`` (a signed-in JWT), ``api_key`` (a user's key,
        narrow scope, see app.auth.permissions.API_KEY_SCOPE) or ``admin_api_key``."""
        return "session" if self.kind == "jwt" else self.kind

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

    @property
    def rate_limit_key(self) -> str:
        if self.kind == "api_key":
            return f"api-key:{self.api_key_id}"
        if self.kind == "admin_api_key":
            return f"admin-api-key:{self.username}"
        return f"user:{self.user_id}"


class AuthFailure(Exception):
    """Credentials were presented but refused; ``reason`` goes to the audit trail."""

    def __init__(self, reason: str, message: str = "Invalid or expired credentials"):
        super().__init__(reason)
        self.reason = reason
        self.message = message


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def current_identity() -> Identity | None:
    return g.get("identity")


def peek_identity() -> Identity | None:
    """The caller if valid credentials were presented, else None; never raises or audits."""
    _resolve()
    return g.get("identity")


def authenticate() -> Identity:
    """The caller, or 401 (a refused credential is audited once per request)."""
    _resolve()
    identity = g.get("identity")
    if identity is not None:
        if identity.kind == "admin_api_key" and not g.get("_admin_key_audited"):
            g._admin_key_audited = True
            _audit("ADMIN_API_KEY_USED", True, {"method": request.method, "path": request.path},
                   actor=identity)
        return identity
    failure: AuthFailure | None = g.get("_auth_failure")
    if failure is None:
        raise Unauthorized("Authentication required")
    if not g.get("_auth_failure_audited"):
        g._auth_failure_audited = True
        _audit("AUTH_FAILED", False, {"reason": failure.reason, "method": request.method,
                                      "path": request.path})
    raise Unauthorized(failure.message)


def _audit(action: str, success: bool, details: dict, actor=None) -> None:
    from app.services import audit

    audit.record_now(action, "auth", None, success=success, details=details, actor=actor)


def _resolve() -> None:
    if g.get("_auth_resolved") or g.get("identity") is not None:
        return
    g._auth_resolved = True
    token = _presented_credential()
    if token is None:
        return
    try:
        if token.startswith(API_KEY_PREFIXES):
            g.identity = _identity_from_api_key(token)
        else:
            g.identity = _identity_from_jwt(token)
    except AuthFailure as failure:
        g._auth_failure = failure


def _presented_credential() -> str | None:
    api_key = request.headers.get("X-API-Key")
    if api_key and api_key.strip():
        return api_key.strip()
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def _identity_from_jwt(token: str) -> Identity:
    from app.extensions import db
    from app.models import User
    from app.services import sessions

    try:
        claims = decode_token(token)
    except ExpiredSignatureError:
        raise AuthFailure("expired", "Token has expired") from None
    except PyJWTError:
        raise AuthFailure("invalid_token") from None
    if claims.get("type") != "access":
        raise AuthFailure("wrong_token_type")
    try:
        user_id = uuid.UUID(str(claims.get("sub")))
    except ValueError:
        raise AuthFailure("invalid_token") from None
    user = db.session.get(User, user_id)
    if user is None or not user.is_active:
        raise AuthFailure("inactive_user")
    if claims.get("tv") != user.token_version:
        raise AuthFailure("revoked")
    try:  # every token belongs to a server-side session, checked on every request
        session_id = uuid.UUID(str(claims.get("sid")))
    except ValueError:
        raise AuthFailure("no_session") from None
    if sessions.is_revoked(str(session_id)):
        raise AuthFailure("revoked")
    return Identity(
        user_id=user.id,
        username=user.username,
        roles=tuple(user.roles),
        kind="jwt",
        session_id=session_id,
        claims=claims,
    )


def _identity_from_api_key(raw: str) -> Identity:
    from app.auth import api_keys

    digest = key_hash(raw)
    for admin_hash in current_app.config["ADMIN_API_KEY_HASHES"]:
        if hmac.compare_digest(admin_hash, digest):
            return Identity(user_id=None, username=f"admin-api-key-{admin_hash[:8]}",
                            roles=("admin",), kind="admin_api_key")
    entry = api_keys.lookup(digest)
    if entry is None:
        raise AuthFailure("unknown_api_key")
    if entry["revoked"] or entry["state"] in {"revoking", "revoked", "failed"}:
        raise AuthFailure("revoked_api_key")
    if entry.get("disabled"):
        raise AuthFailure("disabled_api_key")
    expires_at = entry["expires_at"]
    if expires_at is not None and datetime.fromisoformat(expires_at) <= datetime.now(UTC):
        raise AuthFailure("expired_api_key")
    if not entry["user_active"]:
        raise AuthFailure("inactive_user")
    api_keys.touch(entry["key_id"])
    return Identity(user_id=uuid.UUID(entry["user_id"]), username=entry["username"],
                    roles=("user",), kind="api_key", api_key_id=uuid.UUID(entry["key_id"]))
