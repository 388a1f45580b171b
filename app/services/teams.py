"""Teams and their members (owner | member), mirrored to LiteLLM by ``provision_team`` jobs.

Users see the teams they belong to (others' team ids answer 404); admins and readonly admins
see every team. Admins create, change and delete teams (budgets and limits included); a team's
owners manage its members; any member may leave. A non-admin cannot remove or demote a team's
last owner.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import and_, case, func, select

from app.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.extensions import db
from app.models import ApiKey, Job, Team, TeamMember, User
from app.services import audit, jobs
from app.services.listing import matches

LITELLM_FIELDS = ("name", "max_budget", "budget_duration", "tpm_limit", "rpm_limit")
EDITABLE = (*LITELLM_FIELDS, "description")


def _member_count():
    return (select(func.count()).select_from(TeamMember)
            .where(TeamMember.team_id == Team.id).correlate(Team).scalar_subquery())


def list_query(identity, search: str | None = None):
    """Teams the caller may see, with member counts and the caller's role, by name."""
    my_role = (select(TeamMember.role)
               .where(TeamMember.team_id == Team.id, TeamMember.user_id == identity.user_id)
               .correlate(Team).scalar_subquery())
    stmt = select(Team, _member_count().label("member_count"), my_role.label("my_role"))
    if not identity.can_read_all:
        stmt = stmt.where(Team.members.any(TeamMember.user_id == identity.user_id))
    if search:
        stmt = stmt.where(matches(search, Team.name, Team.description))
    return stmt.order_by(Team.name, Team.id)


def view(team: Team, member_count: int | None = None, my_role: str | None = None) -> dict:
    if member_count is None:
        member_count = db.session.scalar(
            select(func.count()).select_from(TeamMember).where(TeamMember.team_id == team.id))
    return {**{c.name: getattr(team, c.name) for c in Team.__table__.columns},
            "member_count": member_count, "my_role": my_role}


def _role_of(team_id: uuid.UUID, user_id: uuid.UUID | None) -> str | None:
    if user_id is None:
        return None
    return db.session.scalar(select(TeamMember.role).where(TeamMember.team_id == team_id,
                                                           TeamMember.user_id == user_id))


def get_visible(team_id: uuid.UUID, identity) -> tuple[Team, str | None]:
    """The team and the caller's role in it; 404 unless the caller is a member or an admin."""
    team = db.session.get(Team, team_id)
    role = _role_of(team_id, identity.user_id) if team is not None else None
    if team is None or (role is None and not identity.can_read_all):
        raise NotFound.resource("team", team_id)
    return team, role


def _require_manager(team: Team, role: str | None, identity) -> None:
    if identity.is_admin or role == "owner":
        return
    raise Forbidden("Only the team's owners or an admin can manage its members",
                    {"teamId": str(team.id), "yourRole": role})


def _provision(team: Team, actor) -> Job:
    job, _ = jobs.create("provision_team", {"team_id": str(team.id)},
                         requested_by=getattr(actor, "user_id", None))
    return job


def _active_user(user_id: uuid.UUID) -> User:
    user = db.session.get(User, user_id)
    if user is None or not user.is_active:
        raise Unprocessable("No active user with this id", {"userId": str(user_id)})
    return user


def _addable_user(user_id: uuid.UUID, identity) -> User:
    """The active user to add. A team owner who is not an admin gets one answer (404) for an
    unknown id and an inactive user alike, so adding is no oracle of who exists."""
    if identity.is_admin:
        return _active_user(user_id)
    user = db.session.get(User, user_id)
    if user is None or not user.is_active:
        raise NotFound("No user you can add with this id", {"resource": "user"})
    return user


def _name_free(name: str, team_id: uuid.UUID | None = None) -> None:
    clash = db.session.scalar(select(Team.id).where(func.lower(Team.name) == name.lower()))
    if clash is not None and clash != team_id:
        raise Conflict("A team with this name already exists", {"name": name})


def create(data: dict[str, Any], actor) -> tuple[dict, Job]:
    """Create a team (optionally with its first owner) and provision it; commits."""
    _name_free(data["name"])
    team = Team(id=uuid.uuid4(), created_by=getattr(actor, "user_id", None),
                **{k: data.get(k) for k in EDITABLE})
    db.session.add(team)
    owner_id = data.get("owner_id")
    if owner_id is not None:
        _active_user(owner_id)
        db.session.add(TeamMember(team_id=team.id, user_id=owner_id, role="owner"))
    db.session.flush()
    job = _provision(team, actor)
    audit.record("TEAM_CREATE", "team", team.id,
                 details={"name": team.name, "ownerId": str(owner_id) if owner_id else None,
                          "jobId": str(job.id)})
    db.session.commit()
    return view(team, my_role=_role_of(team.id, getattr(actor, "user_id", None))), job


def update(team_id: uuid.UUID, changes: dict[str, Any], actor) -> tuple[dict, Job | None]:
    """Change a team's name, description, budget or limits; LiteLLM follows by job; commits."""
    team = db.session.get(Team, team_id, with_for_update=True)
    if team is None:
        raise NotFound.resource("team", team_id)
    if "name" in changes:
        _name_free(changes["name"], team.id)
    diff = {}
    for name, value in changes.items():
        if name in EDITABLE and getattr(team, name) != value:
            diff[name] = {"from": _plain(getattr(team, name)), "to": _plain(value)}
            setattr(team, name, value)
    job = _provision(team, actor) if any(n in diff for n in LITELLM_FIELDS) else None
    if diff:
        audit.record("TEAM_UPDATE", "team", team.id,
                     details={"changes": diff, "jobId": str(job.id) if job else None})
    db.session.commit()
    return view(team, my_role=_role_of(team.id, getattr(actor, "user_id", None))), job


def _plain(value):
    from decimal import Decimal

    return float(value) if isinstance(value, Decimal) else value


def delete(team_id: uuid.UUID, actor) -> Job:
    """Delete a team without live API keys, and its memberships; a job deletes it from
    LiteLLM; commits."""
    team = db.session.get(Team, team_id, with_for_update=True)
    if team is None:
        raise NotFound.resource("team", team_id)
    live_keys = db.session.scalar(
        select(func.count()).select_from(ApiKey)
        .where(ApiKey.team_id == team.id, ApiKey.revoked_at.is_(None),
               ApiKey.provisioning_state.in_(("pending", "active"))))
    if live_keys:
        # LiteLLM deletes a team's keys with the team: never take users' keys down silently.
        raise Conflict("The team still has live API keys; revoke them first",
                       {"teamId": str(team.id), "liveApiKeys": live_keys})
    # Always a job: the team may exist in LiteLLM although its id was never recorded (a
    # provisioning job that failed part-way); LiteLLM's team id is ours, and the job takes a
    # team LiteLLM does not know as deleted.
    job, _ = jobs.create("delete_team", {"litellm_team_id": team.litellm_team_id or str(team.id)},
                         requested_by=getattr(actor, "user_id", None))
    audit.record("TEAM_DELETE", "team", team.id,
                 details={"name": team.name, "jobId": str(job.id)})
    db.session.delete(team)
    db.session.commit()
    return job


# --- members -------------------------------------------------------------------------------


def members_query(team_id: uuid.UUID, identity):
    """The members of a team the caller may see: owners first, then by username."""
    get_visible(team_id, identity)
    owners_first = case((TeamMember.role == "owner", 0), else_=1)
    return (select(TeamMember, User)
            .join(User, User.id == TeamMember.user_id)
            .where(TeamMember.team_id == team_id)
            .order_by(owners_first, User.username, User.id))


def member_view(member: TeamMember, user: User, identity) -> dict:
    """A member as the caller sees them: the email only for admins and the member themself
    (a team owner chose whom to add; that gives them no one's address)."""
    email = user.email if identity.can_read_all or identity.user_id == user.id else None
    return {"user_id": user.id, "username": user.username, "email": email,
            "full_name": user.full_name, "role": member.role, "joined_at": member.created_at}


def _guard_last_owner(team: Team, member: TeamMember, new_role: str | None, identity) -> None:
    """A non-admin may not leave a team without owners."""
    if identity.is_admin or member.role != "owner" or new_role == "owner":
        return
    other_owners = db.session.scalar(
        select(func.count()).select_from(TeamMember)
        .where(and_(TeamMember.team_id == team.id, TeamMember.role == "owner",
                    TeamMember.user_id != member.user_id)))
    if not other_owners:
        raise Conflict("A team must keep at least one owner", {"teamId": str(team.id)})


def add_member(team_id: uuid.UUID, user_id: uuid.UUID, role: str, identity) -> tuple[dict, Job]:
    """Add a user to a team (owners and admins); commits."""
    team, my_role = get_visible(team_id, identity)
    _require_manager(team, my_role, identity)
    user = _addable_user(user_id, identity)
    if db.session.get(TeamMember, (team.id, user.id)) is not None:
        raise Conflict("The user is already a member of this team",
                       {"teamId": str(team.id), "userId": str(user.id)})
    member = TeamMember(team_id=team.id, user_id=user.id, role=role)
    db.session.add(member)
    db.session.flush()
    job = _provision(team, identity)
    audit.record("TEAM_MEMBER_ADD", "team", team.id,
                 details={"userId": str(user.id), "role": role, "jobId": str(job.id)})
    db.session.commit()
    return member_view(member, user, identity), job


def _member(team: Team, user_id: uuid.UUID) -> TeamMember:
    member = db.session.get(TeamMember, (team.id, user_id), with_for_update=True)
    if member is None:
        raise NotFound("The user is not a member of this team",
                       {"resource": "team_member", "id": str(user_id)})
    return member


def change_member_role(team_id: uuid.UUID, user_id: uuid.UUID, role: str,
                       identity) -> tuple[dict, Job | None]:
    """Make a member an owner or a plain member (owners and admins); commits."""
    team, my_role = get_visible(team_id, identity)
    _require_manager(team, my_role, identity)
    member = _member(team, user_id)
    job = None
    if member.role != role:
        _guard_last_owner(team, member, role, identity)
        audit.record("TEAM_MEMBER_UPDATE", "team", team.id,
                     details={"userId": str(user_id), "from": member.role, "to": role})
        member.role = role
        job = _provision(team, identity)
    db.session.commit()
    return member_view(member, db.session.get(User, user_id), identity), job


def remove_member(team_id: uuid.UUID, user_id: uuid.UUID, identity) -> Job:
    """Remove a member (owners and admins), or leave a team oneself; commits."""
    team, my_role = get_visible(team_id, identity)
    if identity.user_id != user_id:
        _require_manager(team, my_role, identity)
    member = _member(team, user_id)
    _guard_last_owner(team, member, None, identity)
    db.session.delete(member)
    job = _provision(team, identity)
    audit.record("TEAM_MEMBER_REMOVE", "team", team.id,
                 details={"userId": str(user_id), "role": member.role, "jobId": str(job.id)})
    db.session.commit()
    return job
