"""Backups: upstream LiteMaaS' admin backup contract (``{"data": ...}`` envelopes)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from app.schemas.base import CamelSchema

DATABASE = ma.fields.String(required=True, validate=validate.OneOf(("litemaas", "litellm")),
                            metadata={"description": "litemaas: this backend's database; "
                                                     "litellm: LiteLLM's (when configured)"})


class BackupMetadataSchema(ma.Schema):
    """As recorded next to the file (camelCase keys)."""

    class Meta:
        unknown = ma.INCLUDE

    formatVersion = ma.fields.String(required=True)
    database = ma.fields.String(required=True)
    timestamp = ma.fields.String(required=True)
    appVersion = ma.fields.String(required=True)
    tableCount = ma.fields.Integer(required=True)
    rowCounts = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(),
                               required=True)
    sha256 = ma.fields.String(required=True)
    size = ma.fields.Integer(required=True)
    snapshotAt = ma.fields.String()
    serverVersion = ma.fields.String()
    pgDumpMajor = ma.fields.Integer()
    schemaRevision = ma.fields.String(allow_none=True)
    jobId = ma.fields.String()
    createdBy = ma.fields.String(allow_none=True)


class BackupInfoSchema(CamelSchema):
    id = ma.fields.String(required=True)
    filename = ma.fields.String(required=True)
    database = ma.fields.String(required=True)
    timestamp = ma.fields.String(required=True)
    size = ma.fields.Integer(required=True)
    metadata = ma.fields.Nested(BackupMetadataSchema, required=True)


class BackupListSchema(CamelSchema):
    data = ma.fields.List(ma.fields.Nested(BackupInfoSchema), required=True)


class BackupInfoEnvelopeSchema(CamelSchema):
    data = ma.fields.Nested(BackupInfoSchema, required=True)


class CapabilitiesSchema(CamelSchema):
    litemaas_available = ma.fields.Boolean(required=True)
    litellm_available = ma.fields.Boolean(required=True)
    litellm_configured = ma.fields.Boolean(required=True)
    storage_path = ma.fields.String(required=True)
    tools = ma.fields.Dict(required=True, metadata={
        "description": "Per database: the pg_dump/pg_restore directory and major version "
                       "chosen for its server, or why none fits"})


class CapabilitiesEnvelopeSchema(CamelSchema):
    data = ma.fields.Nested(CapabilitiesSchema, required=True)


class _ProgressSchema(CamelSchema):
    current_table = ma.fields.String(required=True)
    tables_completed = ma.fields.Integer(required=True)
    tables_total = ma.fields.Integer(required=True)
    rows_processed = ma.fields.Integer(required=True)
    rows_total = ma.fields.Integer(required=True)
    elapsed = ma.fields.Integer(required=True)


class BackupStatusSchema(CamelSchema):
    state = ma.fields.String(required=True, validate=validate.OneOf(
        ("idle", "running", "completed", "failed")))
    database = ma.fields.String(allow_none=True)
    job_id = ma.fields.UUID(allow_none=True)
    progress = ma.fields.Nested(_ProgressSchema)
    backup = ma.fields.Nested(BackupInfoSchema, allow_none=True)
    error = ma.fields.String(allow_none=True)
    started_at = ma.fields.AwareDateTime(allow_none=True)
    completed_at = ma.fields.AwareDateTime(allow_none=True)


class BackupStatusEnvelopeSchema(CamelSchema):
    data = ma.fields.Nested(BackupStatusSchema, required=True)


class BackupCreateSchema(CamelSchema):
    database = DATABASE


class BackupStartedSchema(CamelSchema):
    """202: the job (poll ``/jobs/{id}`` or ``/admin/backup/status``)."""

    job_id = ma.fields.UUID(required=True)
    status = ma.fields.String(required=True)
    links = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(), required=True)
    data = ma.fields.Nested(BackupStatusSchema, required=True)


class RestoreSchema(CamelSchema):
    database = DATABASE


class TestRestoreSchema(CamelSchema):
    database = DATABASE
    test_schema_name = ma.fields.String(validate=validate.Length(max=41), metadata={
        "description": "Names the scratch database (ltm_<name>), dropped after the check"})


class RestoreResultSchema(CamelSchema):
    success = ma.fields.Boolean(required=True)
    tables_restored = ma.fields.Integer(required=True)
    rows_restored = ma.fields.Integer(required=True)
    duration = ma.fields.Float(required=True)
    warnings = ma.fields.List(ma.fields.String(), required=True)
    test_schema = ma.fields.String()


class RestoreDoneSchema(CamelSchema):
    """200: the job finished within the wait; ``data`` is its result."""

    job_id = ma.fields.UUID(required=True)
    status = ma.fields.String(required=True)
    data = ma.fields.Nested(RestoreResultSchema, required=True)


class RestoreAcceptedSchema(CamelSchema):
    """202: still running; poll the job."""

    job_id = ma.fields.UUID(required=True)
    status = ma.fields.String(required=True)
    links = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(), required=True)


class BackupDeletedSchema(CamelSchema):
    success = ma.fields.Boolean(required=True)
    message = ma.fields.String(required=True)
