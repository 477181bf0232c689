"""A pipeline stage's win probability

Stages get `probability`, the per cent of a deal's value that the weighted forecast counts.
Existing open stages take 100 (their deals count in full, as before, until an admin sets it),
won stages 100 and lost stages 0; CHECKs keep a won stage at 100 and a lost one at 0.

Revision ID: 0030
Revises: 0029
"""
import sqlalchemy as sa
from alembic import op

from tenantry.platform import rls

revision = '0030'
down_revision = '0029'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('pipeline_stages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('probability', sa.SmallInteger(), server_default='100', nullable=False))
    rls.across_tenants()
    op.execute("UPDATE pipeline_stages SET probability = 0 WHERE is_lost")
    with op.batch_alter_table('pipeline_stages', schema=None) as batch_op:
        batch_op.create_check_constraint(op.f('ck_pipeline_stages_probability_range'), 'probability between 0 and 100')
        batch_op.create_check_constraint(op.f('ck_pipeline_stages_probability_of_outcome'),
                                         '(not is_won or probability = 100) and (not is_lost or probability = 0)')


def downgrade():
    with op.batch_alter_table('pipeline_stages', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_pipeline_stages_probability_of_outcome'), type_='check')
        batch_op.drop_constraint(op.f('ck_pipeline_stages_probability_range'), type_='check')
        batch_op.drop_column('probability')
