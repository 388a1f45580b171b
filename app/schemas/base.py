"""Schema base classes and the one pager shape every list endpoint uses."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate


def camelcase(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


NAME_PUNCTUATION = frozenset(" ._-:/#()@+,&!?'*")


def _display_name(value: str) -> str:
    """Letters, marks, digits and symbols (emoji) of any script, spaces and ordinary
    punctuation: no control or format characters (newlines, bidi overrides), no markup or
    statement separators (``<``, ``>``, ``;``, ``"``, backslash)."""
    import unicodedata

    for char in value:
        category = unicodedata.category(char)
        if not (category[0] in "LMN" or category == "So" or char in NAME_PUNCTUATION):
            raise ma.ValidationError(f"Character {char!r} is not allowed in a name")
    if value != value.strip():
        raise ma.ValidationError("A name must not start or end with a space")
    return value


def display_name(max_length: int = 255):
    """Validators for a human-readable name (1..max_length characters, see _display_name)."""
    return [validate.Length(min=1, max=max_length), _display_name]


class CamelSchema(ma.Schema):
    """snake_case attributes, camelCase JSON; unknown input fields are refused."""

    class Meta:
        unknown = ma.RAISE

    def on_bind_field(self, field_name: str, field_obj: ma.fields.Field) -> None:
        field_obj.data_key = camelcase(field_obj.data_key or field_name)


class PageQuerySchema(CamelSchema):
    page = ma.fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    limit = ma.fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class PaginationSchema(CamelSchema):
    page = ma.fields.Integer(required=True)
    limit = ma.fields.Integer(required=True)
    total = ma.fields.Integer(required=True)
    total_pages = ma.fields.Integer(required=True)


def page_of(item_schema: type[ma.Schema], name: str | None = None, *,
            with_total: bool = False) -> type[ma.Schema]:
    """Response schema ``{"data": [item], "pagination": {...}}`` for a list endpoint;
    ``with_total`` adds ``total`` at the top level too (the LiteMaaS web UI reads it there)."""
    fields = {
        "data": ma.fields.List(ma.fields.Nested(item_schema), required=True),
        "pagination": ma.fields.Nested(PaginationSchema, required=True),
    }
    if with_total:
        fields["total"] = ma.fields.Integer(required=True, metadata={
            "description": "Same as pagination.total"})
    return type(name or f"{item_schema.__name__.removesuffix('Schema')}PageSchema",
                (CamelSchema,), fields)


class JobAcceptedSchema(CamelSchema):
    job_id = ma.fields.UUID(required=True)
    status = ma.fields.String(required=True)
    links = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(), required=True)
