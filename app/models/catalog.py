"""The model catalogue mirrored from LiteLLM, and one row per sync run."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ARRAY,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at, enum_check, updated_at, uuid_pk

AVAILABILITY = ("available", "unavailable")
SYNC_TRIGGERS = ("startup", "manual", "scheduled")


class Model(Base):
    __tablename__ = "models"
    __table_args__ = (
        enum_check("availability", AVAILABILITY),
        Index("ix_models_provider_id", "provider", "id"),
        Index("ix_models_features", "features", postgresql_using="gin"),
    )

    id: Mapped[str] = mapped_column(String(255), primary_key=True)  # LiteLLM model_name
    provider: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    litellm_model_id: Mapped[str | None] = mapped_column(String(255))
    backend_model: Mapped[str | None] = mapped_column(String(255))
    mode: Mapped[str | None] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(Text)
    context_length: Mapped[int | None] = mapped_column(Integer)
    max_output_tokens: Mapped[int | None] = mapped_column(Integer)
    input_cost_per_token: Mapped[Decimal | None] = mapped_column(Numeric(24, 12))
    output_cost_per_token: Mapped[Decimal | None] = mapped_column(Numeric(24, 12))
    supports_vision: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    supports_function_calling: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False
    )
    supports_parallel_function_calling: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False
    )
    supports_tool_choice: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    supports_response_schema: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False
    )
    supports_reasoning: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    features: Mapped[list[str]] = mapped_column(
        ARRAY(Text), nullable=False, server_default=text("'{}'::text[]")
    )
    restricted: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("false")
    )
    availability: Mapped[str] = mapped_column(
        String(16), nullable=False, server_default="available", index=True
    )
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    # The provider key of a model created from LiteMaaS, Fernet-encrypted; never returned.
    encrypted_api_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    litellm_info: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    first_seen_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("now()")
    )
    last_seen_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("now()")
    )
    unavailable_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class SyncRun(Base):
    __tablename__ = "sync_runs"
    __table_args__ = (enum_check("trigger", SYNC_TRIGGERS),)

    id: Mapped[uuid.UUID] = uuid_pk()
    job_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("jobs.id", ondelete="SET NULL"), index=True
    )
    trigger: Mapped[str] = mapped_column(String(16), nullable=False)
    success: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    noop: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    payload_hash: Mapped[str | None] = mapped_column(String(64))
    total: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    added: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    updated: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    unchanged: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    marked_unavailable: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=text("0")
    )
    revived: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    rejected: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    errors: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, nullable=False, server_default=text("'[]'::jsonb")
    )
    fetch_ms: Mapped[int | None] = mapped_column(Integer)
    db_ms: Mapped[int | None] = mapped_column(Integer)
    total_ms: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = created_at()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
