"""When a deal entered its stage

Deals get `stage_changed_at`: how long a deal has waited in its stage, and when a won or lost
deal was closed. Existing deals take their last change (`updated_at`), the nearest the database
knows.

Revision ID: 0028
Revises: 0027
"""
import sqlalchemy as sa
from alembic import op

import tenantry.platform.db
from tenantry.platform import rls

revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stage_changed_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True))
    rls.across_tenants()
    op.execute("UPDATE deals SET stage_changed_at = updated_at")
    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.alter_column('stage_changed_at', existing_type=tenantry.platform.db.UTCDateTime(timezone=True),
                              nullable=False)


def downgrade():
    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.drop_column('stage_changed_at')
