"""Daily usage rollup from LiteLLM activity (DESIGN §9)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Date,
    ForeignKey,
    Identity,
    Index,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UsageFigures, updated_at, uuid_pk


class UsageDaily(UsageFigures, Base):
    __tablename__ = "usage_daily"
    __table_args__ = (
        # The grain. NULLS NOT DISTINCT so rows without a known key/user still upsert.
        UniqueConstraint(
            "day",
            "user_id",
            "api_key_hash",
            "model_id",
            name="uq_usage_daily_grain",
            postgresql_nulls_not_distinct=True,
        ),
        # Day-range scans use the grain index (day first); model views read
        # usage_daily_totals. These serve the per-user, per-team and per-key filters.
        Index("ix_usage_daily_user_day", "user_id", "day"),
        Index("ix_usage_daily_team_day", "team_id", "day"),
        Index("ix_usage_daily_key_day", "api_key_id", "day"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    day: Mapped[date] = mapped_column(Date, nullable=False)
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL")
    )
    team_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("teams.id", ondelete="SET NULL")
    )
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("api_keys.id", ondelete="SET NULL")
    )
    api_key_hash: Mapped[str | None] = mapped_column(String(64))
    model_id: Mapped[str] = mapped_column(String(255), nullable=False)
    provider: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = updated_at()


class UsageDailyTotal(UsageFigures, Base):
    """``usage_daily`` summed per (day, model, provider), recomputed by each rollup for its days,
    so admin views over months read a few thousand rows, not millions.
    """

    __tablename__ = "usage_daily_totals"
    __table_args__ = (
        UniqueConstraint(
            "day",
            "model_id",
            "provider",
            name="uq_usage_daily_totals_grain",
            postgresql_nulls_not_distinct=True,
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    day: Mapped[date] = mapped_column(Date, nullable=False)
    model_id: Mapped[str] = mapped_column(String(255), nullable=False)
    provider: Mapped[str | None] = mapped_column(String(64))
