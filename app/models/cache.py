"""Version tokens of cached reads, kept by PostgreSQL triggers (see app/services/read_cache)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, String, Uuid, func
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class CacheVersion(Base):
    """One row per cached scope; ``token`` changes in the same transaction as any write to the
    scope's tables (a statement trigger does it), so a token read before the data is safe."""

    __tablename__ = "cache_versions"

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    token: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    changed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
