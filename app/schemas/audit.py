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
    # the same facts under the web UI's names (upstream LiteMaaS's audit page)
    user_id = ma.fields.UUID(allow_none=True, metadata={"description": "= actorId"})
    username = ma.fields.String(allow_none=True, metadata={"description": "= actorUsername"})
    email = ma.fields.String(allow_none=True, metadata={"description": "The actor's email"})
    metadata = ma.fields.Dict(metadata={"description": "= details"})
    error_message = ma.fields.String(allow_none=True, metadata={
        "description": "Why a failed action failed (from its details), else null"})


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


class DayOrMoment(ma.fields.Field):
    """``YYYY-MM-DD`` (a whole UTC day, as the web UI's date inputs send it) or an ISO 8601
    moment with an offset; loads as ``(moment, is_day)``."""

    def _deserialize(self, value, attr, data, **kwargs):
        from datetime import UTC, date, datetime

        if not isinstance(value, str) or len(value) > 40:
            raise ma.ValidationError("Not a valid date or date-time.")
        try:
            if len(value) == 10:
                day = date.fromisoformat(value)
                return datetime(day.year, day.month, day.day, tzinfo=UTC), True
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ma.ValidationError("Not a valid date or date-time.") from None
        if moment.tzinfo is None:
            raise ma.ValidationError("A date-time needs an offset (e.g. Z).")
        return moment, False


class AdminAuditQuerySchema(CamelSchema):
    """The web UI's audit page: page mode with totals, its filters and a free-text search."""

    page = ma.fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    limit = ma.fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    action = ma.fields.String(validate=validate.Length(min=1, max=100))
    resource_type = ma.fields.String(validate=validate.Length(min=1, max=50))
    user_id = ma.fields.UUID(metadata={"description": "The actor's user id"})
    start_date = DayOrMoment(metadata={
        "description": "From this day (YYYY-MM-DD, UTC) or moment (inclusive)"})
    end_date = DayOrMoment(metadata={
        "description": "Through this day (YYYY-MM-DD, UTC, the whole day) or up to this moment"})
    search = ma.fields.String(validate=validate.Length(min=1, max=200), metadata={
        "description": "Case-insensitive text in the action, resource, actor or details"})
    exclude_resource_types = ma.fields.String(validate=validate.Length(min=1, max=500), metadata={
        "description": "Comma-separated resource types to leave out (the UI sends API_ACCESS)"})

    @ma.validates_schema
    def ordered(self, data, **kwargs):
        if data.get("start_date") and data.get("end_date") and \
                data["start_date"][0] > data["end_date"][0]:
            raise ma.ValidationError("startDate must not be after endDate", "startDate")


class AuditActionsQuerySchema(CamelSchema):
    resource_type = ma.fields.String(validate=validate.Length(min=1, max=50))
    exclude_resource_types = ma.fields.String(validate=validate.Length(min=1, max=500))


class AuditActionsSchema(CamelSchema):
    actions = ma.fields.List(ma.fields.String(), required=True)


class AuditCategoriesSchema(CamelSchema):
    categories = ma.fields.List(ma.fields.String(), required=True)
