"""Users: the admin views and changes (roles, active, budget, limits) and self-service.

Changing a user's roles or deactivating them invalidates every token they hold at once
(``token_version``), revokes their sessions and forgets their cached API keys. Budget and limit
changes are pushed to LiteLLM by a ``provision_user`` job. The last active admin can neither
lose the role nor be deactivated.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import Text, func, select
from sqlalchemy.dialects import postgresql

from app.auth.api_keys import invalidate_user_api_keys
from app.errors import Conflict, NotFound
from app.extensions import db
from app.models import ROLES, ApiKey, Job, Subscription, User
from app.services import audit, jobs, litellm_accounts, sessions
from app.services.listing import SortFields, matches

SORTS = SortFields({
    "username": User.username,
    "email": User.email,
    "createdAt": User.created_at,
    "lastLoginAt": User.last_login_at,
}, tiebreak=(User.id,))
LIMIT_FIELDS = ("max_budget", "tpm_limit", "rpm_limit", "budget_duration")
ADMIN_EDITABLE = ("roles", "is_active", *LIMIT_FIELDS)


def has_role(role: str):
    """``roles @> ARRAY[role]``: answered by the GIN index on users.roles."""
    return User.roles.op("@>")(postgresql.array([role], type_=Text))


def list_query(search: str | None = None, role: str | None = None,
               is_active: bool | None = None, sort: str = "username"):
    """Users matching the filters, in the requested order (``-field`` is descending)."""
    stmt = select(User)
    if search:
        stmt = stmt.where(matches(search, User.username, User.email, User.full_name))
    if role:
        stmt = stmt.where(has_role(role))
    if is_active is not None:
        stmt = stmt.where(User.is_active.is_(is_active))
    return stmt.order_by(*SORTS.order(sort))


def get(user_id: uuid.UUID) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound.resource("user", user_id)
    return user


def detail(user: User) -> dict[str, Any]:
    """A user as admins see it: profile, effective limits and what they own."""
    def count(model, *where) -> int:
        return db.session.scalar(select(func.count()).select_from(model).where(*where))

    return {
        **{c.name: getattr(user, c.name) for c in User.__table__.columns},
        "effective_limits": litellm_accounts.user_limits(user),
        "subscriptions_count": count(Subscription, Subscription.user_id == user.id),
        "active_subscriptions_count": count(Subscription, Subscription.user_id == user.id,
                                            Subscription.status == "active"),
        "api_keys_count": count(ApiKey, ApiKey.user_id == user.id),
        "active_api_keys_count": count(ApiKey, ApiKey.user_id == user.id,
                                       ApiKey.revoked_at.is_(None),
                                       ApiKey.provisioning_state.in_(("pending", "active"))),
    }


def normalize_roles(roles: list[str]) -> list[str]:
    """Known roles only, no duplicates, ``user`` always kept (every account is a user)."""
    wanted = set(roles) | {"user"}
    return [role for role in ROLES if role in wanted]


def _guard_last_admin(user: User, roles: list[str], is_active: bool) -> None:
    if not (user.is_active and user.has_role("admin")):
        return
    if is_active and "admin" in roles:
        return
    # Serialise admin demotions so two admins cannot demote each other at the same time.
    db.session.execute(select(func.pg_advisory_xact_lock(
        func.hashtextextended("litemaas-last-admin", 0))))
    others = db.session.scalar(
        select(func.count()).select_from(User)
        .where(User.id != user.id, User.is_active.is_(True), has_role("admin"))
    )
    if not others:
        raise Conflict("The last active admin cannot be removed or deactivated",
                       {"userId": str(user.id)})


def _changed(user: User, changes: dict[str, Any]) -> dict[str, dict]:
    diff = {}
    for name, value in changes.items():
        old = getattr(user, name)
        if isinstance(old, Decimal) and value is not None:
            value = Decimal(str(value))
        if name == "roles":
            old, value = sorted(old), sorted(value)
        if old != value:
            diff[name] = {"from": old, "to": value}
    return diff


def update(user_id: uuid.UUID, changes: dict[str, Any], actor) -> tuple[User, Job | None]:
    """Apply an admin's changes; returns the user and the provisioning job (if any); commits."""
    user = db.session.get(User, user_id, with_for_update=True)
    if user is None:
        raise NotFound.resource("user", user_id)
    changes = {k: v for k, v in changes.items() if k in ADMIN_EDITABLE}
    if "roles" in changes:
        changes["roles"] = normalize_roles(changes["roles"])
    diff = _changed(user, changes)
    roles = changes.get("roles", user.roles)
    is_active = changes.get("is_active", user.is_active)
    _guard_last_admin(user, roles, is_active)
    for name in diff:
        setattr(user, name, changes[name])
    if "roles" in diff:  # roles added here are LiteMaaS grants; removed ones are gone
        user.idp_roles = [role for role in user.idp_roles or () if role in user.roles]
    access_changed = "roles" in diff or "is_active" in diff
    revoked: list[uuid.UUID] = []
    if access_changed:
        user.token_version += 1  # every access and refresh token of the user stops working
        revoked = sessions.revoke_all_for_user(user.id, "access_changed")
    job = None
    if any(name in diff for name in LIMIT_FIELDS):
        job, _ = jobs.create("provision_user", {"user_id": str(user.id)},
                             requested_by=getattr(actor, "user_id", None))
    if "is_active" in diff:  # (de)activation blocks or unblocks the user's keys in LiteLLM too
        from app.services import key_provisioning

        key_provisioning.create_owner_keys_push(user.id, getattr(actor, "user_id", None))
    if diff:
        audit.record("USER_UPDATE", "user", user.id,
                     details={"changes": _jsonable(diff), "jobId": str(job.id) if job else None,
                              "sessionsRevoked": len(revoked)})
    db.session.commit()  # one commit point; the jobs are published after it
    sessions.mark_revoked(*revoked)
    if access_changed:
        invalidate_user_api_keys(user.id)
    return user, job


def _jsonable(diff: dict[str, dict]) -> dict[str, dict]:
    def plain(value):
        return float(value) if isinstance(value, Decimal) else value

    return {name: {"from": plain(d["from"]), "to": plain(d["to"])} for name, d in diff.items()}


# --- self-service --------------------------------------------------------------------------


def me(identity) -> User:
    """The caller's own user row (an admin API key has none: 404)."""
    if identity.user_id is None:
        raise NotFound("The admin API key has no user profile", {"resource": "user"})
    return get(identity.user_id)


def update_me(identity, changes: dict[str, Any]) -> User:
    """Change one's own profile (full name only); commits."""
    user = me(identity)
    diff = _changed(user, {k: v for k, v in changes.items() if k == "full_name"})
    for name in diff:
        setattr(user, name, changes[name])
    if diff:
        audit.record("PROFILE_UPDATE", "user", user.id, details={"changes": _jsonable(diff)})
    db.session.commit()
    return user


def activity_query(identity, action: str | None = None):
    """The caller's own audit trail, newest first."""
    from app.models import AuditLog

    user = me(identity)
    stmt = select(AuditLog).where(AuditLog.actor_id == user.id)
    if action:
        stmt = stmt.where(AuditLog.action == action.upper())
    return stmt.order_by(AuditLog.created_at.desc(), AuditLog.id.desc())


# --- the admin user dialog: budget, spend, bulk limits ----------------------------------------

BULK_LIMIT_FIELDS = ("max_budget", "tpm_limit", "rpm_limit")


def admin_view(user: User) -> dict[str, Any]:
    """The user dialog's view: ``detail`` plus spend, the budget period's end and whether
    LiteLLM holds the user."""
    from app.services import budgets

    period = budgets.period_for(user.budget_duration, datetime.now(UTC).date())
    reset_at = (datetime.combine(period.next_start, time(), tzinfo=UTC)
                if user.budget_duration and period.next_start else None)
    view = detail(user)
    enforced = view["effective_limits"]  # what LiteLLM holds the user to, defaults included
    return {**view, "max_budget": enforced["max_budget"], "tpm_limit": enforced["tpm_limit"],
            "rpm_limit": enforced["rpm_limit"], "own_limits": {
                name: getattr(user, name) for name in LIMIT_FIELDS},
            "current_spend": user.spend, "budget_reset_at": reset_at,
            "sync_status": "synced" if user.litellm_user_id else "pending"}


def update_budget_limits(user_id: uuid.UUID, changes: dict[str, Any],
                         actor) -> tuple[User, Job | None]:
    """Change a user's budget and limits (null: the platform default); a job pushes them to
    LiteLLM. One commit (``update``)."""
    return update(user_id, {k: v for k, v in changes.items() if k in LIMIT_FIELDS}, actor)


def reset_spend(user_id: uuid.UUID, actor) -> tuple[User, Job]:
    """Set the user's spend back to 0 here and, by the returned job, in LiteLLM (which holds
    the user's budget against its own counter). One commit."""
    user = db.session.get(User, user_id, with_for_update=True)
    if user is None:
        raise NotFound.resource("user", user_id)
    previous = user.spend
    user.spend = Decimal(0)
    job, _ = jobs.create("provision_user", {"user_id": str(user.id), "reset_spend": True},
                         requested_by=getattr(actor, "user_id", None))
    audit.record("USER_SPEND_RESET", "user", user.id,
                 details={"previousSpend": str(previous), "jobId": str(job.id)})
    db.session.commit()  # the job is published after this commit
    return user, job


def request_bulk_limits(changes: dict[str, Any], actor) -> tuple[Job, bool]:
    """Ask for every active user's budget/limits to be set (a job with progress, one at a
    time: asking again for the same values while it runs gets the running job, other values
    are refused with 409). One commit."""
    changes = {k: _plain(v) for k, v in changes.items() if k in BULK_LIMIT_FIELDS}
    job, created = jobs.create("bulk_update_user_limits", {"changes": changes},
                               requested_by=getattr(actor, "user_id", None))
    if not created and job.params.get("changes") != changes:
        raise Conflict("Another bulk limits update is running; try again when it has finished",
                       {"jobId": str(job.id), "changes": job.params.get("changes")},
                       code="BULK_UPDATE_RUNNING")
    if created:
        audit.record("USERS_BULK_LIMITS_REQUESTED", "job", job.id,
                     details={"changes": changes})
    db.session.commit()  # the job is published after this commit
    return job, created


def run_bulk_update_limits(params: dict[str, Any], progress) -> dict[str, Any]:
    """The job: set the limits on every active user in one statement, then push each user to
    LiteLLM, reporting progress; a user LiteLLM refuses is listed, the others go on."""
    from sqlalchemy import update as sql_update

    changes = {k: v for k, v in params["changes"].items() if k in BULK_LIMIT_FIELDS}
    ids = sorted(db.session.scalars(
        sql_update(User).where(User.is_active.is_(True)).values(**changes)
        .returning(User.id).execution_options(synchronize_session=False)), key=str)
    db.session.commit()  # a re-run (redelivery) sets the same values again: idempotent
    errors, done = [], 0
    for index, user_id in enumerate(ids, start=1):
        try:
            litellm_accounts.sync_user(user_id)
            done += 1
        except Exception as exc:  # one user's failure must not stop the others
            db.session.rollback()
            username = db.session.scalar(select(User.username).where(User.id == user_id))
            errors.append({"userId": str(user_id), "username": username,
                           "error": _reason(exc)})
        if index % 10 == 0 or index == len(ids):
            progress(int(index * 100 / max(1, len(ids))), f"{index}/{len(ids)} users")
    result = {"totalUsers": len(ids), "successCount": done, "failedCount": len(errors),
              "errors": errors[:100], "processedAt": datetime.now(UTC).isoformat(),
              "changes": changes}
    audit.record("USERS_BULK_LIMITS_UPDATED", "user", None,
                 details={k: v for k, v in result.items() if k != "errors"})
    db.session.commit()
    return result


def _reason(exc: Exception) -> str:
    from app.errors import loggable_error

    return loggable_error(exc)[:300]


def _plain(value):
    return float(value) if isinstance(value, Decimal) else value
