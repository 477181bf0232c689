"""Incidents: a tenant's own breach report is stored encrypted under its key

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('incidents', sa.Column('sealed_report', sa.LargeBinary(), nullable=True))


def downgrade():
    op.drop_column('incidents', 'sealed_report')
