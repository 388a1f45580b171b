"""CLI: seed is idempotent; db-reset refuses in production."""

import secrets

from cryptography.fernet import Fernet
from sqlalchemy import func, select

from app import create_app


def test_seed_is_idempotent(app):
    from app.extensions import db
    from app.models import Team, TeamMember, User

    runner = app.test_cli_runner()
    for _ in range(2):
        result = runner.invoke(args=["seed"])
        assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 3
        assert db.session.scalar(select(func.count()).select_from(Team)) == 2
        assert db.session.scalar(select(func.count()).select_from(TeamMember)) == 2
        admin = db.session.scalar(select(User).where(User.username == "admin"))
        assert "admin" in admin.roles


def test_db_reset_refuses_in_production(settings):
    prod = settings.with_overrides(APP_ENV="production", OAUTH_MOCK=False,
                                   JWT_SECRET=secrets.token_urlsafe(48),
                                   OAUTH_CLIENT_ID="a", OAUTH_CLIENT_SECRET="b",
                                   OAUTH_ISSUER_URL="https://issuer",
                                   OAUTH_CALLBACK_URL="https://portal/api/auth/callback",
                                   TRANSIT_ENCRYPTION_KEY=Fernet.generate_key().decode())
    app = create_app(prod)
    result = app.test_cli_runner().invoke(args=["db-reset", "--yes"])
    assert result.exit_code != 0
    assert "refused" in result.output


def test_sync_models_runs_inline_and_reports_counts(app, sim):
    import json

    from app.extensions import db
    from app.models import Model

    result = app.test_cli_runner().invoke(args=["sync-models"])
    assert result.exit_code == 0, result.output
    # the report is the one output line that is not a log record
    report = next(json.loads(line) for line in result.output.splitlines()
                  if line.startswith("{") and '"logger"' not in line)
    assert report["added"] == 12
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Model)) == 12


def test_sync_models_fails_clearly_when_litellm_is_down(app, sim):
    sim.configure(down=True)
    result = app.test_cli_runner().invoke(args=["sync-models"])
    assert result.exit_code != 0
    assert "sync failed" in result.output
