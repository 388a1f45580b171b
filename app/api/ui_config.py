"""What the web UI reads on every page load, before and after sign-in: public configuration
(`/config`, `/config/admin-analytics`, `/config/api-key-defaults`), branding and banners.

Public and cheap: the runtime settings (currency, API key defaults) come from a per-process
cache (app.services.settings); branding and banners are read-only defaults here."""

from __future__ import annotations

from flask import current_app

from app.api.base import Blueprint
from app.auth.permissions import PUBLIC
from app.schemas.ui_config import (
    AdminAnalyticsConfigSchema,
    ApiKeyDefaultsSchema,
    BannerSchema,
    BrandingSchema,
    PublicConfigSchema,
)
from app.services import key_defaults, settings
from app.services.usage_rollup import MAX_RANGE_DAYS

config_blp = Blueprint("config", __name__, url_prefix="/config",
                       description="Public configuration for the web UI")
branding_blp = Blueprint("branding", __name__, url_prefix="/branding",
                         description="Branding of the web UI (defaults)")
banners_blp = Blueprint("banners", __name__, url_prefix="/banners",
                        description="Announcement banners of the web UI")

ADMIN_PAGE_LIMIT = 100  # the admin usage pagers' maximum limit
DEFAULT_BRANDING = {
    "login_logo_enabled": False, "has_login_logo": False, "login_title_enabled": False,
    "login_title": None, "login_subtitle_enabled": False, "login_subtitle": None,
    "header_brand_enabled": False, "has_header_brand_light": False,
    "has_header_brand_dark": False, "updated_at": None,
}


@config_blp.route("")
@config_blp.auth(PUBLIC)
@config_blp.response(200, PublicConfigSchema)
def public_config():
    """Version, environment, sign-in mode and provider, the currency an admin chose, and
    LiteLLM's public URL."""
    config = current_app.config
    return {
        "version": config["API_VERSION"],
        "environment": "production" if config["APP_ENV"] == "production" else "development",
        "usage_cache_ttl_minutes": max(1, config["USAGE_ROLLUP_INTERVAL"] // 60),
        "currency": settings.currency(),
        "auth_mode": "mock" if config["MOCK_AUTH"] else "oauth",
        "auth_provider": config["OAUTH_PROVIDER"],
        "litellm_api_url": (config["LITELLM_PUBLIC_URL"] or config["LITELLM_API_URL"])
        .rstrip("/"),
    }


@config_blp.route("/admin-analytics")
@config_blp.auth(PUBLIC)
@config_blp.response(200, AdminAnalyticsConfigSchema)
def admin_analytics_config():
    """The limits of the admin usage views (page sizes, date ranges), for the UI's pickers."""
    return {
        "pagination": {"default_page_size": 20, "max_page_size": ADMIN_PAGE_LIMIT,
                       "min_page_size": 1},
        "top_limits": {"users": 10, "models": 10, "providers": 5},
        "date_range_limits": {"max_analytics_days": MAX_RANGE_DAYS,
                              "max_export_days": MAX_RANGE_DAYS},
        "warnings": {"large_date_range_days": 90},
        "trends": {"calculation_precision": 2},
        "export": {"max_rows": 100_000},
    }


@config_blp.route("/api-key-defaults")
@config_blp.auth(PUBLIC)
@config_blp.response(200, ApiKeyDefaultsSchema)
def api_key_defaults():
    """Defaults for a new API key and the maximums the server enforces on create and edit."""
    return key_defaults.api_key_defaults()


@branding_blp.route("")
@branding_blp.auth(PUBLIC)
@branding_blp.response(200, BrandingSchema)
def branding():
    """Branding of the sign-in page and header: the defaults (nothing customised)."""
    return DEFAULT_BRANDING


@banners_blp.route("")
@banners_blp.auth(PUBLIC)
@banners_blp.response(200, BannerSchema(many=True))
def banners():
    """Banners to show now: none (banner management is not offered yet)."""
    return []
