"""Alembic environment: migrations are the only schema source (DESIGN §3).

Works under Flask-Migrate (``flask db upgrade``, the web start-up) and bare Alembic
(DATABASE_URL), so tools and tests can run it without building the app.
"""

import logging
import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import engine_from_config, pool

from app.models import Base
from config.settings import sqlalchemy_url

config = context.config
if config.config_file_name is not None and not logging.getLogger().handlers:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _engine():
    try:
        from flask import current_app

        return current_app.extensions["migrate"].db.engine
    except (RuntimeError, KeyError):
        url = sqlalchemy_url(os.environ["DATABASE_URL"])
        return engine_from_config({"sqlalchemy.url": url}, prefix="sqlalchemy.",
                                  poolclass=pool.NullPool)


def run_migrations_offline() -> None:
    context.configure(url=sqlalchemy_url(os.environ.get("DATABASE_URL", "")),
                      target_metadata=target_metadata,
                      literal_binds=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    with _engine().connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          compare_type=True, compare_server_default=False)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
