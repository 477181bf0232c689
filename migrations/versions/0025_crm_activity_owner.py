"""Who an activity is assigned to

Activities get `owner_id`, a member of the workspace who is to do it (as a deal's owner), and
an index for the activity list's "Assigned to" filter. Existing activities are assigned to
nobody.

Revision ID: 0025
Revises: 0024
"""
import sqlalchemy as sa
from alembic import op

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owner_id', sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_activities_owner_id_users'), 'users', ['owner_id'], ['id'],
                                    ondelete='SET NULL')
        batch_op.create_index('ix_activities_tenant_owner', ['tenant_id', 'owner_id'], unique=False)


def downgrade():
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.drop_index('ix_activities_tenant_owner')
        batch_op.drop_constraint(batch_op.f('fk_activities_owner_id_users'), type_='foreignkey')
        batch_op.drop_column('owner_id')
