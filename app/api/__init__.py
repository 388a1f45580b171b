"""HTTP API: one blueprint per resource, all registered here under /api/v1."""

from __future__ import annotations

from app.api import auth, health, jobs, metrics
from app.api.base import Api

BLUEPRINTS = [health.blp, auth.blp, jobs.blp]
# Operational endpoints that live outside the versioned API.
ROOT_BLUEPRINTS = [metrics.blp]


def register_blueprints(api: Api) -> None:
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint, url_prefix=f"/api/v1{blueprint.url_prefix}")
    for blueprint in ROOT_BLUEPRINTS:
        api.register_blueprint(blueprint)
