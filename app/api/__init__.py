"""HTTP API: one blueprint per resource, all registered here under /api/v1."""

from __future__ import annotations

from app.api import (
    admin_keys,
    admin_settings,
    admin_subscriptions,
    admin_usage,
    admin_users,
    api_keys,
    audit,
    auth,
    health,
    jobs,
    metrics,
    models,
    subscriptions,
    teams,
    ui_auth,
    ui_config,
    usage,
    users,
)
from app.api.base import Api

BLUEPRINTS = [health.blp, auth.blp, jobs.blp, models.blp]
BLUEPRINTS += [subscriptions.blp, api_keys.blp, admin_subscriptions.blp, admin_keys.blp]
BLUEPRINTS += [users.blp, teams.blp, audit.blp]
# The admin user dialog and the runtime settings of the settings page.
BLUEPRINTS += [admin_users.blp, admin_settings.blp]
BLUEPRINTS += [usage.blp, admin_usage.blp]
# What the web UI reads on every page load.
BLUEPRINTS += [ui_config.config_blp, ui_config.branding_blp, ui_config.banners_blp]
# Outside the versioned API: operational endpoints, and the web UI's sign-in (its contract).
ROOT_BLUEPRINTS = [metrics.blp, ui_auth.blp]


def register_blueprints(api: Api) -> None:
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint, url_prefix=f"/api/v1{blueprint.url_prefix}")
    for blueprint in ROOT_BLUEPRINTS:
        api.register_blueprint(blueprint)
