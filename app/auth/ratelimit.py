"""Rate limits per identity (flask-limiter on Redis, DESIGN §7).

One application-wide moving window per caller: a user (``RATE_LIMIT_MAX``/min), an API key
(``RATE_LIMIT_API_KEY``), an admin or readonly admin, JWT or admin API key
(``RATE_LIMIT_ADMIN``), or an anonymous client IP (``RATE_LIMIT_ANONYMOUS``). Counters live in
Redis under ``REDIS_KEY_PREFIX``, so every gunicorn worker and replica shares them. Liveness
(``/api/v1/health``, no dependency touched), the API docs and ``/metrics`` are exempt; readiness
and the database check are not (they touch the dependencies).

If Redis is unreachable, limiting **fails open**: requests are served unlimited (and the error is
logged) rather than refused, because an outage of the counter store must not become an outage
of the API. Authentication does not depend on this.
"""

from __future__ import annotations

from flask import Flask, current_app, g, request
from flask_limiter import Limiter, RateLimitExceeded

from app.auth.identity import peek_identity
from app.errors import envelope

# The web UI reads its configuration, branding and banners on every page load (cheap reads),
# as upstream LiteMaaS exempts them; changing them is limited like any other call.
EXEMPT_PREFIXES = ("/docs", "/metrics", "/api/v1/config")
EXEMPT_READ_PREFIXES = ("/api/v1/branding", "/api/v1/banners")
LIMITED_READ_PREFIXES = ("/api/v1/branding/images",)  # bytes from the database: counted
EXEMPT_PATHS = frozenset({"/api/v1/health", "/api/v1/health/"})
DEV_TOKEN_PATH = "/api/auth/dev-token"  # asked before every UI request in mock mode only


def _limit_key() -> str:
    identity = peek_identity()
    return identity.rate_limit_key if identity else f"ip:{request.remote_addr}"


def limit_per_minute() -> int:
    config = current_app.config
    identity = peek_identity()
    if identity is None:
        return config["RATE_LIMIT_ANONYMOUS"]
    if identity.can_read_all:
        return config["RATE_LIMIT_ADMIN"]
    if identity.kind == "api_key":
        return config["RATE_LIMIT_API_KEY"]
    return config["RATE_LIMIT_MAX"]


def _limit() -> str:
    return f"{limit_per_minute()} per minute"


def _exempt() -> bool:
    if request.path == DEV_TOKEN_PATH:
        return current_app.config["MOCK_AUTH"]  # development only; refused (404) otherwise
    return (request.method == "OPTIONS" or request.path in EXEMPT_PATHS
            or request.path.startswith(EXEMPT_PREFIXES)
            or (request.method == "GET" and request.path.startswith(EXEMPT_READ_PREFIXES)
                and not request.path.startswith(LIMITED_READ_PREFIXES)))


def _too_many_requests(error: RateLimitExceeded):
    limit = error.limit.limit
    return envelope(429, "RATE_LIMITED", "Too many requests, slow down",
                    {"limit": limit.amount, "window": f"{limit.multiples} {limit.GRANULARITY.name}",
                     "requestId": g.get("request_id")})


def init_rate_limits(app: Flask) -> Limiter:
    """Attach a limiter to this app (one per app: its storage follows the app's settings)."""
    prefix = app.config["REDIS_KEY_PREFIX"]
    app.config.update({
        "RATELIMIT_ENABLED": app.config["RATE_LIMIT_ENABLED"],
        "RATELIMIT_STORAGE_URI": app.config["REDIS_URL"],
        "RATELIMIT_STORAGE_OPTIONS": {"key_prefix": f"{prefix}ratelimit",
                                      "socket_connect_timeout": 1, "socket_timeout": 1},
        "RATELIMIT_STRATEGY": "moving-window",
        "RATELIMIT_HEADERS_ENABLED": True,
        "RATELIMIT_SWALLOW_ERRORS": True,
    })

    # flask-limiter writes Retry-After on every response; keep it only where it means
    # something (429, or a Retry-After the response already had, e.g. a 503).
    @app.after_request
    def restore_retry_after(response):
        if response.status_code != 429:
            original = g.pop("_retry_after", None)
            if original is None:
                response.headers.pop("Retry-After", None)
            else:
                response.headers["Retry-After"] = original
        return response

    limiter = Limiter(key_func=_limit_key, application_limits=[_limit],
                      retry_after="delta-seconds")
    limiter.request_filter(_exempt)
    limiter.init_app(app)

    @app.after_request
    def remember_retry_after(response):
        g._retry_after = response.headers.get("Retry-After")
        return response

    app.register_error_handler(RateLimitExceeded, _too_many_requests)
    app.extensions["rate_limiter"] = limiter
    return limiter
