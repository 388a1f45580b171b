"""Sign-in: mock users for development and the user upsert every provider shares."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from app.errors import Forbidden
from app.extensions import db
from app.models import User
from app.services import audit, sessions

MOCK_USERS = {
    "admin": {"full_name": "System Administrator", "roles": ["admin", "user"]},
    "adminro": {"full_name": "Read-only Administrator", "roles": ["admin-readonly", "user"]},
    "user": {"full_name": "Regular User", "roles": ["user"]},
}


def upsert_user(provider: str, subject: str, username: str, email: str | None,
                full_name: str | None, roles: list[str]) -> tuple[User, bool]:
    """Find or create the user for an external identity; returns (user, created)."""
    user = db.session.scalar(
        select(User).where(User.oauth_provider == provider, User.oauth_subject == subject)
    )
    created = user is None
    if created:
        user = User(oauth_provider=provider, oauth_subject=subject, username=username,
                    roles=roles)
        db.session.add(user)
    elif sorted(user.roles) != sorted(roles):
        user.roles = roles
        user.token_version += 1
    user.email = email
    user.full_name = full_name
    user.last_login_at = datetime.now(UTC)
    return user, created


def mock_login(username: str, ip: str | None, user_agent: str | None) -> dict:
    """Sign in as a mock user (development and tests only); commits."""
    preset = MOCK_USERS.get(username, {"full_name": username, "roles": ["user"]})
    existing = db.session.scalar(select(User).where(User.username == username))
    if existing is not None and existing.oauth_provider != "mock":
        raise Forbidden("This username belongs to a real account")
    roles = existing.roles if existing is not None else preset["roles"]
    user, created = upsert_user("mock", username, username, f"{username}@example.com",
                                preset["full_name"], roles)
    db.session.flush()
    if not user.is_active:
        audit.record_now("LOGIN_FAILED", "user", user.id, success=False,
                         details={"reason": "inactive", "provider": "mock"})
        raise Forbidden("This account is deactivated")
    tokens = sessions.start(user, ip, user_agent)
    audit.record("LOGIN", "user", user.id, details={"provider": "mock", "created": created},
                 actor=_actor(user))
    db.session.commit()
    return {**tokens, "user": user}


def _actor(user: User):
    from app.auth.identity import Identity

    return Identity(user_id=user.id, username=user.username, roles=tuple(user.roles))
