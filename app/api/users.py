"""Users: the admin list, detail and changes; the caller's own profile and activity."""

from __future__ import annotations

import uuid

from flask.views import MethodView

from app.api.base import Blueprint
from app.auth.identity import authenticate
from app.schemas.audit import AuditLogSchema
from app.schemas.base import page_of
from app.schemas.users import (
    ActivityQuerySchema,
    ProfileUpdateSchema,
    UserDetailSchema,
    UserListQuerySchema,
    UserPageSchema,
    UserSchema,
    UserUpdatedSchema,
    UserUpdateSchema,
)
from app.services import jobs, users
from app.services.listing import paginate

blp = Blueprint("users", __name__, url_prefix="/users", description="Users")


@blp.route("")
@blp.auth("users:read")
@blp.arguments(UserListQuerySchema, location="query")
@blp.response(200, UserPageSchema)
def list_users(query):
    """All users (filters: search in username/email/name, role, isActive; sort)."""
    stmt = users.list_query(query.get("search"), query.get("role"), query.get("is_active"),
                            query["sort"])
    return paginate(stmt, query["page"], query["limit"])


@blp.route("/me")
class Me(MethodView):
    @blp.auth("account:read")
    @blp.response(200, UserSchema)
    @blp.alt_response(404, response="NOT_FOUND", description="Admin API keys have no profile")
    def get(self):
        """The caller's own profile."""
        return users.me(authenticate())

    @blp.auth("account:write")
    @blp.arguments(ProfileUpdateSchema)
    @blp.response(200, UserSchema)
    @blp.alt_response(404, response="NOT_FOUND", description="Admin API keys have no profile")
    def patch(self, body):
        """Change one's own display name."""
        return users.update_me(authenticate(), body)


@blp.route("/me/activity")
@blp.auth("account:read")
@blp.arguments(ActivityQuerySchema, location="query")
@blp.response(200, page_of(AuditLogSchema, "ActivityPageSchema"))
@blp.alt_response(404, response="NOT_FOUND", description="Admin API keys have no profile")
def my_activity(query):
    """The caller's own audit trail, newest first (filter: action)."""
    page = paginate(users.activity_query(authenticate(), query.get("action")), query["page"],
                    query["limit"])
    page["data"] = [{**{c.name: getattr(e, c.name) for c in e.__table__.columns},
                     "actor_username": None} for e in page["data"]]
    return page


@blp.route("/<uuid:user_id>")
class UserById(MethodView):
    @blp.auth("users:read")
    @blp.response(200, UserDetailSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, user_id: uuid.UUID):
        """A user with effective limits and counts of subscriptions and API keys."""
        return users.detail(users.get(user_id))

    @blp.auth("users:write")
    @blp.arguments(UserUpdateSchema)
    @blp.response(200, UserUpdatedSchema, description="Changed; nothing to push to LiteLLM")
    @blp.alt_response(202, schema=UserUpdatedSchema, success=True,
                      description="Changed; `jobId` pushes budget/limit changes to LiteLLM")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT",
                      description="Would remove or deactivate the last active admin")
    def patch(self, body, user_id: uuid.UUID):
        """Change roles, active flag, budget and limits. Role or active changes end the
        user's sessions and tokens at once; budget/limit changes are pushed by a job."""
        user, job = users.update(user_id, body, authenticate())
        view = {**users.detail(user), "job_id": job.id if job else None}
        if job is None:
            return view
        return view, 202, {"Location": jobs.link(job.id)}
