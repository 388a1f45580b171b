from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from app.schemas.base import CamelSchema


class AuditLogSchema(CamelSchema):
    id = ma.fields.UUID(required=True)
    actor_id = ma.fields.UUID(allow_none=True)
    actor_username = ma.fields.String(allow_none=True)
    actor_label = ma.fields.String(allow_none=True, metadata={
        "description": "How the actor authenticated: jwt:<user>, api_key:<user>, admin_api_key:…"})
    action = ma.fields.String(required=True)
    resource_type = ma.fields.String(required=True)
    resource_id = ma.fields.String(allow_none=True)
    success = ma.fields.Boolean(required=True)
    ip_address = ma.fields.String(allow_none=True)
    user_agent = ma.fields.String(allow_none=True)
    request_id = ma.fields.String(allow_none=True)
    details = ma.fields.Dict(required=True)
    created_at = ma.fields.AwareDateTime(required=True)


class AuditPaginationSchema(CamelSchema):
    limit = ma.fields.Integer(required=True)
    has_more = ma.fields.Boolean(required=True)
    next_cursor = ma.fields.String(allow_none=True, metadata={
        "description": "Pass as `cursor` for the next (older) page; null on the last page"})
    page = ma.fields.Integer(metadata={"description": "Page mode only"})
    total = ma.fields.Integer(metadata={"description": "Page mode only"})
    total_pages = ma.fields.Integer(metadata={"description": "Page mode only"})


class AuditPageSchema(CamelSchema):
    data = ma.fields.List(ma.fields.Nested(AuditLogSchema), required=True)
    pagination = ma.fields.Nested(AuditPaginationSchema, required=True)


class AuditQuerySchema(CamelSchema):
    actor = ma.fields.String(validate=validate.Length(min=1, max=255), metadata={
        "description": "A user id, a username or an actor label"})
    action = ma.fields.String(validate=validate.Length(min=1, max=100))
    resource_type = ma.fields.String(validate=validate.Length(min=1, max=50))
    resource_id = ma.fields.String(validate=validate.Length(min=1, max=255))
    success = ma.fields.Boolean()
    from_ = ma.fields.AwareDateTime(data_key="from", metadata={
        "description": "Inclusive lower bound on createdAt (ISO 8601 with offset)"})
    to = ma.fields.AwareDateTime(metadata={"description": "Exclusive upper bound on createdAt"})
    limit = ma.fields.Integer(load_default=50, validate=validate.Range(min=1, max=100))
    cursor = ma.fields.String(validate=validate.Length(min=1, max=200), metadata={
        "description": "Keyset pagination (fast at any depth): `nextCursor` of the last page"})
    page = ma.fields.Integer(validate=validate.Range(min=1, max=100_000), metadata={
        "description": "Page mode (with totals) for compatibility; prefer `cursor`"})

    def on_bind_field(self, field_name, field_obj):
        if field_name != "from_":
            super().on_bind_field(field_name, field_obj)

    @ma.validates_schema
    def one_mode(self, data, **kwargs):
        if data.get("cursor") and data.get("page"):
            raise ma.ValidationError("Use either cursor or page, not both", "cursor")
        if data.get("from_") and data.get("to") and data["from_"] >= data["to"]:
            raise ma.ValidationError("from must be before to", "from")
