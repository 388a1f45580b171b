"""runtime settings: the settings table joins the cache_versions scheme (scope ``settings``),
so every web process may cache runtime settings and still never serve one older than the
last committed write

Revision ID: 0007_runtime_settings
Revises: 0005_user_role_sources
Create Date: 2026-12-03 13:45:00

The trigger is the statement trigger of 0003 (``bump_cache_version``): it takes the scope
row's lock before the statement locks any settings row, and the new token is visible at the
same commit as the new value.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0007_runtime_settings'
down_revision = '0005_user_role_sources'
branch_labels = None
depends_on = None


def upgrade():
    op.execute(
        "CREATE TRIGGER settings_bump_cache_version "
        "BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON settings "
        "FOR EACH STATEMENT EXECUTE FUNCTION bump_cache_version('settings')"
    )
    op.execute("INSERT INTO cache_versions (scope, token) VALUES ('settings', gen_random_uuid()) "
               "ON CONFLICT (scope) DO NOTHING")


def downgrade():
    op.execute("DROP TRIGGER IF EXISTS settings_bump_cache_version ON settings")
    op.execute("DELETE FROM cache_versions WHERE scope = 'settings'")
