"""Support access grants

Revision ID: 0017
Revises: 0016
"""
import sqlalchemy as sa
from alembic import op

import tenantry.platform.db
from tenantry.platform import rls

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('support_grants',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('staff_id', sa.Uuid(), nullable=False),
    sa.Column('ticket_ref', sa.String(length=64), nullable=False),
    sa.Column('scope', sa.String(length=10), nullable=False),
    sa.Column('granted_by_user_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_by_user_id', sa.Uuid(), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("scope in ('read-only', 'read-write')", name=op.f('ck_support_grants_scope')),
    sa.CheckConstraint('expires_at > created_at', name=op.f('ck_support_grants_expires_after_created')),
    sa.ForeignKeyConstraint(['granted_by_user_id'], ['users.id'], name=op.f('fk_support_grants_granted_by_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['revoked_by_user_id'], ['users.id'], name=op.f('fk_support_grants_revoked_by_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_users.id'], name=op.f('fk_support_grants_staff_id_staff_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_support_grants_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_support_grants')),
    sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_support_grants_tenant_id_id'))
    )
    with op.batch_alter_table('support_grants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_support_grants_staff_id'), ['staff_id'], unique=False)
    rls.enable("support_grants")
    rls.grant("support_grants")


def downgrade():
    rls.disable("support_grants")
    with op.batch_alter_table('support_grants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_support_grants_staff_id'))
    op.drop_table('support_grants')
