"""governance: notifications (in-app, webhook, e-mail) with a delivery log, budget alerts and
the budget period ledger, idle-disabled keys, rotation grace values, time-boxed subscriptions

Revision ID: 0010_governance
Revises: 0009_usage_fact_table
Create Date: 2026-12-03 13:40:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = '0010_governance'
down_revision = '0009_usage_fact_table'
branch_labels = None
depends_on = None

UUID_PK = dict(server_default=sa.text('gen_random_uuid()'), nullable=False)


def _now(name):
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.text('now()'),
                     nullable=False)


def upgrade():
    op.create_table(
        'notification_channels',
        sa.Column('id', sa.Uuid(), **UUID_PK),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('url', sa.Text(), nullable=True),
        sa.Column('secret', sa.Text(), nullable=True),
        sa.Column('recipients', postgresql.ARRAY(sa.Text()),
                  server_default=sa.text("'{}'::text[]"), nullable=False),
        sa.Column('events', postgresql.ARRAY(sa.Text()),
                  server_default=sa.text("'{}'::text[]"), nullable=False),
        sa.Column('enabled', sa.Boolean(), server_default=sa.text('true'), nullable=False),
        sa.Column('created_by', sa.Uuid(), nullable=True),
        _now('created_at'), _now('updated_at'),
        sa.CheckConstraint("kind IN ('webhook', 'email')",
                           name=op.f('ck_notification_channels_kind_valid')),
        sa.ForeignKeyConstraint(['created_by'], ['users.id'], ondelete='SET NULL',
                                name=op.f('fk_notification_channels_created_by_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_channels')),
        sa.UniqueConstraint('name', name=op.f('uq_notification_channels_name')),
    )
    op.create_table(
        'notifications',
        sa.Column('id', sa.Uuid(), **UUID_PK),
        sa.Column('user_id', sa.Uuid(), nullable=False),
        sa.Column('event', sa.String(length=64), nullable=False),
        sa.Column('severity', sa.String(length=16), server_default='info', nullable=False),
        sa.Column('title', sa.String(length=255), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('data', postgresql.JSONB(astext_type=sa.Text()),
                  server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column('dedupe_key', sa.String(length=255), nullable=False),
        sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
        _now('created_at'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE',
                                name=op.f('fk_notifications_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
        sa.UniqueConstraint('dedupe_key', name=op.f('uq_notifications_dedupe_key')),
    )
    op.create_index('ix_notifications_user_created', 'notifications', ['user_id', 'created_at'])
    op.create_table(
        'notification_deliveries',
        sa.Column('id', sa.Uuid(), **UUID_PK),
        sa.Column('channel_id', sa.Uuid(), nullable=True),
        sa.Column('user_id', sa.Uuid(), nullable=True),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('event', sa.String(length=64), nullable=False),
        sa.Column('dedupe_key', sa.String(length=255), nullable=False),
        sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('status', sa.String(length=16), server_default='pending', nullable=False),
        sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
        sa.Column('response_code', sa.Integer(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('job_id', sa.Uuid(), nullable=True),
        sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
        _now('created_at'), _now('updated_at'),
        sa.CheckConstraint("status IN ('pending', 'sending', 'delivered', 'failed')",
                           name=op.f('ck_notification_deliveries_status_valid')),
        sa.CheckConstraint("kind IN ('webhook', 'email')",
                           name=op.f('ck_notification_deliveries_kind_valid')),
        sa.ForeignKeyConstraint(['channel_id'], ['notification_channels.id'],
                                ondelete='SET NULL',
                                name=op.f('fk_notification_deliveries_channel_id_notification_channels')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE',
                                name=op.f('fk_notification_deliveries_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_deliveries')),
        sa.UniqueConstraint('dedupe_key', name=op.f('uq_notification_deliveries_dedupe_key')),
    )
    op.create_index('ix_notification_deliveries_status_created', 'notification_deliveries',
                    ['status', 'created_at'])
    op.create_index(op.f('ix_notification_deliveries_channel_id'), 'notification_deliveries',
                    ['channel_id'])
    op.create_index(op.f('ix_notification_deliveries_user_id'), 'notification_deliveries',
                    ['user_id'])
    op.create_table(
        'notification_preferences',
        sa.Column('user_id', sa.Uuid(), nullable=False),
        sa.Column('event', sa.String(length=64), nullable=False),
        sa.Column('in_app', sa.Boolean(), server_default=sa.text('true'), nullable=False),
        sa.Column('email', sa.Boolean(), server_default=sa.text('true'), nullable=False),
        _now('updated_at'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE',
                                name=op.f('fk_notification_preferences_user_id_users')),
        sa.PrimaryKeyConstraint('user_id', 'event', name=op.f('pk_notification_preferences')),
    )
    op.create_table(
        'budget_alerts',
        sa.Column('id', sa.Uuid(), **UUID_PK),
        sa.Column('owner_type', sa.String(length=16), nullable=False),
        sa.Column('owner_id', sa.Uuid(), nullable=False),
        sa.Column('period', sa.String(length=16), nullable=False),
        sa.Column('threshold', sa.Integer(), nullable=False),
        sa.Column('spend', sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column('budget', sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column('forecast', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        _now('fired_at'),
        sa.CheckConstraint("owner_type IN ('user', 'team', 'api_key')",
                           name=op.f('ck_budget_alerts_owner_type_valid')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_budget_alerts')),
        sa.UniqueConstraint('owner_type', 'owner_id', 'period', 'threshold',
                            name='uq_budget_alerts_once'),
    )
    op.create_table(
        'budget_periods',
        sa.Column('id', sa.Uuid(), **UUID_PK),
        sa.Column('owner_type', sa.String(length=16), nullable=False),
        sa.Column('owner_id', sa.Uuid(), nullable=False),
        sa.Column('budget_duration', sa.String(length=20), nullable=False),
        sa.Column('period_start', sa.Date(), nullable=False),
        sa.Column('reset_at', sa.Date(), nullable=False),
        sa.Column('budget', sa.Numeric(precision=18, scale=6), nullable=True),
        _now('opened_at'),
        sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('spend_at_close', sa.Numeric(precision=18, scale=6), nullable=True),
        sa.CheckConstraint("owner_type IN ('user', 'team', 'api_key')",
                           name=op.f('ck_budget_periods_owner_type_valid')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_budget_periods')),
        sa.UniqueConstraint('owner_type', 'owner_id', 'period_start',
                            name='uq_budget_periods_owner_start'),
    )
    op.create_index('ix_budget_periods_open', 'budget_periods', ['owner_type', 'closed_at'])
    op.create_table(
        'api_key_grace_values',
        sa.Column('id', sa.Uuid(), **UUID_PK),
        sa.Column('api_key_id', sa.Uuid(), nullable=False),
        sa.Column('key_hash', sa.String(length=64), nullable=False),
        sa.Column('key_prefix', sa.String(length=32), nullable=False),
        sa.Column('revoke_after', sa.DateTime(timezone=True), nullable=False),
        sa.Column('revoke_job_id', sa.Uuid(), nullable=True),
        _now('created_at'),
        sa.ForeignKeyConstraint(['api_key_id'], ['api_keys.id'], ondelete='CASCADE',
                                name=op.f('fk_api_key_grace_values_api_key_id_api_keys')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_api_key_grace_values')),
        sa.UniqueConstraint('key_hash', name=op.f('uq_api_key_grace_values_key_hash')),
    )
    op.create_index(op.f('ix_api_key_grace_values_api_key_id'), 'api_key_grace_values',
                    ['api_key_id'])
    op.add_column('api_keys', sa.Column('disabled_at', sa.DateTime(timezone=True)))
    op.add_column('api_keys', sa.Column('disabled_reason', sa.String(length=64)))
    op.add_column('subscriptions', sa.Column('expires_at', sa.DateTime(timezone=True)))
    op.add_column('subscriptions', sa.Column('renewal_requested_at',
                                             sa.DateTime(timezone=True)))


def downgrade():
    op.drop_column('subscriptions', 'renewal_requested_at')
    op.drop_column('subscriptions', 'expires_at')
    op.drop_column('api_keys', 'disabled_reason')
    op.drop_column('api_keys', 'disabled_at')
    for table in ('api_key_grace_values', 'budget_periods', 'budget_alerts',
                  'notification_preferences', 'notification_deliveries', 'notifications',
                  'notification_channels'):
        op.drop_table(table)
