"""Teams and their members; budgets and memberships are mirrored to LiteLLM by jobs."""

from __future__ import annotations

import uuid

from flask.views import MethodView

from app.api.base import Blueprint
from app.api.jobs import accepted
from app.auth.identity import authenticate
from app.schemas.base import JobAcceptedSchema, PageQuerySchema
from app.schemas.teams import (
    TeamChangedSchema,
    TeamCreateSchema,
    TeamListQuerySchema,
    TeamMemberAddSchema,
    TeamMemberChangedSchema,
    TeamMemberPageSchema,
    TeamMemberRoleSchema,
    TeamPageSchema,
    TeamSchema,
    TeamUpdateSchema,
)
from app.services import jobs, teams
from app.services.listing import paginate

blp = Blueprint("teams", __name__, url_prefix="/teams", description="Teams")


def _with_job(view: dict, job, status: int = 200):
    body = {**view, "job_id": job.id if job else None}
    if job is None:
        return body, status
    return body, 202 if status == 200 else status, {"Location": jobs.link(job.id)}


@blp.route("")
class Teams(MethodView):
    @blp.auth("teams:read")
    @blp.arguments(TeamListQuerySchema, location="query")
    @blp.response(200, TeamPageSchema)
    def get(self, query):
        """Teams the caller belongs to (admins and readonly admins: every team)."""
        page = paginate(teams.list_query(authenticate(), query.get("search")), query["page"],
                        query["limit"], scalars=False)
        page["data"] = [teams.view(team, count, role) for team, count, role in page["data"]]
        return page

    @blp.auth("teams:manage")
    @blp.arguments(TeamCreateSchema)
    @blp.response(201, TeamChangedSchema, description="Created; `jobId` provisions it in LiteLLM")
    @blp.alt_response(409, response="CONFLICT", description="The name is taken")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY", description="Unknown or inactive owner")
    def post(self, body):
        """Create a team with budget and limits (and optionally its first owner)."""
        view, job = teams.create(body, authenticate())
        return {**view, "job_id": job.id}, 201, {"Location": f"/api/v1/teams/{view['id']}"}


@blp.route("/<uuid:team_id>")
class TeamById(MethodView):
    @blp.auth("teams:read")
    @blp.response(200, TeamSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, team_id: uuid.UUID):
        """A team (its members and admins only; others get 404)."""
        team, role = teams.get_visible(team_id, authenticate())
        return teams.view(team, my_role=role)

    @blp.auth("teams:manage")
    @blp.arguments(TeamUpdateSchema)
    @blp.response(200, TeamChangedSchema, description="Changed; nothing to push to LiteLLM")
    @blp.alt_response(202, schema=TeamChangedSchema, success=True,
                      description="Changed; `jobId` pushes the change to LiteLLM")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT", description="The name is taken")
    def patch(self, body, team_id: uuid.UUID):
        """Rename a team or change its description, budget and limits."""
        view, job = teams.update(team_id, body, authenticate())
        return _with_job(view, job)

    @blp.auth("teams:manage")
    @blp.response(202, JobAcceptedSchema, description="Deleted; the job removes it from LiteLLM")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT", description="The team still has live API keys")
    def delete(self, team_id: uuid.UUID):
        """Delete a team and its memberships. Refused while the team has live API keys:
        LiteLLM would delete them with the team."""
        return accepted(teams.delete(team_id, authenticate()))


@blp.route("/<uuid:team_id>/members")
class Members(MethodView):
    @blp.auth("teams:read")
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, TeamMemberPageSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, query, team_id: uuid.UUID):
        """A team's members, owners first. Emails are shown to admins (and each member their
        own) only."""
        identity = authenticate()
        page = paginate(teams.members_query(team_id, identity), query["page"],
                        query["limit"], scalars=False)
        page["data"] = [teams.member_view(member, user, identity)
                        for member, user in page["data"]]
        return page

    @blp.auth("teams:write")
    @blp.arguments(TeamMemberAddSchema)
    @blp.response(201, TeamMemberChangedSchema, description="Added; `jobId` adds it in LiteLLM")
    @blp.alt_response(404, response="NOT_FOUND",
                      description="Unknown team; for a team owner also an unknown or inactive "
                                  "user (one answer for both)")
    @blp.alt_response(409, response="CONFLICT", description="Already a member")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY",
                      description="Admins: unknown or inactive user")
    def post(self, body, team_id: uuid.UUID):
        """Add a member (the team's owners and admins). The added user sees the team and may
        leave it at any time; owners never see other members' emails."""
        view, job = teams.add_member(team_id, body["user_id"], body["role"], authenticate())
        return {**view, "job_id": job.id}, 201


@blp.route("/<uuid:team_id>/members/<uuid:user_id>")
class Member(MethodView):
    @blp.auth("teams:write")
    @blp.arguments(TeamMemberRoleSchema)
    @blp.response(200, TeamMemberChangedSchema, description="Unchanged")
    @blp.alt_response(202, schema=TeamMemberChangedSchema, success=True,
                      description="Role changed; `jobId` updates LiteLLM")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT", description="The team's last owner")
    def patch(self, body, team_id: uuid.UUID, user_id: uuid.UUID):
        """Make a member an owner or a plain member (the team's owners and admins)."""
        view, job = teams.change_member_role(team_id, user_id, body["role"], authenticate())
        return _with_job(view, job)

    @blp.auth("teams:write")
    @blp.response(202, JobAcceptedSchema, description="Removed; the job removes it in LiteLLM")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT", description="The team's last owner")
    def delete(self, team_id: uuid.UUID, user_id: uuid.UUID):
        """Remove a member (owners and admins), or leave the team (any member)."""
        return accepted(teams.remove_member(team_id, user_id, authenticate()))
