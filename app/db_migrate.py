"""Schema upgrade at start, under a PostgreSQL advisory lock (safe with N replicas).

Run as ``python -m app.db_migrate``: every process that starts together waits for the lock,
the first applies the migrations and the others find nothing left to do.

``python -m app.db_migrate wait`` waits until the database's schema is this code's migration
head, without changing anything: on Kubernetes the web, worker, beat and Flower pods run it as an
init container, so they start only after the migrations Job of the same image has finished
(``deploy/kustomize``). A database already past this code's head (a newer image migrated it,
e.g. while a rollout goes back) counts as ready, as a rolling update already runs old pods on
the new schema.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db

log = logging.getLogger(__name__)

MIGRATION_LOCK_ID = 7_415_926_535  # any constant shared by every LiteMaaS process
MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"


def upgrade_with_lock(app: Flask) -> None:
    with app.app_context(), db.engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        try:
            upgrade(directory="migrations")
            log.info("database schema is up to date")
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
            conn.commit()


def code_revisions() -> tuple[set[str], set[str]]:
    """(heads, every revision) of the migrations shipped with this code."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    script = ScriptDirectory.from_config(config)
    return set(script.get_heads()), {rev.revision for rev in script.walk_revisions()}


def schema_state(database_url: str) -> str:
    """``missing`` (no schema yet), ``behind``, ``head`` or ``ahead`` of this code."""
    from config.settings import sqlalchemy_url

    heads, known = code_revisions()
    engine = create_engine(sqlalchemy_url(database_url), connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            exists = conn.execute(text("SELECT to_regclass('alembic_version')")).scalar()
            current = (set(conn.execute(text("SELECT version_num FROM alembic_version"))
                           .scalars()) if exists else set())
    finally:
        engine.dispose()
    if not current:
        return "missing"
    if current == heads:
        return "head"
    if current - known:
        return "ahead"
    return "behind"


def wait_for_head(database_url: str, timeout: float = 0, interval: float = 2.0) -> bool:
    """Block until the schema is at (or past) this code's head; False when ``timeout`` (>0)
    runs out first. An unreachable database is waited for like a missing schema."""
    deadline = time.monotonic() + timeout if timeout > 0 else None
    last = None
    while True:
        try:
            state = schema_state(database_url)
        except SQLAlchemyError as exc:
            state = f"unreachable ({type(exc).__name__})"
        if state in ("head", "ahead"):
            log.info("database schema is %s of this code: starting", state)
            return True
        if state != last:
            log.info("waiting for the migrations: database schema is %s", state)
            last = state
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.db_migrate")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("upgrade", help="apply the migrations under the advisory lock (default)")
    wait = sub.add_parser("wait", help="wait until the schema is at this code's head")
    wait.add_argument("--timeout", type=float, default=0,
                      help="give up (exit 1) after this many seconds; 0 waits for ever")
    wait.add_argument("--interval", type=float, default=2.0)
    args = parser.parse_args(argv)
    if args.command == "wait":
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
        from config.settings import load_settings

        url = load_settings().DATABASE_URL
        if not url:
            print("DATABASE_URL is required", file=sys.stderr)
            return 2
        return 0 if wait_for_head(url, args.timeout, args.interval) else 1
    from app import create_app

    upgrade_with_lock(create_app())
    return 0


if __name__ == "__main__":
    sys.exit(main())
