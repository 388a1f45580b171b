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

One Redis round trip per request: flask-limiter's moving window takes one to acquire an entry
and a second to read the window for the ``X-RateLimit-*`` headers. ``OneTripMovingWindow``
(the same Redis list, key and semantics as limits' moving window) does both in one Lua script
and hands the window to the headers of the same request.
"""

from __future__ import annotations

import time

from flask import Flask, current_app, g, has_request_context, request
from flask_limiter import Limiter, RateLimitExceeded
from limits import RateLimitItem
from limits.strategies import MovingWindowRateLimiter
from limits.util import WindowStats

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


# limits' acquire_moving_window.lua, then its moving_window.lua on the list just written: one
# EVALSHA answers {acquired, start of the window, entries in it}.
_ACQUIRE_AND_READ = """
local key = KEYS[1]
local timestamp = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local expiry = tonumber(ARGV[3])
local amount = tonumber(ARGV[4])
local acquired = 0
if amount <= limit then
    local entry = redis.call('lindex', key, limit - amount)
    if not (entry and tonumber(entry) >= timestamp - expiry) then
        for i = 1, amount do
            redis.call('lpush', key, ARGV[1])
        end
        redis.call('ltrim', key, 0, limit - 1)
        redis.call('expire', key, expiry)
        acquired = 1
    end
end
local target = timestamp - expiry
local low, high, found = 0, redis.call('llen', key) - 1, nil
while low <= high do
    local mid = math.floor((low + high) / 2)
    local value = tonumber(redis.call('lindex', key, mid))
    if value and value >= target then
        found = mid
        low = mid + 1
    else
        high = mid - 1
    end
end
if found then
    return {acquired, redis.call('lindex', key, found), found + 1}
end
return {acquired, ARGV[1], 0}
"""


class OneTripMovingWindow(MovingWindowRateLimiter):
    """limits' moving window on Redis in one round trip per request (see the module doc).

    ``hit`` acquires and reads the window in one script and keeps the window for this request;
    ``get_window_stats`` (the headers) answers from it. Outside a request, or for a key not hit
    in this request, it asks Redis as limits does. A hit that failed (Redis down) makes the
    headers fail at once too, instead of waiting for a second timeout.
    """

    def __init__(self, storage) -> None:
        super().__init__(storage)
        self._script = storage.get_connection().register_script(_ACQUIRE_AND_READ)

    def hit(self, item: RateLimitItem, *identifiers: str, cost: int = 1) -> bool:
        key = item.key_for(*identifiers)
        windows = _request_windows()
        now = time.time()
        try:
            acquired, start, count = self._script(
                [self.storage.prefixed_key(key)], [now, item.amount, item.get_expiry(), cost])
        except Exception:
            if windows is not None:
                windows[key] = None
            raise
        if windows is not None:
            windows[key] = WindowStats(float(start) + item.get_expiry(),
                                       item.amount - int(count))
        return bool(acquired)

    def get_window_stats(self, item: RateLimitItem, *identifiers: str) -> WindowStats:
        windows = _request_windows()
        key = item.key_for(*identifiers)
        if windows is not None and key in windows:
            window = windows[key]
            if window is None:
                raise ConnectionError("rate limit storage unreachable in this request")
            return window
        return super().get_window_stats(item, *identifiers)


def _skip_exempt_paths_early(app: Flask, limiter: Limiter) -> None:
    """flask-limiter asks its request filters only after resolving the endpoint's limits; an
    exempt path (liveness, docs, metrics) now leaves before any of that."""
    hooks = app.before_request_funcs.setdefault(None, [])
    check = limiter._check_request_limit
    for index, hook in enumerate(hooks):
        if hook == check:
            def check_unless_exempt(check=check):
                if not _exempt():
                    check()

            hooks[index] = check_unless_exempt


def _request_windows() -> dict | None:
    if not has_request_context():
        return None
    windows = g.get("_ratelimit_windows")
    if windows is None:
        windows = g._ratelimit_windows = {}
    return windows


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
    if app.config["RATE_LIMIT_ENABLED"] and app.config["REDIS_URL"].startswith(
            ("redis://", "rediss://", "unix://")):
        limiter._limiter = OneTripMovingWindow(limiter._storage)
    _skip_exempt_paths_early(app, limiter)

    @app.after_request
    def remember_retry_after(response):
        g._retry_after = response.headers.get("Retry-After")
        return response

    app.register_error_handler(RateLimitExceeded, _too_many_requests)
    app.extensions["rate_limiter"] = limiter
    return limiter
