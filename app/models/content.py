"""What admins publish to every page of the web UI: announcement banners (targeted,
dismissible) and branding (sign-in page and header titles and images)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at, enum_check, updated_at, uuid_pk

BANNER_VARIANTS = ("info", "warning", "danger", "success", "default")
BRANDING_IMAGE_KINDS = ("login-logo", "header-brand-light", "header-brand-dark")


class Banner(Base):
    __tablename__ = "banners"
    __table_args__ = (
        enum_check("variant", BANNER_VARIANTS),
        CheckConstraint("priority >= 0", name="priority_non_negative"),
        CheckConstraint("dismiss_duration_hours IS NULL OR dismiss_duration_hours >= 1",
                        name="dismiss_duration_positive"),
        CheckConstraint("end_date IS NULL OR start_date IS NULL OR end_date > start_date",
                        name="dates_ordered"),
        Index("ix_banners_active_priority", "is_active", "priority", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False,
                                            server_default=text("false"))
    priority: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    content: Mapped[dict[str, str]] = mapped_column(JSONB, nullable=False)
    variant: Mapped[str] = mapped_column(String(16), nullable=False, server_default="info")
    is_dismissible: Mapped[bool] = mapped_column(Boolean, nullable=False,
                                                 server_default=text("false"))
    dismiss_duration_hours: Mapped[int | None] = mapped_column(Integer)
    start_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    target_roles: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    target_user_ids: Mapped[list[uuid.UUID] | None] = mapped_column(ARRAY(Uuid))
    link_url: Mapped[str | None] = mapped_column(String(500))
    link_text: Mapped[dict[str, str] | None] = mapped_column(JSONB)
    markdown_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False,
                                                   server_default=text("false"))
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL"))
    updated_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class BannerDismissal(Base):
    """A user dismissed a banner; it stays hidden for them (for the banner's
    ``dismiss_duration_hours`` when set) until an admin changes the banner."""

    __tablename__ = "banner_dismissals"

    banner_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("banners.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    dismissed_at: Mapped[datetime] = created_at()


class BrandingSettings(Base):
    """One row (id 1): the sign-in page and header texts and which customisations are on."""

    __tablename__ = "branding_settings"
    __table_args__ = (CheckConstraint("id = 1", name="singleton"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, server_default=text("1"))
    login_logo_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False,
                                                     server_default=text("false"))
    login_title_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False,
                                                      server_default=text("false"))
    login_title: Mapped[str | None] = mapped_column(String(200))
    login_subtitle_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False,
                                                         server_default=text("false"))
    login_subtitle: Mapped[str | None] = mapped_column(String(500))
    header_brand_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False,
                                                       server_default=text("false"))
    updated_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = updated_at()


class BrandingImage(Base):
    """An uploaded branding image; its type comes from its bytes, never the uploader's claim."""

    __tablename__ = "branding_images"
    __table_args__ = (enum_check("kind", BRANDING_IMAGE_KINDS),)

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    mime_type: Mapped[str] = mapped_column(String(32), nullable=False)
    size_bytes: Mapped[int] = mapped_column(Integer, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = updated_at()

