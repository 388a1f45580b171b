"""Governance (DESIGN §11): notifications and their delivery log, budget alerts and the budget
period ledger, and rotated-out key values still inside their grace period."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at, enum_check, updated_at, uuid_pk

CHANNEL_KINDS = ("webhook", "email")
DELIVERY_STATUSES = ("pending", "sending", "delivered", "failed")
BUDGET_OWNER_TYPES = ("user", "team", "api_key")


class NotificationChannel(Base):
    """Where admins send events: a signed webhook or an e-mail list, subscribed to events."""

    __tablename__ = "notification_channels"
    __table_args__ = (enum_check("kind", CHANNEL_KINDS),)

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(100), nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    url: Mapped[str | None] = mapped_column(Text)  # webhook
    # HMAC key of a webhook: written by admins, never read back through the API.
    secret: Mapped[str | None] = mapped_column(Text)
    recipients: Mapped[list[str]] = mapped_column(  # e-mail
        ARRAY(Text), nullable=False, default=list, server_default=text("'{}'::text[]"))
    events: Mapped[list[str]] = mapped_column(
        ARRAY(Text), nullable=False, default=list, server_default=text("'{}'::text[]"))
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class Notification(Base):
    """An in-app notice to one user; ``dedupe_key`` makes every notice once-only."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_created", "user_id", "created_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    event: Mapped[str] = mapped_column(String(64), nullable=False)
    severity: Mapped[str] = mapped_column(String(16), nullable=False, server_default="info")
    title: Mapped[str] = mapped_column(String(255), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    dedupe_key: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()


class NotificationDelivery(Base):
    """One outbound message (webhook call or e-mail) and its log: sent at most once."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        enum_check("status", DELIVERY_STATUSES),
        enum_check("kind", CHANNEL_KINDS),
        Index("ix_notification_deliveries_status_created", "status", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    channel_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("notification_channels.id", ondelete="SET NULL"), index=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(  # a user's own e-mail
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    event: Mapped[str] = mapped_column(String(64), nullable=False)
    dedupe_key: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    response_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class NotificationPreference(Base):
    """A user's choice for one event of their own: in-app and/or e-mail (absent: both on)."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    event: Mapped[str] = mapped_column(String(64), primary_key=True)
    in_app: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    email: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    updated_at: Mapped[datetime] = updated_at()


class BudgetAlert(Base):
    """A budget threshold fired for one owner in one period: the row is the once-ness."""

    __tablename__ = "budget_alerts"
    __table_args__ = (
        UniqueConstraint("owner_type", "owner_id", "period", "threshold",
                         name="uq_budget_alerts_once"),
        enum_check("owner_type", BUDGET_OWNER_TYPES),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    owner_type: Mapped[str] = mapped_column(String(16), nullable=False)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    period: Mapped[str] = mapped_column(String(16), nullable=False)  # start date or lifetime
    threshold: Mapped[int] = mapped_column(Integer, nullable=False)
    spend: Mapped[Decimal] = mapped_column(Numeric(18, 6), nullable=False)
    budget: Mapped[Decimal] = mapped_column(Numeric(18, 6), nullable=False)
    forecast: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    fired_at: Mapped[datetime] = created_at()


class BudgetPeriodLedger(Base):
    """Opened and closed budget periods of every owner with a budget (admins read it)."""

    __tablename__ = "budget_periods"
    __table_args__ = (
        UniqueConstraint("owner_type", "owner_id", "period_start",
                         name="uq_budget_periods_owner_start"),
        enum_check("owner_type", BUDGET_OWNER_TYPES),
        Index("ix_budget_periods_open", "owner_type", "closed_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    owner_type: Mapped[str] = mapped_column(String(16), nullable=False)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    budget_duration: Mapped[str] = mapped_column(String(20), nullable=False)
    period_start: Mapped[date] = mapped_column(Date, nullable=False)
    reset_at: Mapped[date] = mapped_column(Date, nullable=False)  # the next period's start
    budget: Mapped[Decimal | None] = mapped_column(Numeric(18, 6))
    opened_at: Mapped[datetime] = created_at()
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    spend_at_close: Mapped[Decimal | None] = mapped_column(Numeric(18, 6))


class ApiKeyGraceValue(Base):
    """A rotated-out key value that LiteLLM still honours until ``revoke_after``."""

    __tablename__ = "api_key_grace_values"

    id: Mapped[uuid.UUID] = uuid_pk()
    api_key_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False, index=True)
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    key_prefix: Mapped[str] = mapped_column(String(32), nullable=False)
    revoke_after: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    revoke_job_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = created_at()
