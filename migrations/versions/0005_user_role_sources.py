"""users.idp_roles: which of a user's roles came from the identity provider's groups (they
follow the groups at every sign-in); the other roles were granted in LiteMaaS and stay

Revision ID: 0005_user_role_sources
Revises: 0004_ui_quotas_key_limits
Create Date: 2026-12-03 10:00:00

Existing external users: where a role came from was not recorded, so their roles beyond
``user`` are taken as coming from groups (fail closed): the next sign-in keeps them only if the
groups still grant them. Re-grant a role in LiteMaaS (PATCH /users/{id}) to make it stay.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = '0005_user_role_sources'
down_revision = '0004_ui_quotas_key_limits'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('users', sa.Column('idp_roles', postgresql.ARRAY(sa.Text()),
                                     server_default=sa.text("'{}'::text[]"), nullable=False))
    op.execute("""
        UPDATE users SET idp_roles = array_remove(roles, 'user')
        WHERE oauth_provider IN ('openshift', 'oidc')
    """)


def downgrade():
    op.drop_column('users', 'idp_roles')
