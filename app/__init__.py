"""LiteMaaS web application: ``create_app()`` wires settings, extensions, errors and routes."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import redis
from flask import Flask
from flask.json.provider import DefaultJSONProvider
from werkzeug.middleware.proxy_fix import ProxyFix

from app import cli
from app.api import register_blueprints
from app.api.base import Api
from app.auth.ratelimit import init_rate_limits
from app.docs_assets import init_docs_assets
from app.errors import register_error_handlers
from app.extensions import db, jwt, migrate
from app.litellm import LiteLLMClient, key_hash
from app.logs import configure_logging, init_request_logging
from app.metrics import init_metrics, observe_litellm_call
from app.security import init_security
from config.settings import Settings, load_settings
from worker.celery_app import celery_init_app

API_VERSION = "1.0.0"


class JSONProvider(DefaultJSONProvider):
    """Money is Decimal in the database and a JSON number on the wire."""

    @staticmethod
    def default(o):
        if isinstance(o, Decimal):
            return float(o)
        return DefaultJSONProvider.default(o)


def flask_config(settings: Settings) -> dict:
    return {
        **{name: getattr(settings, name) for name in settings.__dataclass_fields__},
        "TESTING": settings.APP_ENV == "test",
        "MOCK_AUTH": settings.mock_auth,
        "SQLALCHEMY_DATABASE_URI": settings.sqlalchemy_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {
            "pool_size": settings.DB_MAX_CONNECTIONS,
            "max_overflow": settings.DB_MAX_CONNECTIONS,
            "pool_pre_ping": True,
            "pool_recycle": 1800,
            # SQL errors are logged with their statement; their parameters (names, emails,
            # key hashes, free text) must never reach the logs.
            "hide_parameters": True,
            "connect_args": {"connect_timeout": 5, "application_name": "litemaas"},
        },
        "JWT_SECRET_KEY": settings.JWT_SECRET,
        "JWT_ALGORITHM": "HS256",
        "JWT_DECODE_ALGORITHMS": ["HS256"],
        "JWT_ACCESS_TOKEN_EXPIRES": timedelta(seconds=settings.JWT_ACCESS_TTL_SECONDS),
        "JWT_REFRESH_TOKEN_EXPIRES": timedelta(seconds=settings.JWT_REFRESH_TTL_SECONDS),
        "JWT_TOKEN_LOCATION": ["headers"],
        # Every token names who issued it and for whom; decoding refuses one without them.
        "JWT_ENCODE_ISSUER": settings.JWT_ISSUER,
        "JWT_DECODE_ISSUER": settings.JWT_ISSUER,
        "JWT_ENCODE_AUDIENCE": settings.JWT_AUDIENCE,
        "JWT_DECODE_AUDIENCE": settings.JWT_AUDIENCE,
        "ADMIN_API_KEY_HASHES": [key_hash(k) for k in settings.ADMIN_API_KEYS],
        "API_TITLE": "LiteMaaS API",
        "API_VERSION": API_VERSION,
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/docs",
        "OPENAPI_JSON_PATH": "json",
        "OPENAPI_SWAGGER_UI_PATH": "/",
        "MAX_CONTENT_LENGTH": settings.MAX_CONTENT_LENGTH,
        "JSON_SORT_KEYS": False,
    }


class App(Flask):
    """Flask, minus a per-request cost: ``ensure_sync`` asked ``inspect.iscoroutinefunction``
    of every hook on every request (13 of them, ~7 % of a bare request); the answer for a
    function never changes, so it is remembered."""

    _sync_checked: dict = {}

    def ensure_sync(self, func):
        try:
            is_async = self._sync_checked[func]
        except (KeyError, TypeError):
            is_async = None
        if is_async is None:
            wrapped = super().ensure_sync(func)
            try:
                if len(self._sync_checked) < 10_000:
                    self._sync_checked[func] = wrapped is not func
            except TypeError:
                pass
            return wrapped
        return super().ensure_sync(func) if is_async else func


def create_app(settings: Settings | None = None) -> Flask:
    """Build the web app; raises ConfigError when settings are missing or unsafe."""
    settings = (settings or load_settings()).validate()
    configure_logging(settings.LOG_LEVEL)
    app = App(__name__)
    app.json_provider_class = JSONProvider
    app.json = JSONProvider(app)
    app.config.update(flask_config(settings))
    app.url_map.strict_slashes = False
    hops = settings.TRUSTED_PROXIES
    if hops:  # otherwise X-Forwarded-* are ignored: any client could write them
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops,
                                x_port=hops)

    db.init_app(app)
    migrate.init_app(app, db, directory="migrations")
    jwt.init_app(app)
    app.extensions["redis"] = redis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=2
    )
    app.extensions["litellm"] = LiteLLMClient(
        settings.LITELLM_API_URL, settings.LITELLM_API_KEY or None,
        timeout=settings.LITELLM_TIMEOUT_SECONDS, on_call=observe_litellm_call,
    )
    celery_init_app(app, settings)

    init_request_logging(app)
    init_metrics(app)
    init_security(app)
    init_rate_limits(app)
    register_error_handlers(app)
    init_docs_assets(app)
    api = Api(app)
    register_blueprints(api)
    cli.register(app)
    return app
