"""Domain errors and the one layer that turns every error into the error envelope.

Every error response is ``{"error": {"code", "message", "details"}}``. Services raise the
``AppError`` subclasses below; the handlers map them (and HTTP, validation, integrity and
uncaught errors) to a status and envelope. A 500 carries the request id, never a trace.
"""

from __future__ import annotations

import logging
import traceback
from http import HTTPStatus
from typing import Any

from flask import Flask, g, jsonify
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class AppError(Exception):
    """Base of domain errors; subclasses fix the status and code."""

    status = 400
    code = "BAD_REQUEST"

    def __init__(
        self,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.details = details or {}
        self.headers = headers or {}
        if code:
            self.code = code


class ValidationError(AppError):
    status, code = 400, "VALIDATION_ERROR"


class Unauthorized(AppError):
    status, code = 401, "UNAUTHORIZED"


class Forbidden(AppError):
    status, code = 403, "FORBIDDEN"


class NotFound(AppError):
    status, code = 404, "NOT_FOUND"

    @classmethod
    def resource(cls, kind: str, ident: Any) -> NotFound:
        return cls(f"{kind} not found", {"resource": kind, "id": str(ident)})


class Conflict(AppError):
    status, code = 409, "CONFLICT"


class Unprocessable(AppError):
    status, code = 422, "UNPROCESSABLE"


class RateLimited(AppError):
    status, code = 429, "RATE_LIMITED"


class ServiceUnavailable(AppError):
    status, code = 503, "SERVICE_UNAVAILABLE"


STATUS_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "UNPROCESSABLE",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


def envelope(status: int, code: str, message: str, details: dict | None = None, headers=None):
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    response = jsonify(body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _request_id() -> str | None:
    return getattr(g, "request_id", None)


def handle_app_error(error: AppError):
    return envelope(error.status, error.code, error.message, error.details, error.headers)


def handle_http_exception(error: HTTPException):
    """HTTP errors, including webargs validation (400 with per-field details)."""
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    messages = data.get("messages") or data.get("errors")
    if messages is not None and status in (400, 422):
        return envelope(400, "VALIDATION_ERROR", "Request validation failed", {"fields": messages})
    if status >= 500:
        return handle_uncaught(error)
    code = STATUS_CODES.get(status, HTTPStatus(status).phrase.upper().replace(" ", "_"))
    message = data.get("message") or error.description or HTTPStatus(status).phrase
    headers = data.get("headers") or {}
    if status == 405 and error.valid_methods:
        headers = {**headers, "Allow": ", ".join(error.valid_methods)}
    return envelope(status, code, message, None, headers)


def handle_integrity_error(error: IntegrityError):
    from app.extensions import db

    db.session.rollback()
    constraint = getattr(getattr(error.orig, "diag", None), "constraint_name", None)
    pgcode = getattr(error.orig, "pgcode", None)
    if pgcode == "23505":
        return envelope(409, "CONFLICT", "Resource already exists", {"constraint": constraint})
    return envelope(400, "VALIDATION_ERROR", "Request violates a data constraint",
                    {"constraint": constraint})


def handle_operational_error(error: OperationalError):
    from app.extensions import db

    db.session.rollback()
    log.error("database unavailable: %s", type(error.orig).__name__)
    return envelope(503, "SERVICE_UNAVAILABLE", "Database unavailable, retry shortly",
                    {"requestId": _request_id()}, {"Retry-After": "5"})


def loggable_error(error: BaseException) -> str:
    """An exception as text fit for logs and job errors. A database error's own message
    quotes the values (psycopg2 inlines parameters; PostgreSQL's DETAIL/LINE echo them), so it
    is reduced to its class, SQLSTATE, constraint and the parameterised statement."""
    if isinstance(error, DBAPIError):
        orig = error.orig
        diag = getattr(orig, "diag", None)
        constraint = getattr(diag, "constraint_name", None)
        return (f"{type(orig).__name__} (sqlstate {getattr(orig, 'pgcode', None)}"
                f"{f', constraint {constraint}' if constraint else ''}) [SQL: {error.statement}]")
    return str(error)


def handle_uncaught(error: Exception):
    if isinstance(error, DBAPIError):
        trace = "".join(traceback.format_tb(error.__traceback__))
        log.error("unhandled database error: %s\n%s", loggable_error(error), trace)
    else:
        log.exception("unhandled error", exc_info=error)
    return envelope(
        500,
        "INTERNAL_ERROR",
        "An unexpected error occurred",
        {"requestId": _request_id()},
    )


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(AppError, handle_app_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(IntegrityError, handle_integrity_error)
    app.register_error_handler(OperationalError, handle_operational_error)
    app.register_error_handler(Exception, handle_uncaught)
