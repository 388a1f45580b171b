"""Runtime settings on the wire (the web UI's settings tabs): API key defaults and maximums,
new-user defaults, currency."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from app.schemas.base import CamelSchema, display_name
from app.schemas.ui_config import ApiKeyDefaultsSchema, CurrencySchema
from app.schemas.users import BUDGET_DURATION

MONEY = validate.Range(min=0, max=1_000_000_000)
LIMIT = validate.Range(min=0, max=2_147_483_647)
DAYS = validate.Range(min=1, max=3650)


def _money():
    return ma.fields.Decimal(allow_none=True, validate=MONEY, allow_nan=False, places=6)


def _limit():
    return ma.fields.Integer(allow_none=True, strict=True, validate=LIMIT)


class _KeyDefaultsInput(CamelSchema):
    max_budget = _money()
    tpm_limit = _limit()
    rpm_limit = _limit()
    budget_duration = ma.fields.String(allow_none=True, validate=BUDGET_DURATION)
    soft_budget = _money()
    expiration_days = ma.fields.Integer(allow_none=True, strict=True, validate=DAYS)


class _KeyMaximumsInput(CamelSchema):
    max_budget = _money()
    tpm_limit = _limit()
    rpm_limit = _limit()
    expiration_days = ma.fields.Integer(allow_none=True, strict=True, validate=DAYS)


class ApiKeyDefaultsUpdateSchema(CamelSchema):
    """Every value replaced: a field left out or null means none."""

    defaults = ma.fields.Nested(_KeyDefaultsInput, required=True)
    maximums = ma.fields.Nested(_KeyMaximumsInput, required=True)


class UserDefaultsUpdateSchema(CamelSchema):
    """Applied to users created from now on (null: the environment default)."""

    max_budget = _money()
    tpm_limit = _limit()
    rpm_limit = _limit()


class _EnvUserDefaults(CamelSchema):
    max_budget = ma.fields.Float(allow_none=True, required=True)
    tpm_limit = ma.fields.Integer(allow_none=True, required=True)
    rpm_limit = ma.fields.Integer(allow_none=True, required=True)


class UserDefaultsSchema(CamelSchema):
    max_budget = ma.fields.Float(allow_none=True, required=True)
    tpm_limit = ma.fields.Integer(allow_none=True, required=True)
    rpm_limit = ma.fields.Integer(allow_none=True, required=True)


class UserDefaultsViewSchema(UserDefaultsSchema):
    env_defaults = ma.fields.Nested(_EnvUserDefaults, required=True, metadata={
        "description": "DEFAULT_USER_*: what applies where no admin value is set"})


class CurrencyUpdateSchema(CamelSchema):
    code = ma.fields.String(required=True, validate=validate.Regexp(
        r"^[A-Za-z]{3}$", error="An ISO 4217 code of three letters"))
    symbol = ma.fields.String(validate=[validate.Length(min=1, max=5),
                                        validate.Regexp(r"^[^<>\"'\\;\s]+$")])
    name = ma.fields.String(validate=display_name(50))


__all__ = ["ApiKeyDefaultsSchema", "ApiKeyDefaultsUpdateSchema", "CurrencySchema",
           "CurrencyUpdateSchema", "UserDefaultsSchema", "UserDefaultsUpdateSchema",
           "UserDefaultsViewSchema"]
