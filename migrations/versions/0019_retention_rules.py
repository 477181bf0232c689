"""Retention rules, their runs, and the marks of anonymised CRM rows

Revision ID: 0019
Revises: 0018
"""
import sqlalchemy as sa
from alembic import op

import tenantry.platform.db
from tenantry.platform import rls

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

_CONDITIONS = "'contact_inactive', 'company_inactive', 'deal_closed', 'deal_created', 'activity_created'"
_ENTITIES = "'activity', 'deal', 'contact', 'company'"


def upgrade():
    op.create_table('retention_rules',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('entity', sa.String(length=10), nullable=False),
    sa.Column('condition', sa.String(length=20), nullable=False),
    sa.Column('months', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=10), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_user_id', sa.Uuid(), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint('months >= 1 and months <= 240', name=op.f('ck_retention_rules_months')),
    sa.CheckConstraint("action in ('delete', 'anonymise')", name=op.f('ck_retention_rules_action')),
    sa.CheckConstraint(f"entity in ({_ENTITIES})", name=op.f('ck_retention_rules_entity')),
    sa.CheckConstraint(f"condition in ({_CONDITIONS})", name=op.f('ck_retention_rules_condition')),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['users.id'], name=op.f('fk_retention_rules_created_by_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_retention_rules_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retention_rules')),
    sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_retention_rules_tenant_id_id')),
    sa.UniqueConstraint('tenant_id', 'condition', 'action', name=op.f('uq_retention_rules_tenant_id_condition_action'))
    )
    op.create_table('retention_runs',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('as_of', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('deleted', sa.Integer(), nullable=False),
    sa.Column('anonymised', sa.Integer(), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("status in ('running', 'done')", name=op.f('ck_retention_runs_status')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_retention_runs_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retention_runs')),
    sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_retention_runs_tenant_id_id'))
    )
    with op.batch_alter_table('retention_runs', schema=None) as batch_op:
        batch_op.create_index('ix_retention_runs_tenant_started', ['tenant_id', 'started_at'], unique=False)
    op.create_table('retention_anonymised',
    sa.Column('entity', sa.String(length=10), nullable=False),
    sa.Column('row_id', sa.Uuid(), nullable=False),
    sa.Column('anonymised_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('row_updated_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('rule_id', sa.Uuid(), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint(f"entity in ({_ENTITIES})", name=op.f('ck_retention_anonymised_entity')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_retention_anonymised_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'entity', 'row_id', name=op.f('pk_retention_anonymised'))
    )
    for table in ('retention_rules', 'retention_runs', 'retention_anonymised'):
        rls.enable(table)
        rls.grant(table)


def downgrade():
    for table in ('retention_anonymised', 'retention_runs', 'retention_rules'):
        rls.disable(table)
    op.drop_table('retention_anonymised')
    with op.batch_alter_table('retention_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_retention_runs_tenant_started')
    op.drop_table('retention_runs')
    op.drop_table('retention_rules')
