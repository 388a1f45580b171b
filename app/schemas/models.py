"""Wire shapes of the model catalogue, its sync runs, health and integrity reports.

The Model item keeps the original LiteMaaS names (``name``, ``capabilities``, ``isActive``,
``restrictedAccess``, ``pricing``, ``supports*``) next to this port's own (``features``,
``availability``, ``restricted``). Prices are per token and labelled so (``unit: per_token``).
"""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate
from webargs.fields import DelimitedList

from app.models import AVAILABILITY
from app.schemas.base import CamelSchema, PageQuerySchema, page_of
from app.services.models import SORTS as MODEL_SORTS


class ModelPricingSchema(CamelSchema):
    input = ma.fields.Float(allow_none=True)
    output = ma.fields.Float(allow_none=True)
    unit = ma.fields.String(required=True, metadata={"example": "per_token"})


class ModelSchema(CamelSchema):
    id = ma.fields.String(required=True, metadata={"description": "LiteLLM model_name"})
    name = ma.fields.String(required=True)
    provider = ma.fields.String(required=True)
    description = ma.fields.String(required=True)
    mode = ma.fields.String(allow_none=True)
    capabilities = ma.fields.List(ma.fields.String(), required=True,
                                  metadata={"description": "Same as features"})
    features = ma.fields.List(ma.fields.String(), required=True)
    context_length = ma.fields.Integer(allow_none=True)
    max_output_tokens = ma.fields.Integer(allow_none=True)
    max_tokens = ma.fields.Integer(allow_none=True)
    input_cost_per_token = ma.fields.Float(allow_none=True)
    output_cost_per_token = ma.fields.Float(allow_none=True)
    pricing = ma.fields.Nested(ModelPricingSchema, allow_none=True)
    supports_vision = ma.fields.Boolean(required=True)
    supports_function_calling = ma.fields.Boolean(required=True)
    supports_parallel_function_calling = ma.fields.Boolean(required=True)
    supports_tool_choice = ma.fields.Boolean(required=True)
    supports_response_schema = ma.fields.Boolean(required=True)
    supports_reasoning = ma.fields.Boolean(required=True)
    supports_chat = ma.fields.Boolean(required=True)
    supports_embeddings = ma.fields.Boolean(required=True)
    backend_model_name = ma.fields.String(allow_none=True)
    litellm_model_id = ma.fields.String(allow_none=True)
    api_base = ma.fields.String(allow_none=True, metadata={
        "description": "The provider endpoint: shown to admins and readonly admins only"})
    tpm = ma.fields.Integer(allow_none=True)
    rpm = ma.fields.Integer(allow_none=True)
    restricted = ma.fields.Boolean(required=True)
    restricted_access = ma.fields.Boolean(required=True)
    availability = ma.fields.String(required=True, validate=validate.OneOf(AVAILABILITY))
    is_active = ma.fields.Boolean(required=True)
    first_seen_at = ma.fields.AwareDateTime(required=True)
    last_seen_at = ma.fields.AwareDateTime(
        required=True,
        metadata={"description": "Last successful sync that listed the model"})
    unavailable_since = ma.fields.AwareDateTime(allow_none=True)
    created_at = ma.fields.AwareDateTime(required=True)
    updated_at = ma.fields.AwareDateTime(required=True)


class ModelMetadataSchema(CamelSchema):
    litellm_model_id = ma.fields.String(allow_none=True)
    backend_model_name = ma.fields.String(allow_none=True)
    max_tokens = ma.fields.Integer(allow_none=True)
    input_cost_per_token = ma.fields.Float(allow_none=True)
    output_cost_per_token = ma.fields.Float(allow_none=True)
    tpm = ma.fields.Integer(allow_none=True)
    rpm = ma.fields.Integer(allow_none=True)


class CatalogModelDetailSchema(ModelSchema):
    metadata = ma.fields.Nested(ModelMetadataSchema, required=True)


ModelPageSchema = page_of(ModelSchema)
MODEL_WIRE_NAMES = {name: field.data_key for name, field in ModelSchema().fields.items()}


def model_page_wire(found: dict) -> dict:
    """ModelPageSchema's answer for a page of ``services.models.view`` items, without its dump
    (up to 1,000 items of 40 fields: the dump cost more than the query). Encoded by
    ``read_cache`` (datetimes in ISO 8601 as AwareDateTime writes them, Decimal as numbers), it
    is the JSON the dump gives; tests/integration/test_models_api.py holds the two equal."""
    pagination = found["pagination"]
    return {"data": [{MODEL_WIRE_NAMES[name]: value for name, value in item.items()}
                     for item in found["data"]],
            "pagination": {"page": pagination["page"], "limit": pagination["limit"],
                           "total": pagination["total"],
                           "totalPages": pagination["total_pages"]}}


class ModelListQuerySchema(PageQuerySchema):
    # The web UI's key dialog asks the whole catalogue at once (limit=1000), as upstream allows.
    limit = ma.fields.Integer(load_default=20, validate=validate.Range(min=1, max=1000))
    search = ma.fields.String(validate=validate.Length(min=1, max=200),
                              metadata={"description": "In id/name, description or provider"})
    provider = ma.fields.String(validate=validate.Length(min=1, max=64))
    capability = DelimitedList(ma.fields.String(validate=validate.Length(min=1, max=64)),
                               metadata={"description": "Comma-separated; all must match"})
    feature = DelimitedList(ma.fields.String(validate=validate.Length(min=1, max=64)),
                            metadata={"description": "Alias of capability"})
    availability = ma.fields.String(validate=validate.OneOf((*AVAILABILITY, "all")),
                                    metadata={"description": "Default: available"})
    is_active = ma.fields.Boolean(metadata={"description": "LiteMaaS alias: true = available"})
    restricted = ma.fields.Boolean()
    sort = ma.fields.String(load_default="provider",
                            validate=validate.OneOf(MODEL_SORTS.choices),
                            metadata={"description": "Field, '-' prefix for descending"})


class ModelPatchSchema(CamelSchema):
    description = ma.fields.String(allow_none=True, validate=validate.Length(max=10_000))
    restricted = ma.fields.Boolean()
    restricted_access = ma.fields.Boolean(metadata={"description": "LiteMaaS alias"})

    @ma.validates_schema
    def _one_change(self, data, **kwargs):
        if not data:
            raise ma.ValidationError("Give description and/or restricted", "_schema")
        both = {"restricted", "restricted_access"} <= data.keys()
        if both and data["restricted"] != data["restricted_access"]:
            raise ma.ValidationError("restricted and restrictedAccess disagree",
                                     "restrictedAccess")


class SyncRequestSchema(CamelSchema):
    force_update = ma.fields.Boolean(
        load_default=False,
        metadata={"description": "Skip the unchanged-payload short cut and rewrite every row"})


class SyncAnswerSchema(CamelSchema):
    """202: the job (still queued or running after the short wait). 200: the same, plus the
    counts of the finished run, as the web UI's "Refresh models" reads them."""

    job_id = ma.fields.UUID(required=True)
    status = ma.fields.String(required=True)
    links = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(), required=True)
    success = ma.fields.Boolean()
    total_models = ma.fields.Integer()
    new_models = ma.fields.Integer()
    updated_models = ma.fields.Integer()
    unavailable_models = ma.fields.Integer()
    unchanged_models = ma.fields.Integer()
    errors = ma.fields.List(ma.fields.String())
    synced_at = ma.fields.AwareDateTime()


class SyncRunSchema(CamelSchema):
    id = ma.fields.UUID(required=True)
    job_id = ma.fields.UUID(allow_none=True)
    trigger = ma.fields.String(required=True)
    success = ma.fields.Boolean(required=True)
    noop = ma.fields.Boolean(required=True)
    total = ma.fields.Integer(required=True)
    added = ma.fields.Integer(required=True)
    updated = ma.fields.Integer(required=True)
    unchanged = ma.fields.Integer(required=True)
    marked_unavailable = ma.fields.Integer(required=True)
    revived = ma.fields.Integer(required=True)
    rejected = ma.fields.Integer(required=True)
    errors = ma.fields.List(ma.fields.Dict(), required=True)
    error = ma.fields.String(allow_none=True)
    fetch_ms = ma.fields.Integer(allow_none=True)
    db_ms = ma.fields.Integer(allow_none=True, metadata={"description": "Work after the fetch"})
    total_ms = ma.fields.Integer(allow_none=True)
    started_at = ma.fields.AwareDateTime(required=True)
    finished_at = ma.fields.AwareDateTime(allow_none=True)


class SyncStatsQuerySchema(CamelSchema):
    history = ma.fields.Integer(load_default=20, validate=validate.Range(min=0, max=100))


class ModelTotalsSchema(CamelSchema):
    models = ma.fields.Integer(required=True)
    available = ma.fields.Integer(required=True)
    unavailable = ma.fields.Integer(required=True)
    restricted = ma.fields.Integer(required=True)


class RunTotalsSchema(CamelSchema):
    total = ma.fields.Integer(required=True)
    succeeded = ma.fields.Integer(required=True)
    failed = ma.fields.Integer(required=True)
    noop = ma.fields.Integer(required=True)


class SyncStatsSchema(CamelSchema):
    total_models = ma.fields.Integer(required=True)
    available_models = ma.fields.Integer(required=True)
    unavailable_models = ma.fields.Integer(required=True)
    last_sync_at = ma.fields.AwareDateTime(allow_none=True,
                                           metadata={"description": "Last successful sync"})
    sync_interval_seconds = ma.fields.Integer(required=True)
    models = ma.fields.Nested(ModelTotalsSchema, required=True)
    runs = ma.fields.Nested(RunTotalsSchema, required=True)
    last_run = ma.fields.Nested(SyncRunSchema, allow_none=True)
    last_success = ma.fields.Nested(SyncRunSchema, allow_none=True)
    history = ma.fields.List(ma.fields.Nested(SyncRunSchema), required=True)


class IdListSchema(CamelSchema):
    count = ma.fields.Integer(required=True)
    ids = ma.fields.List(ma.fields.String(), required=True,
                         metadata={"description": "At most 200, sorted"})


class UnavailableInUseSchema(CamelSchema):
    model_id = ma.fields.String(required=True)
    unavailable_since = ma.fields.AwareDateTime(allow_none=True)
    subscriptions = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(),
                                   required=True)
    key_ids = ma.fields.List(ma.fields.String(), required=True)


class StaleSyncSchema(CamelSchema):
    stale = ma.fields.Boolean(required=True)
    last_success_at = ma.fields.AwareDateTime(allow_none=True)
    age_seconds = ma.fields.Integer(allow_none=True)
    threshold_seconds = ma.fields.Integer(allow_none=True)


class ValidateReportSchema(CamelSchema):
    status = ma.fields.String(required=True, metadata={"example": "ok"})
    checked_at = ma.fields.AwareDateTime(required=True)
    valid_models = ma.fields.Integer(required=True)
    orphaned_subscriptions = ma.fields.Integer(required=True)
    unavailable_models_in_use = ma.fields.List(ma.fields.Nested(UnavailableInUseSchema),
                                               required=True)
    affected_keys = ma.fields.Nested(IdListSchema, required=True)
    models_without_pricing = ma.fields.Nested(IdListSchema, required=True)
    stale_sync = ma.fields.Nested(StaleSyncSchema, required=True)
    issues = ma.fields.List(ma.fields.String(), required=True)


class ModelsHealthSchema(CamelSchema):
    status = ma.fields.String(required=True,
                              validate=validate.OneOf(("healthy", "degraded", "unhealthy")))
    last_sync = ma.fields.AwareDateTime(allow_none=True,
                                        metadata={"description": "Last run, failed or not"})
    last_success_at = ma.fields.AwareDateTime(allow_none=True)
    last_success_age_seconds = ma.fields.Integer(allow_none=True)
    last_run_success = ma.fields.Boolean(allow_none=True)
    last_error = ma.fields.String(allow_none=True)
    sync_interval_seconds = ma.fields.Integer(required=True)
    models_count = ma.fields.Integer(required=True)
    unavailable_count = ma.fields.Integer(required=True)
    litellm_connected = ma.fields.Boolean(required=True)
    issues = ma.fields.List(ma.fields.String(), required=True)
