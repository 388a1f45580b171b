"""Declarative base and the column helpers every table shares."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Integer,
    MetaData,
    Numeric,
    String,
    Uuid,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(
        Uuid, primary_key=True, default=uuid.uuid4, server_default=text("gen_random_uuid()")
    )


def created_at() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


def updated_at() -> Mapped[datetime]:
    return mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now(), onupdate=func.now()
    )


def enum_check(column: str, values: tuple[str, ...], name: str | None = None) -> CheckConstraint:
    """A CHECK constraint that keeps a text column inside an enumeration."""
    allowed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=name or f"{column}_valid")


def non_negative(*columns: str) -> tuple[CheckConstraint, ...]:
    """``<column> IS NULL OR <column> >= 0`` for each column (named ``<column>_non_negative``)."""
    return tuple(CheckConstraint(f"{c} IS NULL OR {c} >= 0", name=f"{c}_non_negative")
                 for c in columns)


class BudgetLimits:
    """The budget and rate limits users, teams and API keys share (pushed to LiteLLM); their
    constraints come from ``budget_limit_checks`` so the three tables cannot drift apart."""

    max_budget: Mapped[Decimal | None] = mapped_column(Numeric(18, 6))
    budget_duration: Mapped[str | None] = mapped_column(String(20))
    tpm_limit: Mapped[int | None] = mapped_column(Integer)
    rpm_limit: Mapped[int | None] = mapped_column(Integer)


def budget_limit_checks(*more: str) -> tuple[CheckConstraint, ...]:
    return non_negative("max_budget", "tpm_limit", "rpm_limit", *more)


def _counter() -> Mapped[int]:
    return mapped_column(BigInteger, nullable=False, server_default=text("0"))


class UsageFigures:
    """The figures of a usage row (per key and day, or summed per model and day)."""

    requests: Mapped[int] = _counter()
    successful_requests: Mapped[int] = _counter()
    failed_requests: Mapped[int] = _counter()
    prompt_tokens: Mapped[int] = _counter()
    completion_tokens: Mapped[int] = _counter()
    total_tokens: Mapped[int] = _counter()
    spend: Mapped[Decimal] = mapped_column(Numeric(20, 8), nullable=False,
                                           server_default=text("0"))
