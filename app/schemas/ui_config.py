"""What the web UI reads before anyone signs in: public configuration."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from app.schemas.base import CamelSchema


class CurrencySchema(CamelSchema):
    code = ma.fields.String(required=True)
    symbol = ma.fields.String(required=True)
    name = ma.fields.String(required=True)


class PublicConfigSchema(CamelSchema):
    version = ma.fields.String(required=True)
    environment = ma.fields.String(required=True,
                                   validate=validate.OneOf(("development", "production")))
    usage_cache_ttl_minutes = ma.fields.Integer(required=True)
    currency = ma.fields.Nested(CurrencySchema, required=True)
    auth_mode = ma.fields.String(required=True, validate=validate.OneOf(("oauth", "mock")),
                                 metadata={"description": "mock: the sign-in page offers the "
                                                          "development users"})
    auth_provider = ma.fields.String(required=True,
                                     validate=validate.OneOf(("openshift", "oidc")))
    litellm_api_url = ma.fields.String(required=True, metadata={
        "description": "LiteLLM as browsers reach it (the chat playground calls it with one of "
                       "the user's keys): LITELLM_PUBLIC_URL, else LITELLM_API_URL"})


class _PageSizes(CamelSchema):
    default_page_size = ma.fields.Integer(required=True)
    max_page_size = ma.fields.Integer(required=True)
    min_page_size = ma.fields.Integer(required=True)


class _TopLimits(CamelSchema):
    users = ma.fields.Integer(required=True)
    models = ma.fields.Integer(required=True)
    providers = ma.fields.Integer(required=True)


class _DateRangeLimits(CamelSchema):
    max_analytics_days = ma.fields.Integer(required=True)
    max_export_days = ma.fields.Integer(required=True)


class _Warnings(CamelSchema):
    large_date_range_days = ma.fields.Integer(required=True)


class _Trends(CamelSchema):
    calculation_precision = ma.fields.Integer(required=True)


class _Export(CamelSchema):
    max_rows = ma.fields.Integer(required=True)


class AdminAnalyticsConfigSchema(CamelSchema):
    pagination = ma.fields.Nested(_PageSizes, required=True)
    top_limits = ma.fields.Nested(_TopLimits, required=True)
    date_range_limits = ma.fields.Nested(_DateRangeLimits, required=True)
    warnings = ma.fields.Nested(_Warnings, required=True)
    trends = ma.fields.Nested(_Trends, required=True)
    export = ma.fields.Nested(_Export, required=True)


class _KeyDefaults(CamelSchema):
    max_budget = ma.fields.Float(allow_none=True, required=True)
    tpm_limit = ma.fields.Integer(allow_none=True, required=True)
    rpm_limit = ma.fields.Integer(allow_none=True, required=True)
    budget_duration = ma.fields.String(allow_none=True, required=True)
    soft_budget = ma.fields.Float(allow_none=True, required=True)
    expiration_days = ma.fields.Integer(allow_none=True, required=True)


class _KeyMaximums(CamelSchema):
    max_budget = ma.fields.Float(allow_none=True, required=True)
    tpm_limit = ma.fields.Integer(allow_none=True, required=True)
    rpm_limit = ma.fields.Integer(allow_none=True, required=True)
    expiration_days = ma.fields.Integer(allow_none=True, required=True)


class ApiKeyDefaultsSchema(CamelSchema):
    defaults = ma.fields.Nested(_KeyDefaults, required=True, metadata={
        "description": "Filled in when a new key's request leaves the field out (null: none)"})
    maximums = ma.fields.Nested(_KeyMaximums, required=True, metadata={
        "description": "Enforced on key create and edit (400 with per-field details; null: none)"})

