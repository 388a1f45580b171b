"""Schema upgrade at start, under a PostgreSQL advisory lock (safe with N replicas).

Run as ``python -m app.db_migrate``: every process that starts together waits for the lock,
the first applies the migrations and the others find nothing left to do.
"""

from __future__ import annotations

import logging

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import text

from app.extensions import db

log = logging.getLogger(__name__)

MIGRATION_LOCK_ID = 7_415_926_535  # any constant shared by every LiteMaaS process


def upgrade_with_lock(app: Flask) -> None:
    with app.app_context(), db.engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        try:
            upgrade(directory="migrations")
            log.info("database schema is up to date")
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
            conn.commit()


if __name__ == "__main__":
    from app import create_app

    upgrade_with_lock(create_app())
