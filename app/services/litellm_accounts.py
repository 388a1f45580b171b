"""LiteLLM users and teams mirrored from LiteMaaS (run by provisioning jobs, never on a request).

Every function pushes the *current* database state, so running it twice, or running an older
job after a newer one, converges on the same LiteLLM state. A per-user / per-team advisory
lock serialises concurrent jobs for the same object; "already exists" answers count as
success. Budgets and limits left unset on a user fall back to ``DEFAULT_USER_*``.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from typing import Any

from flask import current_app
from sqlalchemy import func, select, update

from app.extensions import db
from app.litellm import LiteLLMBadRequest, LiteLLMConflict, LiteLLMNotFound, litellm_client
from app.litellm.durations import litellm_duration
from app.models import Team, TeamMember, User
from app.services import budgets

# A LiteMaaS-issued key acts in LiteLLM with its user's role. internal_user_viewer may chat and
# read its own keys and usage, but not create, change or delete keys, users or teams (LiteLLM
# answers 401 "Only proxy admin can ..."); internal_user could mint unbudgeted keys itself.
LITELLM_USER_ROLE = "internal_user_viewer"
# Team owners are plain members in LiteLLM: ownership lives in LiteMaaS, and a LiteLLM team
# admin could manage the team with its own key (open-source LiteLLM also refuses "admin").
LITELLM_TEAM_ROLES = {"owner": "user", "member": "user"}

log = logging.getLogger(__name__)


class ProvisioningError(Exception):
    """A permanent provisioning failure (the job fails with this message)."""


def _lock(kind: str, ident: uuid.UUID) -> None:
    """Serialise jobs on one object until the transaction ends."""
    db.session.execute(select(func.pg_advisory_xact_lock(
        func.hashtextextended(f"litellm-{kind}:{ident}", 0))))


def _number(value: Any) -> float | None:
    return float(value) if value is not None else None


def user_limits(user: User) -> dict[str, Any]:
    """What LiteLLM enforces for the user: the user's own values, else the platform defaults."""
    config = current_app.config
    limits = {
        "max_budget": float(budgets.enforced_user_budget(user.max_budget)),
        "tpm_limit": user.tpm_limit if user.tpm_limit is not None
        else config["DEFAULT_USER_TPM_LIMIT"],
        "rpm_limit": user.rpm_limit if user.rpm_limit is not None
        else config["DEFAULT_USER_RPM_LIMIT"],
    }
    if user.budget_duration:
        limits["budget_duration"] = litellm_duration(user.budget_duration)
    return limits


def push_user(user: User, *, reset_spend: bool = False) -> str:
    """Create the user in LiteLLM, or update it, with the current profile, limits and the
    viewer role (an update moves a user made with another role over); ``reset_spend`` also
    sets LiteLLM's spend counter (which it holds the budget against) back to 0.

    Returns "created" or "updated"; the caller sets ``litellm_user_id`` and commits.
    """
    client = litellm_client()
    profile = {"user_id": str(user.id), "user_alias": user.username,
               "user_role": LITELLM_USER_ROLE, **user_limits(user)}
    if reset_spend:
        profile["spend"] = 0.0
    if user.email:
        profile["user_email"] = user.email
    try:
        info = client.user_info(str(user.id))
        exists = bool(info.get("user_info"))
    except LiteLLMNotFound:
        exists = False
    if not exists:
        try:
            client.user_new(**profile, auto_create_key=False)
            return "created"
        except LiteLLMConflict:
            pass  # created meanwhile (or the e-mail is known): update it instead
    client.user_update(**profile)
    return "updated"


def sync_user(user_id: uuid.UUID, *, reset_spend: bool = False) -> dict:
    """Create or update the user's LiteLLM user with its budget and limits (``reset_spend``:
    and its spend counter at 0); commits."""
    _lock("user", user_id)
    user = db.session.get(User, user_id, populate_existing=True)
    if user is None:
        raise ProvisioningError(f"user {user_id} no longer exists")
    action = push_user(user, reset_spend=reset_spend)
    user.litellm_user_id = str(user.id)
    db.session.commit()
    result = {"userId": str(user.id), "action": action, **user_limits(user)}
    return {**result, "spendReset": True} if reset_spend else result


def _team_payload(team: Team) -> dict[str, Any]:
    # None is sent on purpose: LiteLLM's /team/update clears a limit given as null.
    return {"team_id": str(team.id), "team_alias": team.name,
            "max_budget": _number(team.max_budget), "tpm_limit": team.tpm_limit,
            "rpm_limit": team.rpm_limit, "budget_duration": litellm_duration(team.budget_duration)}


def _ensure_team(team: Team) -> tuple[str, dict]:
    client = litellm_client()
    payload = _team_payload(team)
    try:
        client.team_info(str(team.id))
    except LiteLLMNotFound:
        try:
            client.team_new(**{k: v for k, v in payload.items() if v is not None})
            return "created", client.team_info(str(team.id))
        except LiteLLMBadRequest as exc:
            if "already exists" not in exc.message:
                raise
    client.team_update(**payload)
    return "updated", client.team_info(str(team.id))


def _remote_members(info: dict) -> dict[str, str]:
    team_info = info.get("team_info") or {}
    return {str(m.get("user_id")): m.get("role") for m in team_info.get("members_with_roles") or []
            if m.get("user_id")}


def _is_ours(user_id: str) -> bool:
    try:
        uuid.UUID(user_id)
    except ValueError:
        return False  # LiteLLM's own members (e.g. the proxy admin) are left alone
    return True


def _member_rows(team: Team) -> list:
    return db.session.execute(
        select(TeamMember, User).join(User, User.id == TeamMember.user_id)
        .where(TeamMember.team_id == team.id)
    ).all()


def members_differ(team: Team, info: dict) -> bool:
    """Whether the LiteLLM team's members (ours, by id and role) differ from the team's here."""
    desired = {str(user.id): LITELLM_TEAM_ROLES[member.role] for member, user in _member_rows(team)}
    current = {uid: role for uid, role in _remote_members(info).items() if _is_ours(uid)}
    return desired != current


def _sync_members(team: Team, info: dict) -> dict[str, int]:
    client = litellm_client()
    rows = _member_rows(team)
    desired = {str(user.id): LITELLM_TEAM_ROLES[member.role] for member, user in rows}
    current = _remote_members(info)
    for _member, user in rows:
        if user.litellm_user_id is None:
            push_user(user)
            user.litellm_user_id = str(user.id)
    removed = [uid for uid, role in current.items()
               if _is_ours(uid) and desired.get(uid) != role]
    for uid in removed:
        try:
            client.team_member_delete(str(team.id), uid)
        except LiteLLMBadRequest as exc:
            if "not found in team" not in exc.message.lower():
                raise
    added = [uid for uid, role in desired.items() if current.get(uid) != role]
    for uid in added:
        try:
            client.team_member_add(str(team.id), {"user_id": uid, "role": desired[uid]})
        except LiteLLMBadRequest as exc:
            if "already in team" not in exc.message.lower():
                raise
    return {"membersAdded": len([u for u in added if u not in current]),
            "membersRemoved": len([u for u in removed if u not in desired]),
            "membersChanged": len([u for u in added if u in current])}


def sync_team(team_id: uuid.UUID) -> dict:
    """Create or update the LiteLLM team (budget, limits) and align its members; commits."""
    _lock("team", team_id)
    team = db.session.get(Team, team_id, populate_existing=True)
    if team is None:
        db.session.rollback()
        return {"teamId": str(team_id), "action": "skipped", "reason": "team was deleted"}
    action, info = _ensure_team(team)
    team.litellm_team_id = str(team.id)  # it exists in LiteLLM now, whatever comes next
    try:
        counts = _sync_members(team, info)
    except Exception:
        db.session.rollback()
        _record_team_id(team_id)
        raise
    db.session.commit()
    return {"teamId": str(team_id), "action": action, **counts}


def _record_team_id(team_id: uuid.UUID) -> None:
    """Keep the LiteLLM id of a team that exists there although aligning its members failed,
    so deleting the team removes it from LiteLLM and reconciliation sees it."""
    db.session.execute(update(Team).where(Team.id == team_id, Team.litellm_team_id.is_(None))
                       .values(litellm_team_id=str(team_id)))
    db.session.commit()


def delete_team(litellm_team_id: str) -> dict:
    """Delete a team from LiteLLM; a team LiteLLM does not know counts as deleted. Waits for
    a provisioning job of the same team still running, so it cannot re-create it after."""
    with contextlib.suppress(ValueError):  # not ours by id: nothing of ours provisions it
        _lock("team", uuid.UUID(litellm_team_id))
    try:
        litellm_client().team_delete([litellm_team_id])
        deleted = True
    except LiteLLMNotFound:
        deleted = False
    db.session.commit()
    return {"teamId": litellm_team_id, "deleted": deleted}
