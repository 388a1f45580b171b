"""API key values: generated here, never stored in clear.

A value is ``sk-`` + 48 url-safe characters. The database keeps its SHA-256 (LiteLLM's token,
``app.litellm.key_hash``), a display prefix and, with ``ENCRYPTION_KEY``, a Fernet-encrypted
copy. A key that could not be provisioned yet keeps its value encrypted in Redis
(``PENDING_KEY_TTL_SECONDS``) until a job completes it.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import uuid

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app

from app.extensions import redis_client, redis_key
from app.litellm import key_hash
from app.models import ApiKey

log = logging.getLogger(__name__)

KEY_RANDOM_BYTES = 36  # token_urlsafe(36) → 48 characters


def new_key_value() -> str:
    return "sk-" + secrets.token_urlsafe(KEY_RANDOM_BYTES)


def display_prefix(raw_key: str) -> str:
    return f"{raw_key[:8]}\u2026{raw_key[-4:]}"


def _storage_cipher() -> Fernet | None:
    configured = current_app.config.get("ENCRYPTION_KEY")
    return Fernet(configured) if configured else None


DEV_TRANSIT_SEED = b"litemaas-development-only-transit-key"


def _transit_cipher() -> Fernet:
    """Encrypts key values held in Redis: TRANSIT_ENCRYPTION_KEY, else ENCRYPTION_KEY (one of
    them is required in production). Never derived from JWT_SECRET: a token-signing secret is
    not an encryption key. Development and tests without either use a fixed, public key."""
    configured = (current_app.config.get("TRANSIT_ENCRYPTION_KEY")
                  or current_app.config.get("ENCRYPTION_KEY"))
    if configured:
        return Fernet(configured)
    if current_app.config["APP_ENV"] == "production":  # settings refuse this; never guess
        raise RuntimeError("TRANSIT_ENCRYPTION_KEY (or ENCRYPTION_KEY) is required")
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(DEV_TRANSIT_SEED).digest()))


def reveal_enabled() -> bool:
    return _storage_cipher() is not None


def encrypt_for_storage(raw_key: str) -> bytes | None:
    """The ``encrypted_key`` column value: None unless ENCRYPTION_KEY is set."""
    cipher = _storage_cipher()
    return cipher.encrypt(raw_key.encode()) if cipher else None


def decrypt_stored(key: ApiKey) -> str | None:
    cipher = _storage_cipher()
    if cipher is None or key.encrypted_key is None:
        return None
    try:
        return cipher.decrypt(bytes(key.encrypted_key)).decode()
    except InvalidToken:
        log.warning("api key %s: encrypted copy does not open with ENCRYPTION_KEY", key.id)
        return None


def encrypt_secret(value: str) -> bytes:
    """Any other secret kept in the database (a model's provider key): Fernet with
    ENCRYPTION_KEY, else the transit key (production requires one of them)."""
    return (_storage_cipher() or _transit_cipher()).encrypt(value.encode())


def decrypt_secret(blob: bytes | None) -> str | None:
    """``encrypt_secret``'s value back, or None (absent, or the key changed since)."""
    if blob is None:
        return None
    for cipher in (_storage_cipher(), _transit_cipher()):
        if cipher is None:
            continue
        try:
            return cipher.decrypt(bytes(blob)).decode()
        except InvalidToken:
            continue
    return None


def _held_name(key_id: uuid.UUID) -> str:
    return redis_key("pending-api-key", str(key_id))


def hold_value(key_id: uuid.UUID, raw_key: str) -> None:
    """Keep a not-yet-provisioned key's value (encrypted) until a job completes it."""
    ttl = current_app.config["PENDING_KEY_TTL_SECONDS"]
    redis_client().set(_held_name(key_id), _transit_cipher().encrypt(raw_key.encode()), ex=ttl)


def release_value(key_id: uuid.UUID) -> None:
    try:
        redis_client().delete(_held_name(key_id))
    except Exception:  # it expires on its own
        log.warning("could not drop the held value of api key %s", key_id)


def recover_value(key: ApiKey) -> str | None:
    """The raw value of a key, if this server can still produce it."""
    stored = decrypt_stored(key)
    if stored is not None:
        return stored
    held = redis_client().get(_held_name(key.id))
    if held is None:
        return None
    try:
        value = _transit_cipher().decrypt(held).decode()
    except InvalidToken:
        return None
    return value if key_hash(value) == key.key_hash else None
