"""HTTP API: one blueprint per resource, all registered here under /api/v1."""

from __future__ import annotations

from app.api import (
    admin_keys,
    admin_subscriptions,
    admin_usage,
    api_keys,
    audit,
    auth,
    health,
    jobs,
    metrics,
    models,
    subscriptions,
    teams,
    usage,
    users,
)
from app.api.base import Api

BLUEPRINTS = [health.blp, auth.blp, jobs.blp, models.blp]
BLUEPRINTS += [subscriptions.blp, api_keys.blp, admin_subscriptions.blp, admin_keys.blp]
BLUEPRINTS += [users.blp, teams.blp, audit.blp]
BLUEPRINTS += [usage.blp, admin_usage.blp]
# Operational endpoints that live outside the versioned API.
ROOT_BLUEPRINTS = [metrics.blp]


def register_blueprints(api: Api) -> None:
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint, url_prefix=f"/api/v1{blueprint.url_prefix}")
    for blueprint in ROOT_BLUEPRINTS:
        api.register_blueprint(blueprint)
