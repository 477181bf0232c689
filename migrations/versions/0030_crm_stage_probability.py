"""A pipeline stage's win probability

Stages get `probability`, the per cent of a deal's value that the weighted forecast counts.
Existing open stages take 100 (their deals count in full, as before, until an admin sets it),
won stages 100 and lost stages 0; CHECKs keep a won stage at 100 and a lost one at 0
(on PostgreSQL; see below).

Revision ID: 0030
Revises: 0029
"""
import sqlalchemy as sa
from alembic import op

revision = '0030'
down_revision = '0029'
branch_labels = None
depends_on = None


# In place, not as a batch: a copy-and-swap of pipeline_stages on SQLite drops the table the
# deals' foreign keys point at, which SQLite refuses. So SQLite gets no CHECKs here (adding one
# takes that copy); stages.py keeps the same rules on every database.
def upgrade():
    op.add_column('pipeline_stages', sa.Column('probability', sa.SmallInteger(), server_default='100',
                                               nullable=False))
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        # pipeline_stages obeys row-level security even for its owner (rls.py): this migration
        # works across tenants, for this transaction only.
        op.execute("SELECT set_config('tenantry.all_tenants', 'on', true)")
    op.execute("UPDATE pipeline_stages SET probability = 0 WHERE is_lost")
    if postgres:
        op.create_check_constraint(op.f('ck_pipeline_stages_probability_range'), 'pipeline_stages',
                                   'probability between 0 and 100')
        op.create_check_constraint(op.f('ck_pipeline_stages_probability_of_outcome'), 'pipeline_stages',
                                   '(not is_won or probability = 100) and (not is_lost or probability = 0)')


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(op.f('ck_pipeline_stages_probability_of_outcome'), 'pipeline_stages', type_='check')
        op.drop_constraint(op.f('ck_pipeline_stages_probability_range'), 'pipeline_stages', type_='check')
    op.drop_column('pipeline_stages', 'probability')
