"""Account review and member deactivation

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

import tenantry.platform.db
from tenantry.platform import rls

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

TENANT_OWNED = ["account_review_settings", "account_reviews"]


def upgrade():
    op.create_table('account_review_settings',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('auto_deactivate_days', sa.Integer(), nullable=True),
    sa.Column('updated_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint('auto_deactivate_days IS NULL OR auto_deactivate_days BETWEEN 30 AND 3650', name=op.f('ck_account_review_settings_auto_deactivate_days')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_account_review_settings_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account_review_settings')),
    sa.UniqueConstraint('tenant_id', name=op.f('uq_account_review_settings_tenant_id'))
    )
    op.create_table('account_reviews',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('created_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('findings', sa.JSON(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_account_reviews_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account_reviews')),
    sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_account_reviews_tenant_id_id')),
    sa.UniqueConstraint('tenant_id', 'period', name=op.f('uq_account_reviews_tenant_id_period'))
    )
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deactivated_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True))
    for table in TENANT_OWNED:
        rls.enable(table)
        rls.grant(table)


def downgrade():
    for table in TENANT_OWNED:
        rls.disable(table)
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.drop_column('deactivated_at')

    op.drop_table('account_reviews')
    op.drop_table('account_review_settings')
