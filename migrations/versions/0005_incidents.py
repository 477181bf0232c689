"""Incidents, the breach register and notices to tenants

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import tenantry.platform.db  # noqa: F401
from tenantry.platform import rls  # noqa: F401

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

TENANT_OWNED = ["incident_tenants", "incident_notices", "incident_notice_recipients"]
# Append-only: the application role may read and add rows, never change or remove them.
APPEND_ONLY = ["incidents", "incident_entries", "incident_flags", "incident_reminders", *TENANT_OWNED]


def upgrade():
    op.create_table('incidents',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('reported_by_tenant_id', sa.Uuid(), nullable=True),
    sa.Column('reported_by_user_id', sa.Uuid(), nullable=True),
    sa.Column('logged_by_staff_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('detected_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('aware_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('nature_confidentiality', sa.Boolean(), nullable=False),
    sa.Column('nature_integrity', sa.Boolean(), nullable=False),
    sa.Column('nature_availability', sa.Boolean(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('systems', sa.Text(), nullable=False),
    sa.Column('subject_categories', sa.Text(), nullable=False),
    sa.Column('subjects_approx', sa.Integer(), nullable=True),
    sa.Column('record_categories', sa.Text(), nullable=False),
    sa.Column('records_approx', sa.Integer(), nullable=True),
    sa.Column('consequences', sa.Text(), nullable=False),
    sa.Column('measures_taken', sa.Text(), nullable=False),
    sa.Column('measures_proposed', sa.Text(), nullable=False),
    sa.Column('contact', sa.String(length=400), nullable=False),
    sa.Column('severity_dpc', sa.Integer(), nullable=True),
    sa.Column('severity_ei', sa.Float(), nullable=True),
    sa.Column('severity_cb', sa.Float(), nullable=True),
    sa.Column('severity_justification', sa.Text(), nullable=False),
    sa.Column('scope', sa.String(length=12), nullable=False),
    sa.Column('scope_detail', sa.String(length=200), nullable=False),
    sa.Column('plan_due_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('notify_due_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('solution_target_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('solution_target_reason', sa.Text(), nullable=False),
    sa.CheckConstraint("scope in ('all', 'chosen', 'subprocessor', 'system')", name=op.f('ck_incidents_scope')),
    sa.CheckConstraint("source in ('processor', 'tenant')", name=op.f('ck_incidents_source')),
    sa.CheckConstraint('aware_at >= detected_at', name=op.f('ck_incidents_aware_after_detected')),
    sa.CheckConstraint('severity_dpc IS NULL OR severity_dpc BETWEEN 1 AND 4', name=op.f('ck_incidents_severity_dpc')),
    sa.CheckConstraint('severity_ei IS NULL OR severity_ei IN (0.25, 0.5, 0.75, 1)', name=op.f('ck_incidents_severity_ei')),
    sa.ForeignKeyConstraint(['logged_by_staff_id'], ['staff_users.id'], name=op.f('fk_incidents_logged_by_staff_id_staff_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['reported_by_tenant_id'], ['tenants.id'], name=op.f('fk_incidents_reported_by_tenant_id_tenants'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['reported_by_user_id'], ['users.id'], name=op.f('fk_incidents_reported_by_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incidents'))
    )
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incidents_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_incidents_reported_by_tenant_id'), ['reported_by_tenant_id'], unique=False)
    op.create_table('incident_entries',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('incident_id', sa.Uuid(), nullable=False),
    sa.Column('at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('staff_id', sa.Uuid(), nullable=True),
    sa.Column('user_id', sa.Uuid(), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('corrects_entry_id', sa.Uuid(), nullable=True),
    sa.Column('data', sa.JSON(), nullable=True),
    sa.CheckConstraint("kind in ('logged', 'plan', 'update', 'note', 'correction', 'target', 'solution', 'authority', 'closed')", name=op.f('ck_incident_entries_kind')),
    sa.ForeignKeyConstraint(['corrects_entry_id'], ['incident_entries.id'], name=op.f('fk_incident_entries_corrects_entry_id_incident_entries')),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_incident_entries_incident_id_incidents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_users.id'], name=op.f('fk_incident_entries_staff_id_staff_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_incident_entries_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_entries'))
    )
    with op.batch_alter_table('incident_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incident_entries_incident_id'), ['incident_id'], unique=False)
    op.create_table('incident_flags',
    sa.Column('incident_id', sa.Uuid(), nullable=False),
    sa.Column('deadline', sa.String(length=10), nullable=False),
    sa.Column('flagged_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("deadline in ('plan', 'notify', 'solution')", name=op.f('ck_incident_flags_deadline')),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_incident_flags_incident_id_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('incident_id', 'deadline', name=op.f('pk_incident_flags'))
    )
    op.create_table('incident_reminders',
    sa.Column('incident_id', sa.Uuid(), nullable=False),
    sa.Column('hours', sa.Integer(), nullable=False),
    sa.Column('at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_incident_reminders_incident_id_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('incident_id', 'hours', name=op.f('pk_incident_reminders'))
    )
    op.create_table('incident_tenants',
    sa.Column('incident_id', sa.Uuid(), nullable=False),
    sa.Column('added_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_incident_tenants_incident_id_incidents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_incident_tenants_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'incident_id', name=op.f('pk_incident_tenants'))
    )
    with op.batch_alter_table('incident_tenants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incident_tenants_incident_id'), ['incident_id'], unique=False)
    op.create_table('incident_notices',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('incident_id', sa.Uuid(), nullable=False),
    sa.Column('entry_id', sa.Uuid(), nullable=True),
    sa.Column('initial', sa.Boolean(), nullable=False),
    sa.Column('sent_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_by_staff_id', sa.Uuid(), nullable=True),
    sa.Column('due_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('late_seconds', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint('late_seconds >= 0', name=op.f('ck_incident_notices_late_seconds')),
    sa.ForeignKeyConstraint(['entry_id'], ['incident_entries.id'], name=op.f('fk_incident_notices_entry_id_incident_entries')),
    sa.ForeignKeyConstraint(['sent_by_staff_id'], ['staff_users.id'], name=op.f('fk_incident_notices_sent_by_staff_id_staff_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id', 'incident_id'], ['incident_tenants.tenant_id', 'incident_tenants.incident_id'], name=op.f('fk_incident_notices_tenant_id_incident_id_incident_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_incident_notices_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_incident_notices'))
    )
    with op.batch_alter_table('incident_notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incident_notices_incident_id'), ['incident_id'], unique=False)
    op.create_table('incident_notice_recipients',
    sa.Column('notice_id', sa.Uuid(), nullable=False),
    sa.Column('notification_id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'notice_id'], ['incident_notices.tenant_id', 'incident_notices.id'], name=op.f('fk_incident_notice_recipients_tenant_id_notice_id_incident_notices'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_incident_notice_recipients_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'notice_id', 'notification_id', name=op.f('pk_incident_notice_recipients'))
    )

    for table in TENANT_OWNED:
        rls.enable(table)
    for table in APPEND_ONLY:
        rls.grant(table, "SELECT, INSERT")


def downgrade():
    for table in TENANT_OWNED:
        rls.disable(table)
    op.drop_table('incident_notice_recipients')
    with op.batch_alter_table('incident_notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incident_notices_incident_id'))
    op.drop_table('incident_notices')
    with op.batch_alter_table('incident_tenants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incident_tenants_incident_id'))
    op.drop_table('incident_tenants')
    op.drop_table('incident_reminders')
    op.drop_table('incident_flags')
    with op.batch_alter_table('incident_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incident_entries_incident_id'))
    op.drop_table('incident_entries')
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incidents_reported_by_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_incidents_created_at'))
    op.drop_table('incidents')
