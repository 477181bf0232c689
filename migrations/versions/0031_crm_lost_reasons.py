"""Why deals are lost

lost_reasons: each workspace's own list of reasons a deal is lost for (seeded with defaults on
first use, like the pipeline stages), and deals.lost_reason_id, the one given for a lost deal.
Existing lost deals have none: "not given", until someone says.

Revision ID: 0031
Revises: 0030
"""
import sqlalchemy as sa
from alembic import op

import tenantry.platform.db
from tenantry.platform import rls

revision = '0031'
down_revision = '0030'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('lost_reasons',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('created_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_lost_reasons_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lost_reasons')),
    sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_lost_reasons_tenant_id_id')),
    sa.UniqueConstraint('tenant_id', 'name', name=op.f('uq_lost_reasons_tenant_id_name'))
    )
    rls.enable('lost_reasons')
    rls.grant('lost_reasons')
    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lost_reason_id', sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(op.f('fk_deals_tenant_id_lost_reason_id_lost_reasons'), 'lost_reasons',
                                    ['tenant_id', 'lost_reason_id'], ['tenant_id', 'id'])


def downgrade():
    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('fk_deals_tenant_id_lost_reason_id_lost_reasons'), type_='foreignkey')
        batch_op.drop_column('lost_reason_id')
    rls.disable('lost_reasons')
    op.drop_table('lost_reasons')
