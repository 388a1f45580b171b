"""Login sessions and token issuing: a session is one refresh-token family.

Each refresh rotates the session's refresh token id; presenting an older refresh token again
(reuse: it was stolen, or replayed) revokes the whole session. Revocation is written to the
database (the durable record) and to Redis, which every authenticated request checks.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

import redis
from flask import current_app
from flask_jwt_extended import create_access_token, create_refresh_token, decode_token
from jwt.exceptions import ExpiredSignatureError, PyJWTError
from sqlalchemy import desc, func, select, update

from app.errors import NotFound, Unauthorized, ValidationError
from app.extensions import db, redis_client, redis_key
from app.models import User, UserSession
from app.services import audit

log = logging.getLogger(__name__)


SESSION_STATE_TTL_SECONDS = 30  # how long "this session is live" is trusted from Redis


def _revoked_key(session_id: str) -> str:
    return redis_key("revoked-session", str(session_id))


def _revoked_in_db(session_id: str) -> bool:
    revoked_at = db.session.scalar(
        select(UserSession.revoked_at).where(UserSession.id == uuid.UUID(str(session_id))))
    return revoked_at is not None


def is_revoked(session_id: str) -> bool:
    """Checked on every request. Redis caches the answer either way ("1" revoked, "0" live
    for ``SESSION_STATE_TTL_SECONDS``); a miss, or Redis down, asks the database. So a
    revocation Redis never heard of (written while it was down, or lost with its data) holds
    as soon as the cached "live" expires, not only when the access token does."""
    key = _revoked_key(session_id)
    try:
        state = redis_client().get(key)
    except redis.RedisError:
        return _revoked_in_db(session_id)
    if state is not None:
        return state == b"1"
    revoked = _revoked_in_db(session_id)
    try:
        ttl = (current_app.config["JWT_REFRESH_TTL_SECONDS"] if revoked
               else SESSION_STATE_TTL_SECONDS)
        redis_client().set(key, "1" if revoked else "0", ex=ttl)
    except redis.RedisError:
        pass
    return revoked


def mark_revoked(*session_ids: uuid.UUID) -> None:
    """Publish revocations to Redis (after the database commit that recorded them)."""
    if not session_ids:
        return
    ttl = current_app.config["JWT_REFRESH_TTL_SECONDS"]
    try:
        pipe = redis_client().pipeline(transaction=False)
        for session_id in session_ids:
            pipe.set(_revoked_key(str(session_id)), "1", ex=ttl)
        pipe.execute()
    except redis.RedisError:
        # The database keeps the revocation: requests check it once the cached state lapses.
        log.warning("could not publish %d session revocations to Redis", len(session_ids))


def _claims(user: User, session_id: uuid.UUID) -> dict:
    return {"roles": list(user.roles), "tv": user.token_version, "sid": str(session_id),
            "username": user.username}


def _open(user: User, ip: str | None, user_agent: str | None, ttl: int,
          kind: str = "api") -> UserSession:
    session = UserSession(
        id=uuid.uuid4(),
        user_id=user.id,
        refresh_jti=f"{kind}-{uuid.uuid4().hex}",
        ip_address=ip,
        user_agent=(user_agent or "")[:512] or None,
        expires_at=datetime.now(UTC) + timedelta(seconds=ttl),
    )
    db.session.add(session)
    return session


def start(user: User, ip: str | None, user_agent: str | None) -> dict:
    """Open a session and return the token pair; the caller commits."""
    session = _open(user, ip, user_agent, current_app.config["JWT_REFRESH_TTL_SECONDS"])
    return token_pair(user, session)


def start_ui(user: User, ip: str | None, user_agent: str | None, kind: str = "ui") -> dict:
    """Open a web UI session: one token, no refresh token, living ``UI_SESSION_TTL_SECONDS``
    (the UI never refreshes). Every request still checks the session, so logout,
    deactivation and role changes end it at once. The caller commits."""
    session = _open(user, ip, user_agent, current_app.config["UI_SESSION_TTL_SECONDS"], kind)
    return ui_token(user, session)


def ui_token(user: User, session: UserSession) -> dict:
    """An access token for a UI session, valid until the session expires."""
    remaining = round((session.expires_at - datetime.now(UTC)).total_seconds())
    token = create_access_token(identity=str(user.id),
                                additional_claims=_claims(user, session.id),
                                expires_delta=timedelta(seconds=max(remaining, 1)))
    return {"access_token": token, "token_type": "Bearer", "expires_in": max(remaining, 1),
            "session_id": session.id}


DEV_SESSION_KIND = "dev"


def reusable_dev_session(user: User, min_remaining_seconds: int = 3600) -> UserSession | None:
    """A live development (mock dev-token) session of the user with time left, if any: the UI
    asks a dev token before every request, which must not open a session each time."""
    return db.session.scalar(
        select(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None),
               UserSession.refresh_jti.startswith(f"{DEV_SESSION_KIND}-"),
               UserSession.expires_at > datetime.now(UTC)
               + timedelta(seconds=min_remaining_seconds))
        .order_by(desc(UserSession.created_at)).limit(1))


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


def _refusal(reason: str, message: str = "Invalid or expired refresh token",
             session_id=None) -> Unauthorized:
    audit.record_now("TOKEN_REFRESH_FAILED", "session", session_id, success=False,
                     details={"reason": reason})
    return Unauthorized(message)


def _refresh_claims(refresh_token: str) -> dict:
    try:
        claims = decode_token(refresh_token)
    except ExpiredSignatureError:
        raise _refusal("expired", "Refresh token has expired") from None
    except PyJWTError:
        raise _refusal("invalid_token") from None
    if claims.get("type") != "refresh" or not claims.get("sid") or not claims.get("jti"):
        raise _refusal("wrong_token_type")
    try:
        claims["sid"] = uuid.UUID(str(claims["sid"]))
        claims["sub"] = uuid.UUID(str(claims["sub"]))
    except ValueError:
        raise _refusal("invalid_token") from None
    return claims


def refresh(refresh_token: str, ip: str | None, user_agent: str | None) -> dict:
    """Rotate the session's refresh token and issue a new pair; commits.

    A refresh token that is no longer the session's current one revokes the session.
    """
    claims = _refresh_claims(refresh_token)
    session_id = claims["sid"]
    user = db.session.get(User, claims["sub"])
    if user is None or not user.is_active or claims.get("tv") != user.token_version:
        raise _refusal("revoked", session_id=session_id)
    new_jti = uuid.uuid4().hex
    rotated = db.session.execute(
        update(UserSession)
        .where(UserSession.id == session_id, UserSession.user_id == user.id,
               UserSession.refresh_jti == claims["jti"], UserSession.revoked_at.is_(None),
               UserSession.expires_at > func.now())
        .values(refresh_jti=new_jti, last_used_at=func.now(), ip_address=ip,
                user_agent=(user_agent or "")[:512] or None)
        .returning(UserSession.id)
    ).scalar()
    if rotated is None:
        db.session.rollback()
        _refuse_stale(session_id, user.id)
    session = db.session.get(UserSession, session_id, populate_existing=True)
    tokens = token_pair(user, session)
    audit.record("TOKEN_REFRESH", "session", session_id, actor=_actor(user, session_id))
    db.session.commit()
    return {**tokens, "user": user}


def _refuse_stale(session_id: uuid.UUID, user_id: uuid.UUID):
    """The refresh token is not the session's current one: revoke on reuse, then refuse."""
    revoked = db.session.execute(
        update(UserSession)
        .where(UserSession.id == session_id, UserSession.user_id == user_id,
               UserSession.revoked_at.is_(None), UserSession.expires_at > func.now())
        .values(revoked_at=func.now(), revoked_reason="refresh_token_reuse")
        .returning(UserSession.id)
    ).scalar()
    if revoked is None:
        db.session.rollback()
        raise _refusal("session_ended", session_id=session_id)
    audit.record("TOKEN_REUSE_DETECTED", "session", session_id, success=False,
                 details={"revokedSession": True})
    db.session.commit()
    mark_revoked(session_id)
    raise Unauthorized("Refresh token reuse detected; the session has been revoked")


def logout(identity, logout_url: str | None = None) -> dict:
    """End the caller's session (its access and refresh tokens stop working); commits."""
    if identity.session_id is None:
        raise ValidationError("Only a signed-in session can log out",
                              {"authMethod": identity.kind})
    _revoke_rows([identity.session_id], "logout")
    audit.record("LOGOUT", "session", identity.session_id)
    db.session.commit()
    mark_revoked(identity.session_id)
    return {"message": "Signed out", "logout_url": logout_url}


def active_query(user_id: uuid.UUID):
    return (select(UserSession)
            .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None),
                   UserSession.expires_at > func.now())
            .order_by(desc(UserSession.created_at), desc(UserSession.id)))


def revoke(identity, session_id: uuid.UUID) -> None:
    """Revoke one of the caller's own active sessions (others' ids are 404); commits."""
    session = db.session.get(UserSession, session_id)
    if (session is None or session.user_id != identity.user_id or session.revoked_at is not None
            or session.expires_at <= datetime.now(UTC)):
        raise NotFound.resource("session", session_id)
    _revoke_rows([session_id], "revoked_by_user")
    audit.record("SESSION_REVOKED", "session", session_id)
    db.session.commit()
    mark_revoked(session_id)


def revoke_all_for_user(user_id: uuid.UUID, reason: str) -> list[uuid.UUID]:
    """Revoke every active session of a user in the caller's unit of work.

    Returns the ids; the caller commits, then calls ``mark_revoked(*ids)``.
    """
    return list(db.session.scalars(
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=func.now(), revoked_reason=reason)
        .returning(UserSession.id)
    ))


def _revoke_rows(session_ids: list[uuid.UUID], reason: str) -> None:
    db.session.execute(
        update(UserSession).where(UserSession.id.in_(session_ids),
                                  UserSession.revoked_at.is_(None))
        .values(revoked_at=func.now(), revoked_reason=reason)
    )


def _actor(user: User, session_id: uuid.UUID):
    from app.auth.identity import Identity

    return Identity(user_id=user.id, username=user.username, roles=tuple(user.roles),
                    session_id=session_id)
