"""ui quotas and key limits: subscriptions keep the quotas the web UI sends; API keys keep
metadata, per-model limits and max parallel requests (issue 13)

Revision ID: 0004_ui_quotas_key_limits
Revises: 0003_cache_versions
Create Date: 2026-12-03 10:00:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = '0004_ui_quotas_key_limits'
down_revision = '0003_cache_versions'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('subscriptions', sa.Column('quota_requests', sa.BigInteger(), nullable=True))
    op.add_column('subscriptions', sa.Column('quota_tokens', sa.BigInteger(), nullable=True))
    op.create_check_constraint(op.f('ck_subscriptions_quota_requests_positive'), 'subscriptions',
                               'quota_requests IS NULL OR quota_requests > 0')
    op.create_check_constraint(op.f('ck_subscriptions_quota_tokens_positive'), 'subscriptions',
                               'quota_tokens IS NULL OR quota_tokens > 0')
    op.add_column('api_keys', sa.Column('max_parallel_requests', sa.Integer(), nullable=True))
    op.add_column('api_keys', sa.Column('model_max_budget',
                                        postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.add_column('api_keys', sa.Column('model_rpm_limit',
                                        postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.add_column('api_keys', sa.Column('model_tpm_limit',
                                        postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.add_column('api_keys', sa.Column('metadata', postgresql.JSONB(astext_type=sa.Text()),
                                        server_default=sa.text("'{}'::jsonb"), nullable=False))
    op.create_check_constraint(op.f('ck_api_keys_max_parallel_requests_non_negative'),
                               'api_keys',
                               'max_parallel_requests IS NULL OR max_parallel_requests >= 0')


def downgrade():
    op.drop_constraint(op.f('ck_api_keys_max_parallel_requests_non_negative'), 'api_keys',
                       type_='check')
    for column in ('metadata', 'model_tpm_limit', 'model_rpm_limit', 'model_max_budget',
                   'max_parallel_requests'):
        op.drop_column('api_keys', column)
    op.drop_constraint(op.f('ck_subscriptions_quota_tokens_positive'), 'subscriptions',
                       type_='check')
    op.drop_constraint(op.f('ck_subscriptions_quota_requests_positive'), 'subscriptions',
                       type_='check')
    op.drop_column('subscriptions', 'quota_tokens')
    op.drop_column('subscriptions', 'quota_requests')
