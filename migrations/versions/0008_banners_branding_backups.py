"""banners (targeted, dismissible), their dismissals, and branding (settings and images)
(issue 16; backups live in BACKUP_DIR, not in the database they restore)

Revision ID: 0008_banners_branding_backups
Revises: 0007_runtime_settings
Create Date: 2026-12-03 13:40:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = '0008_banners_branding_backups'
down_revision = '0007_runtime_settings'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'banners',
        sa.Column('id', sa.Uuid(), server_default=sa.text('gen_random_uuid()'), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('is_active', sa.Boolean(), server_default=sa.text('false'), nullable=False),
        sa.Column('priority', sa.Integer(), server_default=sa.text('0'), nullable=False),
        sa.Column('content', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('variant', sa.String(length=16), server_default='info', nullable=False),
        sa.Column('is_dismissible', sa.Boolean(), server_default=sa.text('false'),
                  nullable=False),
        sa.Column('dismiss_duration_hours', sa.Integer(), nullable=True),
        sa.Column('start_date', sa.DateTime(timezone=True), nullable=True),
        sa.Column('end_date', sa.DateTime(timezone=True), nullable=True),
        sa.Column('target_roles', postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column('target_user_ids', postgresql.ARRAY(sa.Uuid()), nullable=True),
        sa.Column('link_url', sa.String(length=500), nullable=True),
        sa.Column('link_text', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column('markdown_enabled', sa.Boolean(), server_default=sa.text('false'),
                  nullable=False),
        sa.Column('created_by', sa.Uuid(), nullable=True),
        sa.Column('updated_by', sa.Uuid(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
                  nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
                  nullable=False),
        sa.CheckConstraint("variant IN ('info', 'warning', 'danger', 'success', 'default')",
                           name=op.f('ck_banners_variant_valid')),
        sa.CheckConstraint('priority >= 0', name=op.f('ck_banners_priority_non_negative')),
        sa.CheckConstraint('dismiss_duration_hours IS NULL OR dismiss_duration_hours >= 1',
                           name=op.f('ck_banners_dismiss_duration_positive')),
        sa.CheckConstraint('end_date IS NULL OR start_date IS NULL OR end_date > start_date',
                           name=op.f('ck_banners_dates_ordered')),
        sa.ForeignKeyConstraint(['created_by'], ['users.id'], ondelete='SET NULL',
                                name=op.f('fk_banners_created_by_users')),
        sa.ForeignKeyConstraint(['updated_by'], ['users.id'], ondelete='SET NULL',
                                name=op.f('fk_banners_updated_by_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_banners')),
    )
    op.create_index('ix_banners_active_priority', 'banners',
                    ['is_active', 'priority', 'created_at'], unique=False)
    op.create_table(
        'banner_dismissals',
        sa.Column('banner_id', sa.Uuid(), nullable=False),
        sa.Column('user_id', sa.Uuid(), nullable=False),
        sa.Column('dismissed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
                  nullable=False),
        sa.ForeignKeyConstraint(['banner_id'], ['banners.id'], ondelete='CASCADE',
                                name=op.f('fk_banner_dismissals_banner_id_banners')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE',
                                name=op.f('fk_banner_dismissals_user_id_users')),
        sa.PrimaryKeyConstraint('banner_id', 'user_id', name=op.f('pk_banner_dismissals')),
    )
    op.create_table(
        'branding_settings',
        sa.Column('id', sa.Integer(), server_default=sa.text('1'), nullable=False),
        sa.Column('login_logo_enabled', sa.Boolean(), server_default=sa.text('false'),
                  nullable=False),
        sa.Column('login_title_enabled', sa.Boolean(), server_default=sa.text('false'),
                  nullable=False),
        sa.Column('login_title', sa.String(length=200), nullable=True),
        sa.Column('login_subtitle_enabled', sa.Boolean(), server_default=sa.text('false'),
                  nullable=False),
        sa.Column('login_subtitle', sa.String(length=500), nullable=True),
        sa.Column('header_brand_enabled', sa.Boolean(), server_default=sa.text('false'),
                  nullable=False),
        sa.Column('updated_by', sa.Uuid(), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
                  nullable=False),
        sa.CheckConstraint('id = 1', name=op.f('ck_branding_settings_singleton')),
        sa.ForeignKeyConstraint(['updated_by'], ['users.id'], ondelete='SET NULL',
                                name=op.f('fk_branding_settings_updated_by_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_branding_settings')),
    )
    op.create_table(
        'branding_images',
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.Column('mime_type', sa.String(length=32), nullable=False),
        sa.Column('size_bytes', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('updated_by', sa.Uuid(), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
                  nullable=False),
        sa.CheckConstraint("kind IN ('login-logo', 'header-brand-light', 'header-brand-dark')",
                           name=op.f('ck_branding_images_kind_valid')),
        sa.ForeignKeyConstraint(['updated_by'], ['users.id'], ondelete='SET NULL',
                                name=op.f('fk_branding_images_updated_by_users')),
        sa.PrimaryKeyConstraint('kind', name=op.f('pk_branding_images')),
    )


def downgrade():
    op.drop_table('branding_images')
    op.drop_table('branding_settings')
    op.drop_table('banner_dismissals')
    op.drop_index('ix_banners_active_priority', table_name='banners')
    op.drop_table('banners')
