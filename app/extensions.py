"""Flask extensions, created once and bound in create_app()."""

from flask_jwt_extended import JWTManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from app.models.base import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
jwt = JWTManager()


def redis_client():
    """The app's Redis connection pool (keys must go through ``redis_key``)."""
    from flask import current_app

    return current_app.extensions["redis"]


def redis_key(*parts: str) -> str:
    from flask import current_app

    return current_app.config["REDIS_KEY_PREFIX"] + ":".join(parts)
