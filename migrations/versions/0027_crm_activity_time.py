"""The time of an activity

Activities get `due_time`, the time of day on their due date (a meeting's, a call's), on the
workspace's clock; an activity without one is of the whole day. A time needs a date. Existing
activities have none.

Revision ID: 0027
Revises: 0026
"""
import sqlalchemy as sa
from alembic import op

revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('due_time', sa.Time(), nullable=True))
        batch_op.create_check_constraint(op.f('ck_activities_due_time_has_date'), 'due_time IS NULL OR due_on IS NOT NULL')


def downgrade():
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_activities_due_time_has_date'), type_='check')
        batch_op.drop_column('due_time')
