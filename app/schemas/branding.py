"""Branding of the sign-in page and header (upstream LiteMaaS' branding contract)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from app.schemas.base import CamelSchema


class BrandingSchema(CamelSchema):
    login_logo_enabled = ma.fields.Boolean(required=True)
    has_login_logo = ma.fields.Boolean(required=True)
    login_title_enabled = ma.fields.Boolean(required=True)
    login_title = ma.fields.String(allow_none=True, required=True)
    login_subtitle_enabled = ma.fields.Boolean(required=True)
    login_subtitle = ma.fields.String(allow_none=True, required=True)
    header_brand_enabled = ma.fields.Boolean(required=True)
    has_header_brand_light = ma.fields.Boolean(required=True)
    has_header_brand_dark = ma.fields.Boolean(required=True)
    updated_at = ma.fields.AwareDateTime(allow_none=True, required=True)


def _plain_text(value: str) -> None:
    """One line of text: no control or format characters (bidi overrides), no markup."""
    import unicodedata

    for char in value:
        if unicodedata.category(char) in ("Cc", "Cf") or char in "<>":
            raise ma.ValidationError(f"Character {char!r} is not allowed here")


class BrandingUpdateSchema(CamelSchema):
    login_logo_enabled = ma.fields.Boolean()
    login_title_enabled = ma.fields.Boolean()
    login_title = ma.fields.String(allow_none=True,
                                   validate=[validate.Length(max=200), _plain_text])
    login_subtitle_enabled = ma.fields.Boolean()
    login_subtitle = ma.fields.String(allow_none=True,
                                      validate=[validate.Length(max=500), _plain_text])
    header_brand_enabled = ma.fields.Boolean()


class BrandingImageUploadSchema(CamelSchema):
    data = ma.fields.String(required=True, validate=validate.Length(min=1), metadata={
        "description": "The image, base64-encoded; its type is read from its bytes"})
    mime_type = ma.fields.String(required=True, validate=validate.Length(max=100), metadata={
        "description": "What the browser says the file is; must agree with its bytes",
        "example": "image/png"})


class BrandingMessageSchema(CamelSchema):
    message = ma.fields.String(required=True)
