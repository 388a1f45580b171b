"""API keys as credentials: lookup by SHA-256 hash with a short Redis cache.

The cache holds what authentication needs (key state, expiry, owner and whether the owner is
active) for ``API_KEY_CACHE_TTL_SECONDS``. Whoever changes one of those facts calls
``invalidate_api_key_cache(key_hash)`` (or ``invalidate_user_api_keys``) **after** committing,
so the next request reads the database again. Redis being down only costs a database query.

A hash that matches no key is remembered too, for ``API_KEY_NEGATIVE_CACHE_TTL_SECONDS``: a
client hammering with a wrong, deleted or guessed key costs Redis reads, not database queries.
New keys are random, so no live key's hash is ever remembered as unknown.
"""

from __future__ import annotations

import json
import logging
import uuid

import redis
from flask import current_app
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import event, func, select, update
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db, redis_client, redis_key

log = logging.getLogger(__name__)

_FORGET = "litemaas_forget_api_key_hashes"


def _cache_key(key_hash: str) -> str:
    return redis_key("api-key", key_hash)


def lookup(key_hash: str) -> dict | None:
    """The cached facts about the key with this hash, or None when no such key exists."""
    try:
        cached = redis_client().get(_cache_key(key_hash))
    except redis.RedisError:
        cached = None
    if cached is not None:
        return json.loads(cached)  # "null": known to match no key
    entry = _load(key_hash)
    config = current_app.config
    ttl = (config["API_KEY_CACHE_TTL_SECONDS"] if entry is not None
           else config["API_KEY_NEGATIVE_CACHE_TTL_SECONDS"])
    if ttl > 0:
        try:
            redis_client().set(_cache_key(key_hash), json.dumps(entry), ex=ttl)
        except redis.RedisError:
            log.warning("could not cache an API key lookup (Redis unavailable)")
    return entry


def _load(key_hash: str) -> dict | None:
    from app.models import ApiKey, User

    row = db.session.execute(
        select(ApiKey.id, ApiKey.provisioning_state, ApiKey.revoked_at, ApiKey.expires_at,
               User.id, User.username, User.is_active, ApiKey.disabled_at)
        .join(User, User.id == ApiKey.user_id)
        .where(ApiKey.key_hash == key_hash)
    ).first()
    if row is None:
        return None
    key_id, state, revoked_at, expires_at, user_id, username, user_active, disabled_at = row
    return {
        "key_id": str(key_id),
        "state": state,
        "revoked": revoked_at is not None,
        "expires_at": expires_at.isoformat() if expires_at else None,
        "user_id": str(user_id),
        "username": username,
        "user_active": bool(user_active),
        "disabled": disabled_at is not None,  # blocked by the idle sweep until re-enabled
    }


def touch(key_id: str) -> None:
    """Record that a key authenticated a request (``last_used_at``), at most once a minute."""
    from app.models import ApiKey

    try:
        if not redis_client().set(redis_key("api-key-used", key_id), "1", ex=60, nx=True):
            return
    except redis.RedisError:
        return
    try:
        with db.engine.begin() as conn:
            conn.execute(update(ApiKey).where(ApiKey.id == uuid.UUID(key_id))
                         .values(last_used_at=func.now(), updated_at=ApiKey.updated_at))
    except SQLAlchemyError:
        log.warning("could not record an API key's last use")


def invalidate_api_key_cache(key_hash: str) -> None:
    """Forget the cached lookup of one key (call after committing a revoke, expiry or edit)."""
    try:
        redis_client().delete(_cache_key(key_hash))
    except redis.RedisError:
        log.warning("could not invalidate a cached API key (Redis unavailable)")


def invalidate_user_api_keys(user_id: uuid.UUID) -> None:
    """Forget the cached lookups of every key of a user (deactivation, reactivation)."""
    from app.models import ApiKey

    hashes = db.session.scalars(select(ApiKey.key_hash).where(ApiKey.user_id == user_id)).all()
    if not hashes:
        return
    try:
        redis_client().delete(*[_cache_key(h) for h in hashes])
    except redis.RedisError:
        log.warning("could not invalidate cached API keys (Redis unavailable)")


def forget_after_commit(key_hash: str) -> None:
    """Once the transaction commits, drop the API-key auth cache entry for this hash, so a
    revoked, rotated or failed key is refused at once."""
    db.session.info.setdefault(_FORGET, set()).add(key_hash)


@event.listens_for(FlaskSession, "after_commit")
def _forget_committed(session) -> None:
    for digest in session.info.pop(_FORGET, ()):
        invalidate_api_key_cache(digest)


@event.listens_for(FlaskSession, "after_rollback")
def _forget_nothing(session) -> None:
    session.info.pop(_FORGET, None)
