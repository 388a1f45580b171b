"""HTTP hardening: security headers, CORS for configured origins only, JSON-only bodies."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, request
from flask_cors import CORS

from app.docs_assets import DOCS_CSP
from app.errors import AppError, ValidationError

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


# (method, path prefix) → the body limit of those routes when larger than MAX_CONTENT_LENGTH
# (e.g. an uploaded image in base64): registered by the blueprint that owns the route.
LARGE_BODIES: dict[tuple[str, str], Callable[[], int]] = {}


def allow_large_body(method: str, path_prefix: str, limit: Callable[[], int]) -> None:
    LARGE_BODIES[(method, path_prefix)] = limit


def init_security(app: Flask) -> None:
    origins = list(app.config["CORS_ORIGINS"])
    if origins:
        CORS(app, resources={r"/api/*": {"origins": origins}}, supports_credentials=False,
             expose_headers=["X-Request-ID", "Retry-After", "Location", "X-RateLimit-Limit",
                             "X-RateLimit-Remaining", "X-RateLimit-Reset"])

    @app.before_request
    def raise_body_limit_where_allowed():
        for (method, prefix), limit in LARGE_BODIES.items():
            if request.method == method and request.path.startswith(prefix):
                request.max_content_length = limit()

    @app.before_request
    def require_json_bodies():
        if _has_body() and request.content_length is None:
            # chunked: the stream stops at MAX_CONTENT_LENGTH without a word; read the body
            # (cached for the view) and one byte more, which raises 413 past the limit
            request.get_data()
            request.stream.read(1)
        if _has_body() and not request.is_json:
            raise UnsupportedMediaType("Request bodies must be application/json",
                                       {"contentType": request.content_type})

    @app.before_request
    def refuse_unstorable_text():
        """PostgreSQL text holds neither NUL nor lone UTF-16 surrogates (``"\\ud800"`` in
        JSON): refuse them up front (400), never a 500 later."""
        query = request.path + "".join(request.args.keys()) + "".join(request.args.values())
        if _unstorable(query):
            raise ValidationError(UNSTORABLE, {"location": "query"})
        if _has_body() and request.is_json:
            body = request.get_json(silent=True)
            if body is not None and _unstorable(body):
                raise ValidationError(UNSTORABLE, {"location": "body"})

    api_headers = [(name.lower(), name, value) for name, value in API_HEADERS.items()]
    docs_headers = [(name.lower(), name, value) for name, value in API_HEADERS.items()
                    if name not in {"Content-Security-Policy", "Cache-Control"}]
    docs_headers.append(("content-security-policy", "Content-Security-Policy", DOCS_CSP))

    @app.after_request
    def security_headers(response):
        # Swagger UI and ReDoc load their (local) scripts and styles: their own CSP, cacheable.
        wanted = docs_headers if request.path.startswith("/docs") else api_headers
        headers = response.headers
        present = {name.lower() for name, _ in headers.items()}
        headers.extend([(name, value) for lower, name, value in wanted if lower not in present])
        if request.is_secure and "strict-transport-security" not in present:
            headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        return response


def _has_body() -> bool:
    """A body comes with a Content-Length, or chunked (``Transfer-Encoding``, no length):
    both get the same guards."""
    if request.method not in BODY_METHODS:
        return False
    if request.content_length:
        return True
    return "chunked" in request.headers.get("Transfer-Encoding", "").lower()


UNSTORABLE = "Text must not contain NUL characters or unpaired surrogates"


def _unstorable(value, depth: int = 0) -> bool:
    if isinstance(value, str):
        if "\x00" in value:
            return True
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if depth > 64:
        return True  # nothing the API accepts nests this deep
    if isinstance(value, dict):
        return any(_unstorable(k, depth + 1) or _unstorable(v, depth + 1)
                   for k, v in value.items())
    if isinstance(value, list):
        return any(_unstorable(item, depth + 1) for item in value)
    return False
