"""Sign-in: mock users for development, external (OpenShift/OIDC) users, and the user upsert
every provider shares."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import select

from app.errors import Conflict, Forbidden
from app.extensions import db
from app.models import Job, User
from app.services import audit, jobs, litellm_accounts, sessions

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


def roles_from_groups(username: str, groups: tuple[str, ...] | list[str]) -> list[str]:
    """Provider groups → roles (``ADMIN_GROUPS``, ``READONLY_ADMIN_GROUPS``,
    ``INITIAL_ADMIN_USERS``); everyone is a ``user``."""
    config = current_app.config
    roles = {"user"}
    if set(groups) & set(config["ADMIN_GROUPS"]) or username in config["INITIAL_ADMIN_USERS"]:
        roles.add("admin")
    if set(groups) & set(config["READONLY_ADMIN_GROUPS"]):
        roles.add("admin-readonly")
    return [role for role in ("admin", "admin-readonly", "user") if role in roles]


def _provisioning_job(user: User) -> Job | None:
    """A LiteLLM user is created on first sign-in (one job per user, however many logins)."""
    if user.litellm_user_id is not None:
        return None
    job, created = jobs.create("provision_user", {"user_id": str(user.id)},
                               requested_by=user.id, flight_key=f"user:{user.id}")
    return job if created else None


def external_login(external, ip: str | None, user_agent: str | None) -> dict:
    """Sign in a user the provider vouched for; commits.

    Group roles are added to the roles the user already has (roles granted in LiteMaaS are
    kept; demote through ``PATCH /users/{id}``).
    """
    clash = db.session.scalar(select(User).where(User.username == external.username))
    if clash is not None and (clash.oauth_provider, clash.oauth_subject) != (
            external.provider, external.subject):
        audit.record_now("LOGIN_FAILED", "user", clash.id, success=False,
                         details={"reason": "username_taken", "provider": external.provider})
        raise Conflict("This username belongs to another account", {"username": external.username})
    existing = db.session.scalar(select(User).where(
        User.oauth_provider == external.provider, User.oauth_subject == external.subject))
    granted = roles_from_groups(external.username, external.groups)
    roles = sorted(set(granted) | set(existing.roles if existing else ()))
    user, created = upsert_user(external.provider, external.subject, external.username,
                                external.email, external.full_name,
                                [r for r in ("admin", "admin-readonly", "user") if r in roles])
    db.session.flush()
    if not user.is_active:
        db.session.rollback()
        audit.record_now("LOGIN_FAILED", "user", user.id, success=False,
                         details={"reason": "inactive", "provider": external.provider})
        raise Forbidden("This account is deactivated")
    tokens = sessions.start(user, ip, user_agent)
    job = _provisioning_job(user)
    audit.record("LOGIN", "user", user.id, actor=_actor(user),
                 details={"provider": external.provider, "created": created,
                          "groups": list(external.groups)[:50],
                          "provisioningJobId": str(job.id) if job else None})
    db.session.commit()
    if job is not None:
        litellm_accounts.publish_after_commit(job)
    return {**tokens, "user": user}
