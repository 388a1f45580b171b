from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from app.models import TEAM_ROLES
from app.schemas.base import CamelSchema, PageQuerySchema, page_of
from app.schemas.users import BUDGET_DURATION

TEAM_NAME = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9 ._\-]{0,99}$",
                            error="1-100 characters: letters, digits, space . _ -")


class TeamSchema(CamelSchema):
    id = ma.fields.UUID(required=True)
    name = ma.fields.String(required=True)
    description = ma.fields.String(allow_none=True)
    max_budget = ma.fields.Decimal(as_string=False, allow_none=True)
    budget_duration = ma.fields.String(allow_none=True)
    tpm_limit = ma.fields.Integer(allow_none=True)
    rpm_limit = ma.fields.Integer(allow_none=True)
    spend = ma.fields.Decimal(as_string=False, required=True)
    litellm_team_id = ma.fields.String(allow_none=True)
    member_count = ma.fields.Integer(required=True)
    my_role = ma.fields.String(allow_none=True, metadata={
        "description": "The caller's role in the team (owner, member) or null"})
    created_by = ma.fields.UUID(allow_none=True)
    created_at = ma.fields.AwareDateTime(required=True)
    updated_at = ma.fields.AwareDateTime(required=True)


TeamPageSchema = page_of(TeamSchema)


class TeamChangedSchema(TeamSchema):
    job_id = ma.fields.UUID(allow_none=True, metadata={
        "description": "The provisioning job pushing the change to LiteLLM"})


class TeamListQuerySchema(PageQuerySchema):
    search = ma.fields.String(validate=validate.Length(min=1, max=255))


class _TeamFields(CamelSchema):
    description = ma.fields.String(allow_none=True, validate=validate.Length(max=2000))
    max_budget = ma.fields.Decimal(allow_none=True, places=6,
                                   validate=validate.Range(min=0, max=10**9))
    budget_duration = ma.fields.String(allow_none=True, validate=BUDGET_DURATION)
    tpm_limit = ma.fields.Integer(allow_none=True, strict=True,
                                  validate=validate.Range(min=0, max=10**9))
    rpm_limit = ma.fields.Integer(allow_none=True, strict=True,
                                  validate=validate.Range(min=0, max=10**9))


class TeamCreateSchema(_TeamFields):
    name = ma.fields.String(required=True, validate=TEAM_NAME)
    owner_id = ma.fields.UUID(metadata={"description": "Make this user the team's first owner"})


class TeamUpdateSchema(_TeamFields):
    name = ma.fields.String(validate=TEAM_NAME)

    @ma.validates_schema
    def not_empty(self, data, **kwargs):
        if not data:
            raise ma.ValidationError("Give at least one field to change", "_schema")


class TeamMemberSchema(CamelSchema):
    user_id = ma.fields.UUID(required=True)
    username = ma.fields.String(required=True)
    email = ma.fields.String(allow_none=True)
    full_name = ma.fields.String(allow_none=True)
    role = ma.fields.String(required=True, validate=validate.OneOf(TEAM_ROLES))
    joined_at = ma.fields.AwareDateTime(required=True)


TeamMemberPageSchema = page_of(TeamMemberSchema)


class TeamMemberChangedSchema(TeamMemberSchema):
    job_id = ma.fields.UUID(allow_none=True)


class TeamMemberAddSchema(CamelSchema):
    user_id = ma.fields.UUID(required=True)
    role = ma.fields.String(load_default="member", validate=validate.OneOf(TEAM_ROLES))


class TeamMemberRoleSchema(CamelSchema):
    role = ma.fields.String(required=True, validate=validate.OneOf(TEAM_ROLES))
