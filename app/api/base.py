"""flask-smorest's Api and Blueprint, subclassed once so every route documents the same way.

``Blueprint.auth(permission)`` is the only way a route declares who may call it: it
authenticates, checks the permission table and documents security, the required roles and
the 401/403 responses in OpenAPI.
"""

from __future__ import annotations

from functools import wraps
from typing import Any

import flask_smorest
import marshmallow as ma
from flask import Response, current_app
from webargs.flaskparser import FlaskParser

from app.auth.identity import authenticate
from app.auth.permissions import PUBLIC, describe, require


def wire_json(body: dict[str, Any]) -> Response:
    """A body a service already built in its documented wire shape (plain JSON types), sent
    without the response schema's dump: for answers of thousands of nested objects (the usage
    dashboards), where Marshmallow took longer than the queries. The route still declares the
    schema, and the fuzz test checks the answer against it."""
    return current_app.json.response(body)


class ErrorBodySchema(ma.Schema):
    code = ma.fields.String(required=True, metadata={"example": "VALIDATION_ERROR"})
    message = ma.fields.String(required=True)
    details = ma.fields.Dict(required=True)


class ErrorSchema(ma.Schema):
    error = ma.fields.Nested(ErrorBodySchema, required=True)


class Api(flask_smorest.Api):
    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self):
        """Errors are handled once for the whole app in app.errors."""

    def _init_spec(self, *args, **kwargs):
        super()._init_spec(*args, **kwargs)
        self.spec.components.security_scheme(
            "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT or sk- key"}
        )
        self.spec.components.security_scheme(
            "apiKeyAuth", {"type": "apiKey", "in": "header", "name": "X-API-Key"}
        )


class Parser(FlaskParser):
    """Validation failures answer 400 (documented as such), not webargs' default 422."""

    DEFAULT_VALIDATION_STATUS = 400


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = Parser()

    def arguments(self, schema, *args, **kwargs):
        """flask-smorest's ``arguments``, given a schema instance made once: webargs builds a
        new instance from a class on every request (marshmallow deep-copies every declared
        field: ~8 % of a cached catalogue answer). Loading keeps no state on the schema."""
        if isinstance(schema, type):
            schema = schema()
        return super().arguments(schema, *args, **kwargs)

    def auth(self, permission: str):
        """Require an identity allowed ``permission`` (see app.auth.permissions)."""

        def decorator(func):
            @wraps(func)
            def wrapper(*args, **kwargs):
                if permission != PUBLIC:
                    require(authenticate(), permission)
                return func(*args, **kwargs)

            wrapper._required_permission = permission
            if permission == PUBLIC:
                return self.doc(security=[], description=describe(permission))(wrapper)
            documented = self.doc(
                security=[{"bearerAuth": []}, {"apiKeyAuth": []}],
                description=describe(permission),
                **{"x-required-permission": permission},
            )(wrapper)
            documented = self.alt_response(401, response="UNAUTHORIZED")(documented)
            documented = self.alt_response(403, response="FORBIDDEN")(documented)
            return self.alt_response(429, response="TOO_MANY_REQUESTS")(documented)

        return decorator

