"""models.encrypted_api_key: the provider API key of a model created from LiteMaaS
(POST /admin/models), Fernet-encrypted, kept only so an admin can test the connection again
without typing it; never returned by any route.

Revision ID: 0006_admin_models
Revises: 0005_user_role_sources
Create Date: 2026-12-03 14:00:00
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006_admin_models'
down_revision = '0005_user_role_sources'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('models', sa.Column('encrypted_api_key', sa.LargeBinary(), nullable=True))


def downgrade():
    op.drop_column('models', 'encrypted_api_key')
