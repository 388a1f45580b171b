"""H2 — production refuses known, placeholder and low-entropy JWT secrets; every token must
carry ``sid``, ``iss`` and ``aud`` (verified); the Redis transit key is not derived from
JWT_SECRET (TRANSIT_ENCRYPTION_KEY or ENCRYPTION_KEY, required in production)."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
import uuid
from pathlib import Path

import jwt
import pytest
from cryptography.fernet import Fernet, InvalidToken
from flask_jwt_extended import decode_token

from app.extensions import db, redis_client
from app.models import User
from app.services import key_secrets, sessions
from config.settings import ConfigError, load_settings
from tests.support.apps import extra_app

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {"APP_ENV": "production", "DATABASE_URL": "postgresql://x/y",
              "REDIS_URL": "redis://localhost/0", "OAUTH_CLIENT_ID": "id",
              "OAUTH_CLIENT_SECRET": "s", "OAUTH_ISSUER_URL": "https://issuer",
              "OAUTH_CALLBACK_URL": "https://portal.example.com/api/auth/callback",
              "LITELLM_API_KEY": "sk-master",
              "TRANSIT_ENCRYPTION_KEY": Fernet.generate_key().decode()}


def _example_secret() -> str:
    """The JWT_SECRET of .env.example at the reviewed commit, and whatever it holds now."""
    text = (ROOT / ".env.example").read_text()
    found = re.search(r"^JWT_SECRET=(\S*)", text, re.M)
    return found.group(1) if found and found.group(1) else ""


WEAK = {
    "old-env-example": "change-me-to-a-long-random-string-at-least-32-chars",
    "dev-default": "dev-only-insecure-jwt-secret-change-me",
    "upstream-example": "your-super-secret-jwt-key-change-this-in-production",
    # a placeholder word, however random the rest
    "placeholder-word": "CHANGEME-8f1c2e7a9b3d4c5e6f708192a3b4c5d6e7f80912a3b4",
    "one-char": "x" * 64,  # long, but no entropy
    "short-pattern": "abcd" * 16,
    "digits-pattern": "0123456789" * 4,
    "random-but-short": "q7T-x2LmP0aZ9sWk",
}
STRONG = {"urlsafe": lambda: secrets.token_urlsafe(48), "hex": lambda: secrets.token_hex(32),
          "base64": lambda: base64.b64encode(secrets.token_bytes(32)).decode()}


@pytest.mark.parametrize("kind", sorted(WEAK))
def test_production_refuses_known_placeholder_and_weak_secrets(kind):
    secret = WEAK[kind]
    with pytest.raises(ConfigError, match="JWT_SECRET"):
        load_settings({**PRODUCTION, "JWT_SECRET": secret}).validate()


def test_production_refuses_the_secret_of_env_example():
    secret = _example_secret()
    with pytest.raises(ConfigError, match="JWT_SECRET"):
        load_settings({**PRODUCTION, "JWT_SECRET": secret}).validate()


@pytest.mark.parametrize("kind", sorted(STRONG))
def test_production_accepts_random_secrets(kind):
    secret = STRONG[kind]()
    assert secret == load_settings({**PRODUCTION, "JWT_SECRET": secret}).validate().JWT_SECRET


def test_production_requires_a_transit_key():
    env = {**PRODUCTION, "JWT_SECRET": secrets.token_urlsafe(48), "TRANSIT_ENCRYPTION_KEY": ""}
    with pytest.raises(ConfigError, match="TRANSIT_ENCRYPTION_KEY"):
        load_settings(env).validate()
    env["ENCRYPTION_KEY"] = Fernet.generate_key().decode()
    assert load_settings(env).validate()


@pytest.fixture
def member(app):
    with app.app_context():
        user = User(username="member", oauth_provider="mock", oauth_subject="member",
                    roles=["user"])
        db.session.add(user)
        db.session.flush()
        issued = sessions.start(user, "127.0.0.1", "t")
        db.session.commit()
        claims = decode_token(issued["access_token"])
        db.session.remove()
        return issued, claims


def _forge(settings, claims: dict, drop: str | None = None, **changes) -> str:
    forged = {**claims, **changes, "iat": int(time.time()), "exp": int(time.time()) + 600}
    if drop:
        forged.pop(drop)
    return jwt.encode(forged, settings.JWT_SECRET, algorithm="HS256")


def test_issued_tokens_carry_sid_iss_and_aud(member, settings):
    issued, claims = member
    assert claims["iss"] == settings.JWT_ISSUER and claims["aud"] == settings.JWT_AUDIENCE
    assert uuid.UUID(claims["sid"]) == issued["session_id"]


def test_a_genuine_token_works(client, member, settings):
    _, claims = member
    token = _forge(settings, claims)
    assert client.get("/api/v1/auth/me",
                      headers={"Authorization": f"Bearer {token}"}).status_code == 200


@pytest.mark.parametrize(("drop", "changes"), [
    ("sid", {}),  # a token without a session skips revocation: refused
    ("iss", {}),
    ("aud", {}),
    (None, {"iss": "someone-else"}),
    (None, {"aud": "another-service"}),
    (None, {"sid": "not-a-session-id"}),
])
def test_tokens_without_sid_iss_or_aud_are_refused(client, member, settings, drop, changes):
    _, claims = member
    token = _forge(settings, claims, drop, **changes)
    response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_transit_key_is_not_derived_from_the_jwt_secret(app, settings):
    key_id = uuid.uuid4()
    with app.app_context():
        key_secrets.hold_value(key_id, "sk-held-value")
        held = redis_client().get(key_secrets._held_name(key_id))
    old_derivation = Fernet(base64.urlsafe_b64encode(hashlib.sha256(
        b"litemaas-pending-api-key:" + settings.JWT_SECRET.encode()).digest()))
    with pytest.raises(InvalidToken):
        old_derivation.decrypt(held)


def test_transit_key_setting_encrypts_held_values(settings):
    transit = Fernet.generate_key().decode()
    key_id = uuid.uuid4()
    with extra_app(settings, TRANSIT_ENCRYPTION_KEY=transit) as app, app.app_context():
        key_secrets.hold_value(key_id, "sk-held-value")
        held = redis_client().get(key_secrets._held_name(key_id))
        redis_client().delete(key_secrets._held_name(key_id))
    assert Fernet(transit).decrypt(held) == b"sk-held-value"
