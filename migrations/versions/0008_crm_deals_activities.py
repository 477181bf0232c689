"""Deals, pipeline stages and activities

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

import tenantry.platform.db
from tenantry.platform import rls

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

TENANT_OWNED = ["pipeline_stages", "deals", "activities"]


def upgrade():
    op.create_table('pipeline_stages',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('is_won', sa.Boolean(), nullable=False),
    sa.Column('is_lost', sa.Boolean(), nullable=False),
    sa.Column('created_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint('not (is_won and is_lost)', name=op.f('ck_pipeline_stages_won_or_lost')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_pipeline_stages_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pipeline_stages')),
    sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_pipeline_stages_tenant_id_id')),
    sa.UniqueConstraint('tenant_id', 'name', name=op.f('uq_pipeline_stages_tenant_id_name'))
    )
    op.create_table('deals',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('title', sa.LargeBinary(), nullable=False),
    sa.Column('value', sa.Numeric(precision=18, scale=3), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('stage_id', sa.Uuid(), nullable=False),
    sa.Column('expected_close', sa.Date(), nullable=True),
    sa.Column('contact_id', sa.Uuid(), nullable=True),
    sa.Column('company_id', sa.Uuid(), nullable=True),
    sa.Column('owner_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint('value >= 0', name=op.f('ck_deals_value_not_negative')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_deals_owner_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id', 'company_id'], ['companies.tenant_id', 'companies.id'], name=op.f('fk_deals_tenant_id_company_id_companies')),
    sa.ForeignKeyConstraint(['tenant_id', 'contact_id'], ['contacts.tenant_id', 'contacts.id'], name=op.f('fk_deals_tenant_id_contact_id_contacts')),
    sa.ForeignKeyConstraint(['tenant_id', 'stage_id'], ['pipeline_stages.tenant_id', 'pipeline_stages.id'], name=op.f('fk_deals_tenant_id_stage_id_pipeline_stages')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_deals_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deals')),
    sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_deals_tenant_id_id'))
    )
    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.create_index('ix_deals_tenant_company', ['tenant_id', 'company_id'], unique=False)
        batch_op.create_index('ix_deals_tenant_contact', ['tenant_id', 'contact_id'], unique=False)
        batch_op.create_index('ix_deals_tenant_stage', ['tenant_id', 'stage_id'], unique=False)

    op.create_table('activities',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('done', sa.Boolean(), nullable=False),
    sa.Column('done_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('note', sa.LargeBinary(), nullable=True),
    sa.Column('contact_id', sa.Uuid(), nullable=True),
    sa.Column('company_id', sa.Uuid(), nullable=True),
    sa.Column('deal_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("kind in ('call', 'meeting', 'email', 'task')", name=op.f('ck_activities_kind')),
    sa.CheckConstraint('(CASE WHEN contact_id IS NULL THEN 0 ELSE 1 END) + (CASE WHEN company_id IS NULL THEN 0 ELSE 1 END) + (CASE WHEN deal_id IS NULL THEN 0 ELSE 1 END) = 1', name=op.f('ck_activities_one_subject')),
    sa.ForeignKeyConstraint(['tenant_id', 'company_id'], ['companies.tenant_id', 'companies.id'], name=op.f('fk_activities_tenant_id_company_id_companies')),
    sa.ForeignKeyConstraint(['tenant_id', 'contact_id'], ['contacts.tenant_id', 'contacts.id'], name=op.f('fk_activities_tenant_id_contact_id_contacts')),
    sa.ForeignKeyConstraint(['tenant_id', 'deal_id'], ['deals.tenant_id', 'deals.id'], name=op.f('fk_activities_tenant_id_deal_id_deals')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_activities_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activities')),
    sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_activities_tenant_id_id'))
    )
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.create_index('ix_activities_tenant_company', ['tenant_id', 'company_id'], unique=False)
        batch_op.create_index('ix_activities_tenant_contact', ['tenant_id', 'contact_id'], unique=False)
        batch_op.create_index('ix_activities_tenant_deal', ['tenant_id', 'deal_id'], unique=False)
    for table in TENANT_OWNED:
        rls.enable(table)
        rls.grant(table)


def downgrade():
    for table in TENANT_OWNED:
        rls.disable(table)
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.drop_index('ix_activities_tenant_deal')
        batch_op.drop_index('ix_activities_tenant_contact')
        batch_op.drop_index('ix_activities_tenant_company')

    op.drop_table('activities')
    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.drop_index('ix_deals_tenant_stage')
        batch_op.drop_index('ix_deals_tenant_contact')
        batch_op.drop_index('ix_deals_tenant_company')

    op.drop_table('deals')
    op.drop_table('pipeline_stages')
