"""HTTP API: one blueprint per resource, all registered here under /api/v1."""

from __future__ import annotations

from app.api import auth, health, jobs
from app.api.base import Api

BLUEPRINTS = [health.blp, auth.blp, jobs.blp]


def register_blueprints(api: Api) -> None:
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint, url_prefix=f"/api/v1{blueprint.url_prefix}")
