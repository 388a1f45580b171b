"""HTTP hardening: security headers, CORS for configured origins only, JSON-only bodies."""

from __future__ import annotations

from flask import Flask, request
from flask_cors import CORS

from app.errors import AppError

BODY_METHODS = {"POST", "PUT", "PATCH"}
API_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


class UnsupportedMediaType(AppError):
    status, code = 415, "UNSUPPORTED_MEDIA_TYPE"


def init_security(app: Flask) -> None:
    origins = list(app.config["CORS_ORIGINS"])
    if origins:
        CORS(app, resources={r"/api/*": {"origins": origins}}, supports_credentials=False,
             expose_headers=["X-Request-ID", "Retry-After", "Location", "X-RateLimit-Limit",
                             "X-RateLimit-Remaining", "X-RateLimit-Reset"])

    @app.before_request
    def require_json_bodies():
        if request.method in BODY_METHODS and request.content_length and not request.is_json:
            raise UnsupportedMediaType("Request bodies must be application/json",
                                       {"contentType": request.content_type})

    @app.after_request
    def security_headers(response):
        is_docs = request.path.startswith("/docs")
        for name, value in API_HEADERS.items():
            if is_docs and name in {"Content-Security-Policy", "Cache-Control"}:
                continue  # Swagger UI loads its scripts and styles
            response.headers.setdefault(name, value)
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security",
                                        "max-age=31536000; includeSubDomains")
        return response
