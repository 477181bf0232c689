"""Per-tenant versioned data keys

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

import tenantry.platform.db
from tenantry.platform import rls

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


TABLES = ("tenant_keys", "key_rotations")


def upgrade():
    op.create_table('key_rotations',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('to_version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('cursor_table', sa.String(length=63), nullable=True),
    sa.Column('cursor_row', sa.String(length=64), nullable=True),
    sa.Column('rows_done', sa.Integer(), nullable=False),
    sa.Column('rows_total', sa.Integer(), nullable=False),
    sa.Column('values_reencrypted', sa.Integer(), nullable=False),
    sa.Column('started_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("status in ('running', 'done', 'superseded')", name=op.f('ck_key_rotations_status')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_key_rotations_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_key_rotations')),
    sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_key_rotations_tenant_id_id'))
    )
    op.create_table('tenant_keys',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('purpose', sa.String(length=8), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('wrapped', sa.LargeBinary(), nullable=True),
    sa.Column('provider', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('created_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('retired_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('destroyed_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("(status = 'destroyed') = (wrapped IS NULL)", name=op.f('ck_tenant_keys_destroyed_erased')),
    sa.CheckConstraint("purpose in ('data', 'index')", name=op.f('ck_tenant_keys_purpose')),
    sa.CheckConstraint("status in ('active', 'retiring', 'retired', 'destroyed')", name=op.f('ck_tenant_keys_status')),
    sa.CheckConstraint('version >= 1', name=op.f('ck_tenant_keys_version')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_tenant_keys_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tenant_keys')),
    sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_tenant_keys_tenant_id_id')),
    sa.UniqueConstraint('tenant_id', 'purpose', 'version', name=op.f('uq_tenant_keys_tenant_id_purpose_version'))
    )
    with op.batch_alter_table('tenant_keys', schema=None) as batch_op:
        batch_op.create_index('ix_tenant_keys_one_active', ['tenant_id', 'purpose'], unique=True, sqlite_where=sa.text("status = 'active'"), postgresql_where=sa.text("status = 'active'"))
    for table in TABLES:
        rls.enable(table)
        rls.grant(table)


def downgrade():
    for table in TABLES:
        rls.disable(table)
    with op.batch_alter_table('tenant_keys', schema=None) as batch_op:
        batch_op.drop_index('ix_tenant_keys_one_active', sqlite_where=sa.text("status = 'active'"), postgresql_where=sa.text("status = 'active'"))

    op.drop_table('tenant_keys')
    op.drop_table('key_rotations')
