"""API keys (stored hashed) and the models each key may call."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
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
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import (
    Base,
    BudgetLimits,
    budget_limit_checks,
    created_at,
    enum_check,
    updated_at,
    uuid_pk,
)

PROVISIONING_STATES = ("pending", "active", "failed", "revoking", "revoked")
# A key that exists for its owner (not revoked or on its way out): counts toward limits and
# holds models.
LIVE_KEY_STATES = ("pending", "active", "failed")


class ApiKey(BudgetLimits, Base):
    __tablename__ = "api_keys"
    __table_args__ = (
        enum_check("provisioning_state", PROVISIONING_STATES),
        *budget_limit_checks("soft_budget", "max_parallel_requests"),
        Index("ix_api_keys_user_created", "user_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    team_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("teams.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    key_prefix: Mapped[str] = mapped_column(String(32), nullable=False)
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    encrypted_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    litellm_key_token: Mapped[str | None] = mapped_column(String(64))
    key_alias: Mapped[str | None] = mapped_column(String(255))
    soft_budget: Mapped[Decimal | None] = mapped_column(Numeric(18, 6))
    max_parallel_requests: Mapped[int | None] = mapped_column(Integer)
    # Per-model limits, pushed to LiteLLM as model_max_budget / model_rpm_limit / model_tpm_limit:
    # {"model": {"budget_limit": 1.5, "time_period": "monthly"}}, {"model": 10}.
    model_max_budget: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    model_rpm_limit: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    model_tpm_limit: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # The owner's free-form metadata (description, ...), also pushed to LiteLLM's key metadata.
    key_metadata: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Blocked in LiteLLM by the idle sweep (KEY_IDLE_DISABLE_DAYS) until the owner re-enables it.
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disabled_reason: Mapped[str | None] = mapped_column(String(64))
    spend: Mapped[Decimal] = mapped_column(
        Numeric(18, 6), nullable=False, server_default=text("0")
    )
    provisioning_state: Mapped[str] = mapped_column(
        String(16), nullable=False, server_default="pending", index=True
    )
    provisioning_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()

    models: Mapped[list[ApiKeyModel]] = relationship(
        back_populates="api_key", cascade="all, delete-orphan", order_by="ApiKeyModel.model_id"
    )

    @property
    def model_ids(self) -> list[str]:
        return [m.model_id for m in self.models]


class ApiKeyModel(Base):
    __tablename__ = "api_key_models"

    api_key_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True
    )
    model_id: Mapped[str] = mapped_column(
        String(255), ForeignKey("models.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = created_at()

    api_key: Mapped[ApiKey] = relationship(back_populates="models")
