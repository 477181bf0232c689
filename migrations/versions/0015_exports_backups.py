"""Tenant exports and backups

Revision ID: 0015
Revises: 0014
"""
import sqlalchemy as sa
from alembic import op

import tenantry.platform.db
from tenantry.platform import rls

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

TABLES = ["backups", "exports"]


def upgrade():
    op.create_table('backups',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('storage_key', sa.String(length=300), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=True),
    sa.Column('row_counts', sa.JSON(), nullable=True),
    sa.Column('created_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("status in ('running', 'done', 'failed')", name=op.f('ck_backups_status')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_backups_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_backups')),
    sa.UniqueConstraint('tenant_id', 'day', name=op.f('uq_backups_tenant_id_day')),
    sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_backups_tenant_id_id'))
    )
    op.create_table('exports',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('progress', sa.Integer(), nullable=False),
    sa.Column('requested_by_type', sa.String(length=12), nullable=False),
    sa.Column('requested_by_id', sa.String(length=64), nullable=True),
    sa.Column('backup_id', sa.Uuid(), nullable=True),
    sa.Column('storage_key', sa.String(length=300), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=True),
    sa.Column('row_counts', sa.JSON(), nullable=True),
    sa.Column('error', sa.String(length=200), nullable=True),
    sa.Column('created_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('expires_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('file_deleted_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("status in ('queued', 'running', 'done', 'failed')", name=op.f('ck_exports_status')),
    sa.CheckConstraint('progress between 0 and 100', name=op.f('ck_exports_progress')),
    sa.ForeignKeyConstraint(['tenant_id', 'backup_id'], ['backups.tenant_id', 'backups.id'], name=op.f('fk_exports_tenant_id_backup_id_backups')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_exports_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exports')),
    sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_exports_tenant_id_id'))
    )
    with op.batch_alter_table('exports', schema=None) as batch_op:
        batch_op.create_index('ix_exports_tenant_created', ['tenant_id', 'created_at'], unique=False)

    for table in TABLES:
        rls.enable(table)
        rls.grant(table)


def downgrade():
    for table in reversed(TABLES):
        rls.disable(table)
    with op.batch_alter_table('exports', schema=None) as batch_op:
        batch_op.drop_index('ix_exports_tenant_created')
    op.drop_table('exports')
    op.drop_table('backups')
