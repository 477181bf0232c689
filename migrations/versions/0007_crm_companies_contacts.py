"""CRM: companies and contacts stored as ciphertext, and their blind-index search table

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

import tenantry.platform.db
from tenantry.platform import rls

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

TENANT_OWNED = ["companies", "contacts", "crm_search_index"]


def upgrade():
    op.create_table('companies',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('name', sa.LargeBinary(), nullable=False),
    sa.Column('company_number', sa.LargeBinary(), nullable=True),
    sa.Column('vat_id', sa.LargeBinary(), nullable=True),
    sa.Column('address', sa.LargeBinary(), nullable=True),
    sa.Column('iban', sa.LargeBinary(), nullable=True),
    sa.Column('website', sa.LargeBinary(), nullable=True),
    sa.Column('notes', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_companies_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_companies')),
    sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_companies_tenant_id_id'))
    )
    op.create_table('crm_search_index',
    sa.Column('entity', sa.String(length=8), nullable=False),
    sa.Column('row_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("entity in ('company', 'contact')", name=op.f('ck_crm_search_index_entity')),
    sa.CheckConstraint("kind in ('email', 'phone', 'company_id', 'name')", name=op.f('ck_crm_search_index_kind')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_crm_search_index_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'entity', 'row_id', 'kind', 'digest', name=op.f('pk_crm_search_index'))
    )
    with op.batch_alter_table('crm_search_index', schema=None) as batch_op:
        batch_op.create_index('ix_crm_search_index_lookup', ['tenant_id', 'kind', 'digest'], unique=False)

    op.create_table('contacts',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('company_id', sa.Uuid(), nullable=True),
    sa.Column('first_name', sa.LargeBinary(), nullable=True),
    sa.Column('last_name', sa.LargeBinary(), nullable=True),
    sa.Column('emails', sa.LargeBinary(), nullable=True),
    sa.Column('phones', sa.LargeBinary(), nullable=True),
    sa.Column('address', sa.LargeBinary(), nullable=True),
    sa.Column('position', sa.LargeBinary(), nullable=True),
    sa.Column('notes', sa.LargeBinary(), nullable=True),
    sa.Column('tags', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'company_id'], ['companies.tenant_id', 'companies.id'], name=op.f('fk_contacts_tenant_id_company_id_companies')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_contacts_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contacts')),
    sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_contacts_tenant_id_id'))
    )
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.create_index('ix_contacts_tenant_company', ['tenant_id', 'company_id'], unique=False)
    for table in TENANT_OWNED:
        rls.enable(table)
        rls.grant(table)


def downgrade():
    for table in TENANT_OWNED:
        rls.disable(table)
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_index('ix_contacts_tenant_company')
    op.drop_table('contacts')
    with op.batch_alter_table('crm_search_index', schema=None) as batch_op:
        batch_op.drop_index('ix_crm_search_index_lookup')
    op.drop_table('crm_search_index')
    op.drop_table('companies')
