"""The simulator's routes, one blueprint per LiteLLM area plus ``/_sim`` controls."""

from __future__ import annotations

from flask import Flask

from litellm_sim.routes import activity, chat, control, keys, model_admin, models, teams, users


def register_routes(app: Flask) -> None:
    for module in (models, model_admin, keys, users, teams, activity, chat, control):
        app.register_blueprint(module.blueprint)
