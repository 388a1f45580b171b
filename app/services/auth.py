"""Sign-in: mock users for development, external (OpenShift/OIDC) users, and the user upsert
every provider shares."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import select

from app.errors import Conflict, Forbidden
from app.extensions import db
from app.models import Job, User
from app.services import audit, jobs, sessions, settings

MOCK_USERS = {
    "admin": {"full_name": "System Administrator", "roles": ["admin", "user"]},
    "adminro": {"full_name": "Read-only Administrator", "roles": ["admin-readonly", "user"]},
    "user": {"full_name": "Regular User", "roles": ["user"]},
}


def upsert_user(provider: str, subject: str, username: str, email: str | None,
                full_name: str | None, roles: list[str],
                idp_roles: list[str] | None = None) -> tuple[User, bool]:
    """Find or create the user for an external identity (bound to the provider's subject);
    returns (user, created)."""
    user = db.session.scalar(
        select(User).where(User.oauth_provider == provider, User.oauth_subject == subject)
    )
    created = user is None
    if created:
        user = User(oauth_provider=provider, oauth_subject=subject, username=username,
                    roles=roles)
        settings.apply_user_defaults(user)  # what an admin set for new users, if anything
        db.session.add(user)
    elif sorted(user.roles) != sorted(roles):
        user.roles = roles
        user.token_version += 1
    if idp_roles is not None:
        user.idp_roles = idp_roles
    user.email = email
    user.full_name = full_name
    user.last_login_at = datetime.now(UTC)
    return user, created


def mock_login(username: str, ip: str | None, user_agent: str | None,
               session: str = "api") -> dict:
    """Sign in as a mock user (development and tests only); commits.

    ``session``: ``api`` (token pair), ``ui`` (one UI-session token) or ``dev`` (the UI's
    dev token, asked before every request: an open dev session is reused, not audited again).
    """
    preset = MOCK_USERS.get(username, {"full_name": username, "roles": ["user"]})
    existing = db.session.scalar(select(User).where(User.username == username))
    if existing is not None and existing.oauth_provider != "mock":
        raise Forbidden("This username belongs to a real account")
    if session == "dev" and existing is not None and existing.is_active:
        reusable = sessions.reusable_dev_session(existing)
        if reusable is not None:
            return {**sessions.ui_token(existing, reusable), "user": existing}
    roles = existing.roles if existing is not None else preset["roles"]
    user, created = upsert_user("mock", username, username, f"{username}@example.com",
                                preset["full_name"], roles)
    db.session.flush()
    if not user.is_active:
        audit.record_now("LOGIN_FAILED", "user", user.id, success=False,
                         details={"reason": "inactive", "provider": "mock"})
        raise Forbidden("This account is deactivated")
    tokens = _open_session(user, ip, user_agent, session)
    job = _provisioning_job(user)  # the same LiteLLM user as every other sign-in
    audit.record("LOGIN", "user", user.id, actor=_actor(user),
                 details={"provider": "mock", "created": created, "session": session,
                          "provisioningJobId": str(job.id) if job else None})
    db.session.commit()
    return {**tokens, "user": user}


def _open_session(user: User, ip: str | None, user_agent: str | None, session: str) -> dict:
    if session == "api":
        return sessions.start(user, ip, user_agent)
    return sessions.start_ui(user, ip, user_agent, kind=session)


def _actor(user: User):
    from app.auth.identity import Identity

    return Identity(user_id=user.id, username=user.username, roles=tuple(user.roles))


def roles_from_groups(external) -> list[str]:
    """The roles the provider grants now: groups (``ADMIN_GROUPS``, ``READONLY_ADMIN_GROUPS``)
    and ``INITIAL_ADMIN_USERS``, which match only what the provider vouches for (a verified
    email, an OpenShift user name, or ``<provider>:<subject>``), never a self-chosen name."""
    config = current_app.config
    roles = set()
    initial = set(config["INITIAL_ADMIN_USERS"])
    vouched = {f"{external.provider}:{external.subject}"}
    if external.email:
        vouched.add(external.email)
    if external.username_verified:
        vouched.add(external.username)
    if set(external.groups) & set(config["ADMIN_GROUPS"]) or vouched & initial:
        roles.add("admin")
    if set(external.groups) & set(config["READONLY_ADMIN_GROUPS"]):
        roles.add("admin-readonly")
    return [role for role in ("admin", "admin-readonly") if role in roles]


def merged_roles(user: User | None, granted: list[str]) -> tuple[list[str], list[str]]:
    """(roles, idp_roles) after a sign-in: roles granted in LiteMaaS stay; roles that came
    from the provider follow what it grants now (a role from a removed group is gone)."""
    local = set()
    if user is not None:
        local = set(user.roles) - set(user.idp_roles or ()) - {"user"}
    idp = set(granted) - local
    roles = local | idp | {"user"}
    order = ("admin", "admin-readonly", "user")
    return [r for r in order if r in roles], [r for r in order if r in idp]


def _provisioning_job(user: User) -> Job | None:
    """A LiteLLM user is created on first sign-in (one job per user, however many logins).
    Background work of the platform, not a job the user asked for: it does not count
    against the user's MAX_QUEUED_JOBS_PER_USER."""
    if user.litellm_user_id is not None:
        return None
    job, created = jobs.create("provision_user", {"user_id": str(user.id)},
                               requested_by=None, flight_key=f"user:{user.id}")
    return job if created else None


def external_login(external, ip: str | None, user_agent: str | None,
                   session: str = "api") -> dict:
    """Sign in a user the provider vouched for; commits.

    The account is the provider's subject. Roles granted in LiteMaaS are kept; roles from
    groups follow the groups (``merged_roles``). ``session``: ``api`` (token pair) or ``ui``.
    """
    clash = db.session.scalar(select(User).where(User.username == external.username))
    if clash is not None and (clash.oauth_provider, clash.oauth_subject) != (
            external.provider, external.subject):
        audit.record_now("LOGIN_FAILED", "user", clash.id, success=False,
                         details={"reason": "username_taken", "provider": external.provider})
        raise Conflict("This username belongs to another account", {"username": external.username})
    existing = db.session.scalar(select(User).where(
        User.oauth_provider == external.provider, User.oauth_subject == external.subject))
    roles, idp_roles = merged_roles(existing, roles_from_groups(external))
    user, created = upsert_user(external.provider, external.subject, external.username,
                                external.email, external.full_name, roles, idp_roles)
    db.session.flush()
    if not user.is_active:
        db.session.rollback()
        audit.record_now("LOGIN_FAILED", "user", user.id, success=False,
                         details={"reason": "inactive", "provider": external.provider})
        raise Forbidden("This account is deactivated")
    tokens = _open_session(user, ip, user_agent, session)
    job = _provisioning_job(user)
    audit.record("LOGIN", "user", user.id, actor=_actor(user),
                 details={"provider": external.provider, "created": created,
                          "session": session, "groups": list(external.groups)[:50],
                          "idpRoles": idp_roles,
                          "provisioningJobId": str(job.id) if job else None})
    db.session.commit()
    return {**tokens, "user": user}
