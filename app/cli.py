"""CLI commands registered on the app: ``flask seed``, ``flask db-reset``, ``flask sync-models``
(``flask db`` is Flask-Migrate's)."""

from __future__ import annotations

import click
from flask import Flask, current_app
from sqlalchemy import select, text

from app.extensions import db


def _seed() -> dict:
    from app.models import Team, TeamMember
    from app.services.auth import MOCK_USERS, upsert_user

    users = {}
    for username, preset in MOCK_USERS.items():
        user, _ = upsert_user("mock", username, username, f"{username}@example.com",
                              preset["full_name"], preset["roles"])
        users[username] = user
    db.session.flush()
    teams = {"platform": ("Platform team", "admin"), "research": ("Research team", "user")}
    for name, (description, owner) in teams.items():
        team = db.session.scalar(select(Team).where(Team.name == name))
        if team is None:
            team = Team(name=name, description=description, created_by=users[owner].id)
            db.session.add(team)
            db.session.flush()
        if db.session.get(TeamMember, (team.id, users[owner].id)) is None:
            db.session.add(TeamMember(team_id=team.id, user_id=users[owner].id, role="owner"))
    db.session.commit()
    return {"users": sorted(users), "teams": sorted(teams)}


def register(app: Flask) -> None:
    @app.cli.command("seed")
    def seed():
        """Create the mock users (admin, adminro, user) and two teams; idempotent."""
        click.echo(_seed())

    @app.cli.command("sync-models")
    def sync_models():
        """Synchronise the model catalogue with LiteLLM now, in this process (no worker)."""
        import json

        from app.services.model_sync import ModelSyncService

        try:
            outcome = ModelSyncService().sync("manual")
        except Exception as exc:
            from app.services.model_sync import failure_message

            raise click.ClickException(f"sync failed: {failure_message(exc)}") from None
        click.echo(json.dumps(outcome.as_result()))

    @app.cli.command("db-reset")
    @click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
    def db_reset(yes: bool):
        """Drop every table and re-apply migrations (refused in production)."""
        if current_app.config["APP_ENV"] == "production":
            raise click.ClickException("db-reset is refused when APP_ENV=production")
        if not yes:
            click.confirm("Drop all LiteMaaS data?", abort=True)
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        from app.db_migrate import upgrade_with_lock

        upgrade_with_lock(current_app._get_current_object())
        click.echo("database reset")
