"""Migrations are the only schema source: they must agree with the models exactly."""

import subprocess
import sys
import uuid
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from app.models import Base

ROOT = Path(__file__).resolve().parents[2]


def test_models_and_migrations_agree(app):
    from app.extensions import db

    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_every_table_of_the_design_exists(app):
    from app.extensions import db

    with app.app_context():
        tables = set(inspect(db.engine).get_table_names())
    expected = {"users", "teams", "team_members", "models", "subscriptions",
                "subscription_status_history", "api_keys", "api_key_models", "jobs",
                "sync_runs", "usage_daily", "audit_logs", "settings", "user_sessions"}
    assert expected <= tables


def test_two_processes_upgrading_together_both_come_up(database_url, settings):
    name = f"litemaas_race_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(database_url).set(database="postgres"),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    env = {"DATABASE_URL": url, "REDIS_URL": settings.REDIS_URL, "APP_ENV": "test",
           "PATH": "/usr/bin:/bin"}
    try:
        procs = [subprocess.Popen([sys.executable, "-m", "app.db_migrate"], cwd=ROOT, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                 for _ in range(2)]
        outputs = [p.communicate(timeout=90)[0].decode() for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outputs
        engine = create_engine(url)
        with engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        engine.dispose()
        assert version
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
