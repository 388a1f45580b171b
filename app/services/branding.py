"""Branding of the web UI: sign-in page title, subtitle and logo, header brand images.

Images are checked by what their bytes are (PNG, JPEG, GIF, WebP signatures; SVG parsed, with
no scripts, event handlers, external references or entities), never by the uploader's claim,
and by size (``BRANDING_IMAGE_MAX_BYTES``). They live in the database (so backups carry them)
and are served publicly: the sign-in page shows the logo before anyone signs in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from app.errors import NotFound, ValidationError
from app.extensions import db
from app.models import BRANDING_IMAGE_KINDS, BrandingImage, BrandingSettings
from app.services import audit

TEXT_FIELDS = ("login_logo_enabled", "login_title_enabled", "login_title",
               "login_subtitle_enabled", "login_subtitle", "header_brand_enabled")
MIME_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png"}
SVG_NS = "{http://www.w3.org/2000/svg}"
# Anything that could run or fetch when an SVG is opened on its own.
SVG_FORBIDDEN = re.compile(
    rb"<!DOCTYPE|<!ENTITY|<\s*script|<\s*foreignObject|\son[a-z]+\s*=|javascript:|"
    rb"(?:xlink:)?href\s*=\s*[\"'](?!#)|<\?xml-stylesheet|@import|url\(\s*[\"']?(?!#)",
    re.IGNORECASE)


@dataclass(frozen=True)
class Image:
    data: bytes
    mime_type: str
    sha256: str


def settings_view() -> dict[str, Any]:
    row = db.session.get(BrandingSettings, 1)
    kinds = set(db.session.scalars(select(BrandingImage.kind)))
    view = {name: getattr(row, name) if row else (False if name.endswith("enabled") else None)
            for name in TEXT_FIELDS}
    return {**view, "has_login_logo": "login-logo" in kinds,
            "has_header_brand_light": "header-brand-light" in kinds,
            "has_header_brand_dark": "header-brand-dark" in kinds,
            "updated_at": _last_change(row)}


def _last_change(row: BrandingSettings | None) -> datetime | None:
    times = [row.updated_at] if row else []
    times += list(db.session.scalars(select(BrandingImage.updated_at)))
    return max(times) if times else None


def update_settings(data: dict[str, Any], identity) -> dict[str, Any]:
    before = settings_view()
    values = {name: data[name] for name in TEXT_FIELDS if name in data}
    for name in ("login_title", "login_subtitle"):
        if name in values and values[name] is not None:
            values[name] = values[name].strip() or None
    stmt = insert(BrandingSettings).values(id=1, updated_by=identity.user_id,
                                           updated_at=datetime.now(UTC), **values)
    db.session.execute(stmt.on_conflict_do_update(
        index_elements=[BrandingSettings.id],
        set_={**values, "updated_by": identity.user_id, "updated_at": datetime.now(UTC)}))
    changes = {name: {"from": before[name], "to": value} for name, value in values.items()
               if before[name] != value}
    audit.record("BRANDING_UPDATED", "branding", "settings", details={"changes": changes})
    db.session.commit()
    return settings_view()


def _known(kind: str) -> str:
    if kind not in BRANDING_IMAGE_KINDS:
        raise NotFound("Unknown image kind", {"resource": "image", "id": kind[:64],
                                              "kinds": list(BRANDING_IMAGE_KINDS)},
                       code="IMAGE_NOT_FOUND")
    return kind


def upload_image(kind: str, encoded: str, declared_mime: str, identity) -> Image:
    """Store an image after checking its bytes; the stored type is the one they show."""
    _known(kind)
    data = _decode(encoded)
    limit = current_app.config["BRANDING_IMAGE_MAX_BYTES"]
    if len(data) > limit:
        raise ValidationError(f"The image is {len(data)} bytes; at most {limit} are accepted",
                              {"fields": {"data": ["Image too large."]}, "maxBytes": limit,
                               "sizeBytes": len(data)}, code="IMAGE_TOO_LARGE")
    sniffed = sniff(data)
    if sniffed is None:
        raise ValidationError("The file is not a PNG, JPEG, GIF, WebP or safe SVG image",
                              {"fields": {"data": ["Not a supported image."]}},
                              code="UNSUPPORTED_IMAGE")
    declared = MIME_ALIASES.get(declared_mime.strip().lower(), declared_mime.strip().lower())
    if declared != sniffed:
        raise ValidationError(f"The file says {declared_mime!r} but its content is {sniffed}",
                              {"fields": {"mimeType": [f"Content is {sniffed}."]}},
                              code="IMAGE_TYPE_MISMATCH")
    image = Image(data, sniffed, hashlib.sha256(data).hexdigest())
    stmt = insert(BrandingImage).values(kind=kind, data=data, mime_type=sniffed,
                                        size_bytes=len(data), sha256=image.sha256,
                                        updated_by=identity.user_id,
                                        updated_at=datetime.now(UTC))
    db.session.execute(stmt.on_conflict_do_update(
        index_elements=[BrandingImage.kind],
        set_={"data": data, "mime_type": sniffed, "size_bytes": len(data),
              "sha256": image.sha256, "updated_by": identity.user_id,
              "updated_at": datetime.now(UTC)}))
    audit.record("BRANDING_IMAGE_UPLOADED", "branding", kind,
                 details={"mimeType": sniffed, "sizeBytes": len(data), "sha256": image.sha256})
    db.session.commit()
    return image


def delete_image(kind: str, identity) -> None:
    image = db.session.get(BrandingImage, _known(kind))
    if image is None:
        raise NotFound(f"No {kind} image has been uploaded", {"resource": "image", "id": kind},
                       code="IMAGE_NOT_FOUND")
    db.session.delete(image)
    audit.record("BRANDING_IMAGE_DELETED", "branding", kind, details={"sha256": image.sha256})
    db.session.commit()


def get_image(kind: str) -> Image:
    image = db.session.get(BrandingImage, _known(kind))
    if image is None:
        raise NotFound(f"No {kind} image has been uploaded", {"resource": "image", "id": kind},
                       code="IMAGE_NOT_FOUND")
    return Image(image.data, image.mime_type, image.sha256)


def request_body_limit() -> int:
    """The largest upload body: the image limit in base64 plus room for the JSON around it."""
    return current_app.config["BRANDING_IMAGE_MAX_BYTES"] * 4 // 3 + 64 * 1024


# --- checking the bytes ---------------------------------------------------------------------


def _decode(encoded: str) -> bytes:
    text = encoded.strip()
    if text.startswith("data:"):  # a whole data URL is fine too
        text = text.partition(",")[2]
    try:
        data = base64.b64decode(re.sub(r"\s+", "", text), validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError("The image data is not valid base64",
                              {"fields": {"data": ["Not valid base64."]}}) from None
    if not data:
        raise ValidationError("The image is empty", {"fields": {"data": ["Empty image."]}})
    return data


def sniff(data: bytes) -> str | None:
    """The image type the bytes show (magic numbers), or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if _is_safe_svg(data):
        return "image/svg+xml"
    return None


def _is_safe_svg(data: bytes) -> bool:
    head = data.lstrip()[:1]
    if head != b"<" or SVG_FORBIDDEN.search(data):
        return False
    try:
        root = ElementTree.fromstring(data)  # no DTD was allowed above: no entity expansion
    except ElementTree.ParseError:
        return False
    return root.tag in (f"{SVG_NS}svg", "svg")
