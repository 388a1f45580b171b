"""cache_versions: version tokens for cached reads, bumped by statement triggers; the catalogue
scope follows every write to models and sync_runs

Revision ID: 0003_cache_versions
Revises: 0002_usage_totals
Create Date: 2026-11-25 14:40:00

A BEFORE STATEMENT trigger (not AFTER) takes the scope row's lock before the statement locks
any data row, so two writers always lock in the same order (no deadlock) and the new token
becomes visible at the same commit as the data it describes.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003_cache_versions'
down_revision = '0002_usage_totals'
branch_labels = None
depends_on = None

SCOPED_TABLES = {"models": "catalogue", "sync_runs": "catalogue"}


def upgrade():
    op.create_table('cache_versions',
    sa.Column('scope', sa.String(length=64), nullable=False),
    sa.Column('token', sa.Uuid(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('scope', name=op.f('pk_cache_versions'))
    )
    op.execute("""
        CREATE FUNCTION bump_cache_version() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO cache_versions (scope, token, changed_at)
            VALUES (TG_ARGV[0], gen_random_uuid(), now())
            ON CONFLICT (scope) DO UPDATE
                SET token = excluded.token, changed_at = excluded.changed_at;
            RETURN NULL;
        END
        $$
    """)
    for table, scope in SCOPED_TABLES.items():
        op.execute(
            f"CREATE TRIGGER {table}_bump_cache_version "
            f"BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION bump_cache_version('{scope}')"
        )


def downgrade():
    for table in SCOPED_TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_bump_cache_version ON {table}")
    op.execute("DROP FUNCTION IF EXISTS bump_cache_version()")
    op.drop_table('cache_versions')
