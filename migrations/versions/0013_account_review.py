"""Account review and member deactivation

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import tenantry.platform.db  # noqa: F401
from tenantry.platform import rls  # noqa: F401

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
