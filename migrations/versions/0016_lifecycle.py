"""Cancellation, deletion and tombstones

Revision ID: 0016
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op

import tenantry.platform.db
from tenantry.platform import rls

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

TENANT_OWNED = ["tenant_cancellations", "tenant_cancellation_reminders", "tenant_deletion_requests",
                "tenant_backup_requests"]
GLOBAL = ["tenant_tombstones"]

# The purge deletes every row of a tenant, also from tables where the application role may
# only SELECT and INSERT (append-only records such as incident notices). This function, owned
# by the schema owner, does that and nothing else: it acts only on a tenant whose status is
# cancelled and whose tombstone (the purge's record) exists, and only on tables with a
# tenant_id column other than the audit trail (which the audit core's own function purges).
PURGE_BATCH = """
CREATE OR REPLACE FUNCTION tenantry_purge_batch(p_table text, p_tenant uuid, p_limit integer)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
  n integer;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM tenants t JOIN tenant_tombstones s ON s.tenant_id = t.id
                 WHERE t.id = p_tenant AND t.status = 'cancelled') THEN
    RAISE EXCEPTION 'tenant % is not being purged', p_tenant;
  END IF;
  IF p_table IN ('tenants', 'tenant_tombstones', 'audit_events', 'audit_heads') OR NOT EXISTS (
      SELECT 1 FROM information_schema.columns
      WHERE table_schema = current_schema() AND table_name = p_table AND column_name = 'tenant_id') THEN
    RAISE EXCEPTION 'table % is not purged by tenant', p_table;
  END IF;
  EXECUTE format('DELETE FROM %I WHERE ctid IN (SELECT ctid FROM %I WHERE tenant_id = $1 LIMIT $2)',
                 p_table, p_table) USING p_tenant, p_limit;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$
"""

FUNCTIONS = ["tenantry_purge_batch(text, uuid, integer)"]


def _functions():
    op.execute(PURGE_BATCH)
    for signature in FUNCTIONS:
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(
            f"DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{rls.APP_ROLE}') THEN "  # noqa: S608
            f"GRANT EXECUTE ON FUNCTION {signature} TO {rls.APP_ROLE}; END IF; END $$"
        )


def upgrade():
    op.create_table('tenant_backup_requests',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('requested_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('requested_by_user_id', sa.Uuid(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('fulfilled_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('fulfilled_by_staff_id', sa.Uuid(), nullable=True),
    sa.Column('backup_ref', sa.String(length=64), nullable=True),
    sa.Column('export_ref', sa.String(length=64), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("status in ('open', 'fulfilled')", name=op.f('ck_tenant_backup_requests_status')),
    sa.ForeignKeyConstraint(['fulfilled_by_staff_id'], ['staff_users.id'], name=op.f('fk_tenant_backup_requests_fulfilled_by_staff_id_staff_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['requested_by_user_id'], ['users.id'], name=op.f('fk_tenant_backup_requests_requested_by_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_tenant_backup_requests_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tenant_backup_requests')),
    sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_tenant_backup_requests_tenant_id_id'))
    )
    op.create_table('tenant_cancellations',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('cancelled_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deletion_due_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('cancelled_by_user_id', sa.Uuid(), nullable=True),
    sa.Column('reference', sa.String(length=120), nullable=True),
    sa.Column('reactivated_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reactivated_by_user_id', sa.Uuid(), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("channel in ('owner', 'staff')", name=op.f('ck_tenant_cancellations_channel')),
    sa.ForeignKeyConstraint(['cancelled_by_user_id'], ['users.id'], name=op.f('fk_tenant_cancellations_cancelled_by_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['reactivated_by_user_id'], ['users.id'], name=op.f('fk_tenant_cancellations_reactivated_by_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_tenant_cancellations_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tenant_cancellations')),
    sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_tenant_cancellations_tenant_id_id'))
    )
    op.create_table('tenant_deletion_requests',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('requested_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('requested_by_user_id', sa.Uuid(), nullable=True),
    sa.Column('filed_by_staff_id', sa.Uuid(), nullable=True),
    sa.Column('reference', sa.String(length=120), nullable=True),
    sa.Column('scheduled_for', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['filed_by_staff_id'], ['staff_users.id'], name=op.f('fk_tenant_deletion_requests_filed_by_staff_id_staff_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['requested_by_user_id'], ['users.id'], name=op.f('fk_tenant_deletion_requests_requested_by_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_tenant_deletion_requests_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tenant_deletion_requests')),
    sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_tenant_deletion_requests_tenant_id_id'))
    )
    op.create_table('tenant_tombstones',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('slug_sha256', sa.String(length=64), nullable=False),
    sa.Column('tenant_created_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cancelled_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('deletion_due_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('purge_started_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('certificate_sent_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('files_deleted_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('rows_deleted_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('keys_destroyed_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('deleted_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('expedited', sa.Boolean(), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_tenant_tombstones_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('tenant_id', name=op.f('pk_tenant_tombstones'))
    )
    op.create_table('tenant_cancellation_reminders',
    sa.Column('cancellation_id', sa.Uuid(), nullable=False),
    sa.Column('days_before', sa.Integer(), nullable=False),
    sa.Column('sent_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'cancellation_id'], ['tenant_cancellations.tenant_id', 'tenant_cancellations.id'], name=op.f('fk_tenant_cancellation_reminders_tenant_id_cancellation_id_tenant_cancellations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_tenant_cancellation_reminders_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'cancellation_id', 'days_before', name=op.f('pk_tenant_cancellation_reminders'))
    )

    for table in TENANT_OWNED:
        rls.enable(table)
    for table in TENANT_OWNED + GLOBAL:
        rls.grant(table)
    if op.get_bind().dialect.name == "postgresql":
        _functions()


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for signature in FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {signature}")
    for table in TENANT_OWNED:
        rls.disable(table)
    op.drop_table('tenant_cancellation_reminders')
    op.drop_table('tenant_tombstones')
    op.drop_table('tenant_deletion_requests')
    op.drop_table('tenant_cancellations')
    op.drop_table('tenant_backup_requests')
