"""Wire shapes of model management (upstream's ``schemas/admin-models.ts``): the web UI sends
snake_case fields plus ``restrictedAccess``, and reads snake_case answers."""

from __future__ import annotations

import re

import marshmallow as ma
from marshmallow import validate

MAX_INT = 2**31 - 1
_NAME = re.compile(r"^[^\x00-\x1f\x7f\s][^\x00-\x1f\x7f]*$")
NAME = validate.And(validate.Length(min=1, max=255),
                    validate.Regexp(_NAME, error="No control characters or leading space"))
URL = validate.And(validate.Length(max=2048),
                   validate.URL(schemes={"http", "https"}, require_tld=False,
                                error="An http(s) URL"))


class StrictSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE


def _cost(**kwargs):
    return ma.fields.Float(allow_nan=False, validate=validate.Range(min=0, max=1), **kwargs)


def _rate(**kwargs):
    return ma.fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_INT), **kwargs)


class AdminModelCreateSchema(StrictSchema):
    model_name = ma.fields.String(required=True, validate=NAME, metadata={
        "description": "The name users call (the catalogue id)"})
    backend_model_name = ma.fields.String(required=True, validate=NAME, metadata={
        "description": "The model at the provider (LiteLLM: openai/<this>)"})
    description = ma.fields.String(allow_none=True, validate=validate.Length(max=10_000))
    api_base = ma.fields.String(required=True, validate=URL)
    api_key = ma.fields.String(validate=validate.Length(min=1, max=4096), load_only=True,
                               metadata={"description": "The provider's key: sent to LiteLLM, "
                                         "kept encrypted, never returned"})
    input_cost_per_token = _cost(required=True)
    output_cost_per_token = _cost(required=True)
    tpm = _rate(required=True)
    rpm = _rate(required=True)
    max_tokens = _rate(required=True)
    supports_vision = ma.fields.Boolean(required=True)
    supports_function_calling = ma.fields.Boolean(required=True)
    supports_parallel_function_calling = ma.fields.Boolean(required=True)
    supports_tool_choice = ma.fields.Boolean(required=True)
    supports_embeddings = ma.fields.Boolean()
    supports_tokenize = ma.fields.Boolean()
    supports_convert = ma.fields.Boolean()
    restricted_access = ma.fields.Boolean(data_key="restrictedAccess", metadata={
        "description": "Subscriptions wait for an admin's approval"})


class AdminModelUpdateSchema(AdminModelCreateSchema):
    """Every field optional; ``model_name`` may only repeat the current name."""

    model_name = ma.fields.String(validate=NAME)
    backend_model_name = ma.fields.String(validate=NAME)
    api_base = ma.fields.String(validate=URL)
    input_cost_per_token = _cost()
    output_cost_per_token = _cost()
    tpm = _rate()
    rpm = _rate()
    max_tokens = _rate()
    supports_vision = ma.fields.Boolean()
    supports_function_calling = ma.fields.Boolean()
    supports_parallel_function_calling = ma.fields.Boolean()
    supports_tool_choice = ma.fields.Boolean()

    @ma.validates_schema
    def _something(self, data, **kwargs):
        if not data:
            raise ma.ValidationError("Nothing to change", "_schema")


class AdminModelRefSchema(ma.Schema):
    id = ma.fields.String(required=True)
    model_name = ma.fields.String(required=True)
    litellm_model_id = ma.fields.String(allow_none=True)
    restricted_access = ma.fields.Boolean(data_key="restrictedAccess")
    availability = ma.fields.String()
    created_at = ma.fields.AwareDateTime()
    updated_at = ma.fields.AwareDateTime()


class AdminModelResultSchema(ma.Schema):
    success = ma.fields.Boolean(required=True)
    message = ma.fields.String(required=True)
    model = ma.fields.Nested(AdminModelRefSchema)
    job_id = ma.fields.UUID(allow_none=True, data_key="jobId", metadata={
        "description": "The job taking the model out of API keys (restriction or delete)"})
    ignored_fields = ma.fields.List(ma.fields.String(), data_key="ignoredFields", metadata={
        "description": "Edit of a model of LiteLLM's config file: fields left unchanged"})


class AdminModelTestSchema(StrictSchema):
    api_base = ma.fields.String(required=True, validate=URL)
    api_key = ma.fields.String(validate=validate.Length(min=1, max=4096), load_only=True)
    backend_model_name = ma.fields.String(required=True, validate=NAME)
    model_id = ma.fields.String(validate=NAME, metadata={
        "description": "Use this model's stored (encrypted) key when no api_key is given"})
    supports_convert = ma.fields.Boolean()


TEST_RESULTS = ("model_found", "model_not_found", "endpoint_reachable", "auth_error",
                "connection_error", "timeout", "missing_stored_key")


class AdminModelTestResultSchema(ma.Schema):
    success = ma.fields.Boolean(required=True)
    result = ma.fields.String(required=True, validate=validate.OneOf(TEST_RESULTS))
    message = ma.fields.String(required=True)
    available_models = ma.fields.List(ma.fields.String(), data_key="availableModels")
