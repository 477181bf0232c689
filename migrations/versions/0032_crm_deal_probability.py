"""A deal's own win probability

deals.probability: the seller's estimate, in per cent, that the deal is won, over its stage's
(NULL: the stage's, which every existing deal keeps). A CHECK keeps it between 0 and 100.

Revision ID: 0032
Revises: 0031
"""
import sqlalchemy as sa
from alembic import op

revision = '0032'
down_revision = '0031'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('probability', sa.SmallInteger(), nullable=True))
        batch_op.create_check_constraint(op.f('ck_deals_probability_range'), 'probability between 0 and 100')


def downgrade():
    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_deals_probability_range'), type_='check')
        batch_op.drop_column('probability')
