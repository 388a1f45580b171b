"""Subscriptions of users to models, with their status history."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at, enum_check, updated_at, uuid_pk

SUBSCRIPTION_STATUSES = ("active", "pending", "denied", "suspended", "cancelled")


class Subscription(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("user_id", "model_id", name="uq_subscriptions_user_model"),
        enum_check("status", SUBSCRIPTION_STATUSES),
        Index("ix_subscriptions_status_created", "status", "created_at"),
        CheckConstraint("quota_requests IS NULL OR quota_requests > 0",
                        name="quota_requests_positive"),
        CheckConstraint("quota_tokens IS NULL OR quota_tokens > 0", name="quota_tokens_positive"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    model_id: Mapped[str] = mapped_column(
        String(255), ForeignKey("models.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    reviewed_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL")
    )
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Time-boxed access: a beat job suspends the subscription at this moment.
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    renewal_requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # What the subscriber asked for (the web UI sends them); informational, not enforced:
    # limits are enforced per key in LiteLLM.
    quota_requests: Mapped[int | None] = mapped_column(BigInteger)
    quota_tokens: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class SubscriptionStatusHistory(Base):
    __tablename__ = "subscription_status_history"
    __table_args__ = (
        enum_check("new_status", SUBSCRIPTION_STATUSES),
        Index("ix_subscription_status_history_sub_time", "subscription_id", "changed_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("subscriptions.id", ondelete="CASCADE"), nullable=False
    )
    old_status: Mapped[str | None] = mapped_column(String(16))
    new_status: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    changed_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL")
    )
    changed_at: Mapped[datetime] = created_at()
