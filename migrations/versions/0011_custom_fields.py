"""Custom fields on contacts, CSV imports, and special-category agreements

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

import tenantry.platform.db
from tenantry.platform import rls

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

TENANT_OWNED = ["crm_custom_fields", "crm_custom_values", "crm_imports", "special_category_agreements"]


def upgrade():
    op.create_table('crm_custom_fields',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('label', sa.String(length=100), nullable=False),
    sa.Column('type', sa.String(length=10), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('required', sa.Boolean(), nullable=False),
    sa.Column('special_category', sa.Boolean(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('created_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("type in ('text', 'number', 'date', 'choice')", name=op.f('ck_crm_custom_fields_type')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_crm_custom_fields_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_custom_fields')),
    sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_crm_custom_fields_tenant_id_id')),
    sa.UniqueConstraint('tenant_id', 'key', name=op.f('uq_crm_custom_fields_tenant_id_key'))
    )

    op.create_table('crm_imports',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('entity', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_by_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('rows_total', sa.Integer(), nullable=False),
    sa.Column('rows_valid', sa.Integer(), nullable=False),
    sa.Column('rows_imported', sa.Integer(), nullable=False),
    sa.Column('file_key', sa.String(length=200), nullable=True),
    sa.Column('rejected_key', sa.String(length=200), nullable=True),
    sa.Column('finished_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("entity in ('contact', 'company')", name=op.f('ck_crm_imports_entity')),
    sa.CheckConstraint("status in ('previewed', 'imported', 'discarded', 'expired')", name=op.f('ck_crm_imports_status')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_crm_imports_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_crm_imports_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_imports')),
    sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_crm_imports_tenant_id_id'))
    )

    with op.batch_alter_table('crm_imports', schema=None) as batch_op:
        batch_op.create_index('ix_crm_imports_expires', ['status', 'expires_at'], unique=False)

    op.create_table('special_category_agreements',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('reference', sa.String(length=200), nullable=False),
    sa.Column('signed_by', sa.String(length=200), nullable=False),
    sa.Column('signed_on', sa.Date(), nullable=False),
    sa.Column('categories', sa.JSON(), nullable=False),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('recorded_by_staff_id', sa.Uuid(), nullable=True),
    sa.Column('recorded_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_by_staff_id', sa.Uuid(), nullable=True),
    sa.Column('revocation_reason', sa.Text(), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint('(revoked_at IS NULL) = (revocation_reason IS NULL)', name=op.f('ck_special_category_agreements_revocation_complete')),
    sa.ForeignKeyConstraint(['recorded_by_staff_id'], ['staff_users.id'], name=op.f('fk_special_category_agreements_recorded_by_staff_id_staff_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['revoked_by_staff_id'], ['staff_users.id'], name=op.f('fk_special_category_agreements_revoked_by_staff_id_staff_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_special_category_agreements_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_special_category_agreements')),
    sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_special_category_agreements_tenant_id_id'))
    )

    op.create_table('crm_custom_values',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('contact_id', sa.Uuid(), nullable=False),
    sa.Column('field_id', sa.Uuid(), nullable=False),
    sa.Column('value', sa.LargeBinary(), nullable=False),
    sa.Column('updated_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'contact_id'], ['contacts.tenant_id', 'contacts.id'], name=op.f('fk_crm_custom_values_tenant_id_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id', 'field_id'], ['crm_custom_fields.tenant_id', 'crm_custom_fields.id'], name=op.f('fk_crm_custom_values_tenant_id_field_id_crm_custom_fields'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_crm_custom_values_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_custom_values')),
    sa.UniqueConstraint('tenant_id', 'contact_id', 'field_id', name=op.f('uq_crm_custom_values_tenant_id_contact_id_field_id')),
    sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_crm_custom_values_tenant_id_id'))
    )

    with op.batch_alter_table('crm_custom_values', schema=None) as batch_op:
        batch_op.create_index('ix_crm_custom_values_field', ['tenant_id', 'field_id'], unique=False)
    for table in TENANT_OWNED:
        rls.enable(table)
        rls.grant(table)


def downgrade():
    for table in TENANT_OWNED:
        rls.disable(table)
    with op.batch_alter_table('crm_custom_values', schema=None) as batch_op:
        batch_op.drop_index('ix_crm_custom_values_field')

    op.drop_table('crm_custom_values')
    op.drop_table('special_category_agreements')
    with op.batch_alter_table('crm_imports', schema=None) as batch_op:
        batch_op.drop_index('ix_crm_imports_expires')

    op.drop_table('crm_imports')
    op.drop_table('crm_custom_fields')
