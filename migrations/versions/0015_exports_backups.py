"""Tenant exports and backups

Revision ID: 0015
Revises: 0014
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import tenantry.platform.db  # noqa: F401
from tenantry.platform import rls  # noqa: F401

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
