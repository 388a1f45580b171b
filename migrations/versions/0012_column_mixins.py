"""Budget and rate limits: users and teams get the non-negative checks API keys already had
(one mixin, app/models/base.BudgetLimits, now declares them for the three tables)

Revision ID: 0012_column_mixins
Revises: 0010_governance
Create Date: 2026-12-03 14:45:00

NOT VALID first, then VALIDATE: adding the constraint does not hold a long lock on a large
table, and a negative limit already stored (the API never accepted one) fails the validation
loudly instead of being silently kept.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0012_column_mixins'
down_revision = '0010_governance'
branch_labels = None
depends_on = None

CHECKS = [(table, column) for table in ('users', 'teams') for column in ('tpm_limit', 'rpm_limit')]


def upgrade():
    for table, column in CHECKS:
        name = f'ck_{table}_{column}_non_negative'
        op.execute(f'ALTER TABLE {table} ADD CONSTRAINT {name} '
                   f'CHECK ({column} IS NULL OR {column} >= 0) NOT VALID')
        op.execute(f'ALTER TABLE {table} VALIDATE CONSTRAINT {name}')


def downgrade():
    for table, column in reversed(CHECKS):
        op.drop_constraint(f'ck_{table}_{column}_non_negative', table, type_='check')
