from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from app.models import JOB_STATUSES
from app.schemas.base import CamelSchema, PageQuerySchema, page_of


class JobSchema(CamelSchema):
    id = ma.fields.UUID(required=True)
    kind = ma.fields.String(required=True)
    status = ma.fields.String(required=True, validate=validate.OneOf(JOB_STATUSES))
    progress = ma.fields.Integer(required=True)
    progress_message = ma.fields.String(allow_none=True)
    params = ma.fields.Dict(required=True)
    result = ma.fields.Dict(allow_none=True)
    error = ma.fields.Dict(allow_none=True)
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
