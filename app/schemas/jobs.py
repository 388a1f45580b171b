from __future__ import annotations

import re
from typing import Any

import marshmallow as ma
from marshmallow import validate

from app.models import JOB_STATUSES
from app.schemas.base import CamelSchema, PageQuerySchema, page_of

HASH_FIELDS = re.compile(r"(token|hash)", re.I)
HASH_VALUE = re.compile(r"\b[0-9a-f]{64}\b")


def _shown(value: Any, field: str = "") -> Any:
    """Key hashes (LiteLLM tokens) a job carries for the worker are shown as their first 8
    characters: enough to match a key prefix or a log line, useless to act on."""
    if isinstance(value, dict):
        return {k: _shown(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_shown(item, field) for item in value]
    if isinstance(value, str):
        if field and HASH_FIELDS.search(field) and len(value) > 8:
            return value[:8] + "…"
        return HASH_VALUE.sub(lambda m: m.group(0)[:8] + "…", value)
    return value


class JobDataField(ma.fields.Dict):
    def _serialize(self, value, attr, obj, **kwargs):
        return super()._serialize(_shown(value) if value is not None else None, attr, obj,
                                  **kwargs)


class JobSchema(CamelSchema):
    id = ma.fields.UUID(required=True)
    kind = ma.fields.String(required=True)
    status = ma.fields.String(required=True, validate=validate.OneOf(JOB_STATUSES))
    progress = ma.fields.Integer(required=True)
    progress_message = ma.fields.String(allow_none=True)
    params = JobDataField(required=True, metadata={
        "description": "What the job was asked to do (key hashes shortened to 8 characters)"})
    result = JobDataField(allow_none=True)
    error = JobDataField(allow_none=True)
    requested_by = ma.fields.UUID(allow_none=True)
    attempts = ma.fields.Integer(required=True)
    created_at = ma.fields.AwareDateTime(required=True)
    started_at = ma.fields.AwareDateTime(allow_none=True)
    finished_at = ma.fields.AwareDateTime(allow_none=True)


JobPageSchema = page_of(JobSchema)


class JobListQuerySchema(PageQuerySchema):
    kind = ma.fields.String(validate=validate.Length(max=64))
    status = ma.fields.String(validate=validate.OneOf(JOB_STATUSES))
    requested_by = ma.fields.UUID()


class PingJobSchema(CamelSchema):
    seconds = ma.fields.Float(load_default=0.0, validate=validate.Range(min=0, max=60))
