"""Daily usage rollup from LiteLLM activity (DESIGN §9)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Date,
    Identity,
    Index,
    String,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UsageFigures, updated_at


class UsageDaily(UsageFigures, Base):
    """A fact table (migration 0009): bigint identity key, no foreign keys (triggers null the
    references of a deleted user, team or key; the rollup locks what it references), one
    partition per month in the ``usage_parts`` schema (app/services/usage_partitions.py)."""

    __tablename__ = "usage_daily"
    __table_args__ = (
        # The grain. NULLS NOT DISTINCT so rows without a known key/user still upsert.
        # User first: it serves the per-user reads too, and the rollup's COPY writes rows in
        # this order. Day-range scans over everyone prune to the months' partitions; model
        # views read usage_daily_totals.
        UniqueConstraint(
            "user_id",
            "day",
            "api_key_hash",
            "model_id",
            name="uq_usage_daily_grain",
            postgresql_nulls_not_distinct=True,
        ),
        # The per-team and per-key filters. Most usage belongs to no team: those rows stay out
        # of the team index (migration 0013), which the team filters and the team-deletion
        # trigger (one team id) use alike.
        Index("ix_usage_daily_team_day", "team_id", "day",
              postgresql_where=text("team_id IS NOT NULL")),
        Index("ix_usage_daily_key_day", "api_key_id", "day"),
        {"postgresql_partition_by": "RANGE (day)"},
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    team_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
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
