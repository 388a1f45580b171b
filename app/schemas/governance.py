"""Schemas of the governance routes: notices, preferences, channels, deliveries, budget ledger
and alerts, time-boxed access reviews."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from app.models.governance import BUDGET_OWNER_TYPES, CHANNEL_KINDS, DELIVERY_STATUSES
from app.schemas.base import CamelSchema, PageQuerySchema, page_of
from app.services.notifications import ALL_EVENTS, EVENTS

EVENT = validate.OneOf(sorted(EVENTS))
CHANNEL_EVENT = validate.OneOf([*sorted(EVENTS), ALL_EVENTS])


class NotificationSchema(CamelSchema):
    id = ma.fields.UUID(required=True)
    event = ma.fields.String(required=True)
    severity = ma.fields.String(required=True, metadata={"description": "info, warning or "
                                                                         "critical"})
    title = ma.fields.String(required=True)
    body = ma.fields.String(required=True)
    data = ma.fields.Dict(required=True)
    read_at = ma.fields.AwareDateTime(allow_none=True)
    created_at = ma.fields.AwareDateTime(required=True)


class NotificationPageSchema(page_of(NotificationSchema, "NotificationPageBaseSchema")):
    unread = ma.fields.Integer(required=True, metadata={"description": "Your unread notices"})


SEVERITIES = ("info", "warning", "critical")


class NotificationQuerySchema(PageQuerySchema):
    unread = ma.fields.Boolean()
    event = ma.fields.String(validate=EVENT)
    severity = ma.fields.List(ma.fields.String(validate=validate.OneOf(SEVERITIES)),
                              validate=validate.Length(max=3), metadata={
                                  "description": "Only these severities (repeat the parameter)"})


class ReadAllSchema(CamelSchema):
    updated = ma.fields.Integer(required=True)


class PreferenceSchema(CamelSchema):
    event = ma.fields.String(required=True, validate=EVENT)
    description = ma.fields.String(dump_only=True)
    in_app = ma.fields.Boolean()
    email = ma.fields.Boolean()


class PreferencesSchema(CamelSchema):
    data = ma.fields.List(ma.fields.Nested(PreferenceSchema), required=True)


class PreferencesUpdateSchema(CamelSchema):
    preferences = ma.fields.List(ma.fields.Nested(PreferenceSchema), required=True,
                                 validate=validate.Length(min=1, max=len(EVENTS)))


NAME = validate.Length(min=1, max=100)
URL = validate.URL(schemes={"http", "https"}, require_tld=False)


class ChannelSchema(CamelSchema):
    id = ma.fields.UUID(dump_only=True)
    name = ma.fields.String(required=True, validate=NAME)
    kind = ma.fields.String(required=True, validate=validate.OneOf(CHANNEL_KINDS))
    url = ma.fields.String(allow_none=True, validate=[URL, validate.Length(max=2000)])
    secret = ma.fields.String(load_only=True, allow_none=True,
                              validate=validate.Length(min=16, max=512), metadata={
                                  "description": "HMAC-SHA256 key of a webhook; write-only"})
    has_secret = ma.fields.Boolean(dump_only=True)
    recipients = ma.fields.List(ma.fields.Email(validate=validate.Length(max=254)),
                                validate=validate.Length(max=50))
    events = ma.fields.List(ma.fields.String(validate=CHANNEL_EVENT), required=True,
                            validate=validate.Length(min=1, max=len(EVENTS) + 1), metadata={
                                "description": "Events sent to this channel (`*`: all)"})
    enabled = ma.fields.Boolean(load_default=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)
    updated_at = ma.fields.AwareDateTime(dump_only=True)


class ChannelUpdateSchema(CamelSchema):
    name = ma.fields.String(validate=NAME)
    url = ma.fields.String(allow_none=True, validate=[URL, validate.Length(max=2000)])
    secret = ma.fields.String(load_only=True, allow_none=True,
                              validate=validate.Length(min=16, max=512))
    recipients = ma.fields.List(ma.fields.Email(validate=validate.Length(max=254)),
                                validate=validate.Length(max=50))
    events = ma.fields.List(ma.fields.String(validate=CHANNEL_EVENT),
                            validate=validate.Length(min=1, max=len(EVENTS) + 1))
    enabled = ma.fields.Boolean()


class ChannelListSchema(CamelSchema):
    data = ma.fields.List(ma.fields.Nested(ChannelSchema), required=True)


class DeliverySchema(CamelSchema):
    id = ma.fields.UUID(required=True)
    channel_id = ma.fields.UUID(allow_none=True)
    user_id = ma.fields.UUID(allow_none=True)
    kind = ma.fields.String(required=True)
    event = ma.fields.String(required=True)
    status = ma.fields.String(required=True)
    attempts = ma.fields.Integer(required=True)
    response_code = ma.fields.Integer(allow_none=True)
    last_error = ma.fields.String(allow_none=True)
    job_id = ma.fields.UUID(allow_none=True)
    delivered_at = ma.fields.AwareDateTime(allow_none=True)
    created_at = ma.fields.AwareDateTime(required=True)
    updated_at = ma.fields.AwareDateTime(required=True)


DeliveryPageSchema = page_of(DeliverySchema)


class DeliveryQuerySchema(PageQuerySchema):
    channel_id = ma.fields.UUID()
    status = ma.fields.String(validate=validate.OneOf(DELIVERY_STATUSES))
    event = ma.fields.String(validate=EVENT)


class LedgerEntrySchema(CamelSchema):
    id = ma.fields.UUID(required=True)
    owner_type = ma.fields.String(required=True)
    owner_id = ma.fields.UUID(required=True)
    budget_duration = ma.fields.String(required=True)
    period_start = ma.fields.Date(required=True)
    reset_at = ma.fields.Date(required=True, metadata={"description": "Next period's start"})
    budget = ma.fields.Decimal(as_string=True, allow_none=True)
    opened_at = ma.fields.AwareDateTime(required=True)
    closed_at = ma.fields.AwareDateTime(allow_none=True)
    spend_at_close = ma.fields.Decimal(as_string=True, allow_none=True)


LedgerPageSchema = page_of(LedgerEntrySchema)


class LedgerQuerySchema(PageQuerySchema):
    owner_type = ma.fields.String(validate=validate.OneOf(BUDGET_OWNER_TYPES))
    owner_id = ma.fields.UUID()
    open = ma.fields.Boolean()


class BudgetAlertSchema(CamelSchema):
    id = ma.fields.UUID(required=True)
    owner_type = ma.fields.String(required=True)
    owner_id = ma.fields.UUID(required=True)
    period = ma.fields.String(required=True)
    threshold = ma.fields.Integer(required=True)
    spend = ma.fields.Decimal(as_string=True, required=True)
    budget = ma.fields.Decimal(as_string=True, required=True)
    forecast = ma.fields.Dict(allow_none=True)
    fired_at = ma.fields.AwareDateTime(required=True)


BudgetAlertPageSchema = page_of(BudgetAlertSchema)


class BudgetAlertQuerySchema(PageQuerySchema):
    owner_type = ma.fields.String(validate=validate.OneOf(BUDGET_OWNER_TYPES))
    owner_id = ma.fields.UUID()


class AccessReviewQuerySchema(PageQuerySchema):
    renewal_requested = ma.fields.Boolean()


class RenewSchema(CamelSchema):
    expires_at = ma.fields.AwareDateTime(required=True, allow_none=True, metadata={
        "description": "The new end of access (future), or null for no end"})
    reason = ma.fields.String(validate=validate.Length(max=1000))


class KeyEnabledSchema(CamelSchema):
    id = ma.fields.UUID(required=True)
    job_id = ma.fields.UUID(required=True, metadata={
        "description": "The job unblocking the key in LiteLLM"})
