"""Announcement banners: the shapes of upstream LiteMaaS' banners service (the web UI's
contract), with stricter input: http(s) links only, known roles, existing users."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from app.models import BANNER_VARIANTS, ROLES
from app.schemas.base import CamelSchema, display_name

LANGUAGE = validate.Regexp(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$",
                           error="Not a language code (en, fr, pt-BR, ...)")
MAX_LANGUAGES = 30
MAX_TARGET_USERS = 1000


def _texts(max_length: int, require_english: bool) -> ma.fields.Dict:
    def check(value: dict) -> None:
        if len(value) > MAX_LANGUAGES:
            raise ma.ValidationError(f"At most {MAX_LANGUAGES} languages")
        if require_english and not (value.get("en") or "").strip():
            raise ma.ValidationError("English text (en) is required")

    return ma.fields.Dict(
        keys=ma.fields.String(validate=LANGUAGE),
        values=ma.fields.String(validate=validate.Length(max=max_length)),
        validate=check,
        metadata={"description": "Text per language code; `en` is the fallback",
                  "example": {"en": "Maintenance on Saturday 10:00 UTC"}})


def _link_url() -> ma.fields.Url:
    return ma.fields.Url(schemes={"http", "https"}, require_tld=False, allow_none=True,
                         validate=validate.Length(max=500),
                         metadata={"description": "http(s) only"})


def _targets() -> dict:
    return {
        "target_roles": ma.fields.List(
            ma.fields.String(validate=validate.OneOf(ROLES)), allow_none=True,
            validate=validate.Length(max=len(ROLES)),
            metadata={"description": "Shown only to users holding one of these roles "
                                     "(empty or null: everyone)"}),
        "target_user_ids": ma.fields.List(
            ma.fields.UUID(), allow_none=True, validate=validate.Length(max=MAX_TARGET_USERS),
            metadata={"description": "Shown only to these users (empty or null: everyone); "
                                     "unknown ids are refused"}),
    }


class BannerSchema(CamelSchema):
    id = ma.fields.UUID(required=True)
    name = ma.fields.String(required=True)
    is_active = ma.fields.Boolean(required=True)
    priority = ma.fields.Integer(required=True)
    content = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(), required=True)
    variant = ma.fields.String(required=True, validate=validate.OneOf(BANNER_VARIANTS))
    is_dismissible = ma.fields.Boolean(required=True)
    dismiss_duration_hours = ma.fields.Integer(allow_none=True)
    start_date = ma.fields.AwareDateTime(allow_none=True)
    end_date = ma.fields.AwareDateTime(allow_none=True)
    target_roles = ma.fields.List(ma.fields.String(), allow_none=True)
    target_user_ids = ma.fields.List(ma.fields.UUID(), allow_none=True)
    link_url = ma.fields.String(allow_none=True)
    link_text = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(),
                               allow_none=True)
    markdown_enabled = ma.fields.Boolean(required=True)
    created_by = ma.fields.UUID(allow_none=True)
    updated_by = ma.fields.UUID(allow_none=True)
    created_at = ma.fields.AwareDateTime(required=True)
    updated_at = ma.fields.AwareDateTime(required=True)


class _BannerFields(CamelSchema):
    name = ma.fields.String(validate=display_name(100))
    is_active = ma.fields.Boolean()
    priority = ma.fields.Integer(validate=validate.Range(min=0, max=1000))
    variant = ma.fields.String(validate=validate.OneOf(BANNER_VARIANTS))
    is_dismissible = ma.fields.Boolean()
    dismiss_duration_hours = ma.fields.Integer(allow_none=True,
                                               validate=validate.Range(min=1, max=24 * 366))
    start_date = ma.fields.AwareDateTime(allow_none=True)
    end_date = ma.fields.AwareDateTime(allow_none=True)
    link_url = _link_url()
    link_text = _texts(100, require_english=False)
    markdown_enabled = ma.fields.Boolean()
    target_roles = _targets()["target_roles"]
    target_user_ids = _targets()["target_user_ids"]


class BannerCreateSchema(_BannerFields):
    name = ma.fields.String(required=True, validate=display_name(100))
    content = _texts(500, require_english=True)
    content.required = True


class BannerUpdateSchema(_BannerFields):
    """Every field optional (at least one); a change shows the banner again to users who
    dismissed it."""

    content = _texts(500, require_english=True)

    @ma.validates_schema
    def _not_empty(self, data, **_):
        if not data:
            raise ma.ValidationError("Give at least one field to change")


class BannerSimpleUpdateSchema(CamelSchema):
    """The settings page's edit form (upstream's PUT): visibility and content together."""

    name = ma.fields.String(validate=display_name(100))
    is_active = ma.fields.Boolean(required=True)
    content = _texts(500, require_english=True)
    content.required = True
    variant = ma.fields.String(validate=validate.OneOf(BANNER_VARIANTS))
    is_dismissible = ma.fields.Boolean()
    markdown_enabled = ma.fields.Boolean()


class BannerChangedSchema(CamelSchema):
    banner = ma.fields.Nested(BannerSchema, required=True)
    message = ma.fields.String(required=True)


class MessageSchema(CamelSchema):
    message = ma.fields.String(required=True)


class BulkVisibilitySchema(ma.Schema):
    """``{bannerId: visible}`` for up to 100 banners."""

    class Meta:
        unknown = ma.INCLUDE

    @ma.validates_schema(pass_original=True)
    def _check(self, data, original, **_):
        if not isinstance(original, dict) or not original:
            raise ma.ValidationError("Give at least one {bannerId: true|false}")
        if len(original) > 100:
            raise ma.ValidationError("At most 100 banners at once")
        import uuid

        problems = {}
        for key, value in original.items():
            try:
                uuid.UUID(str(key))
            except ValueError:
                problems[str(key)[:64]] = ["Not a banner id."]
                continue
            if not isinstance(value, bool):
                problems[str(key)] = ["Not a boolean."]
        if problems:
            raise ma.ValidationError(problems)


class BannerAuditEntrySchema(CamelSchema):
    id = ma.fields.UUID(required=True)
    banner_id = ma.fields.String(required=True)
    action = ma.fields.String(required=True, validate=validate.OneOf(
        ("create", "update", "delete", "activate", "deactivate")))
    changed_by = ma.fields.String(allow_none=True)
    previous_state = ma.fields.Dict(allow_none=True)
    new_state = ma.fields.Dict(allow_none=True)
    changed_at = ma.fields.AwareDateTime(required=True)


class BannerAuditListSchema(CamelSchema):
    audit_logs = ma.fields.List(ma.fields.Nested(BannerAuditEntrySchema), required=True)
    total = ma.fields.Integer(required=True)
