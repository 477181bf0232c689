"""Audits, inspections, cooperation requests and records of processing

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

import tenantry.platform.db
from tenantry.platform import rls

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

TENANT_OWNED = [
    "duty_audits", "duty_auditor_nominations", "duty_audit_documents", "duty_inspection_tenants",
    "duty_cooperation_requests", "duty_processing_activities", "duty_record_snapshots",
]
# Inspections concern several tenants at once and are the platform's rows; what each tenant
# sees of them goes through duty_inspection_tenants, which is tenant-owned.
PLATFORM_OWNED = ["duty_inspections", "duty_inspection_events", "duty_notices"]


def upgrade():
    op.create_table('duty_audits',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('ref', sa.String(length=20), nullable=False),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('proposed_date', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('requested_by_user_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("status in ('awaiting-decision', 'accepted', 'auditor-objected', 'withdrawn')", name=op.f('ck_duty_audits_status')),
    sa.ForeignKeyConstraint(['requested_by_user_id'], ['users.id'], name=op.f('fk_duty_audits_requested_by_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_duty_audits_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_duty_audits')),
    sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_duty_audits_tenant_id_id')),
    sa.UniqueConstraint('tenant_id', 'ref', name=op.f('uq_duty_audits_tenant_id_ref'))
    )
    op.create_table('duty_cooperation_requests',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('ref', sa.String(length=20), nullable=False),
    sa.Column('direction', sa.String(length=16), nullable=False),
    sa.Column('topic', sa.String(length=10), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('details', sa.Text(), nullable=False),
    sa.Column('opened_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('opened_by_user_id', sa.Uuid(), nullable=True),
    sa.Column('opened_by_staff_id', sa.Uuid(), nullable=True),
    sa.Column('remind_first_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('remind_second_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('due_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reminded_first_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reminded_second_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('overdue_flagged_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('answered_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('answer', sa.Text(), nullable=True),
    sa.Column('answered_by_user_id', sa.Uuid(), nullable=True),
    sa.Column('answered_by_staff_id', sa.Uuid(), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("direction in ('to-processor', 'to-controller')", name=op.f('ck_duty_cooperation_requests_direction')),
    sa.CheckConstraint("topic in ('dsr', 'incident', 'dpia', 'authority')", name=op.f('ck_duty_cooperation_requests_topic')),
    sa.ForeignKeyConstraint(['answered_by_staff_id'], ['staff_users.id'], name=op.f('fk_duty_cooperation_requests_answered_by_staff_id_staff_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['answered_by_user_id'], ['users.id'], name=op.f('fk_duty_cooperation_requests_answered_by_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['opened_by_staff_id'], ['staff_users.id'], name=op.f('fk_duty_cooperation_requests_opened_by_staff_id_staff_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['opened_by_user_id'], ['users.id'], name=op.f('fk_duty_cooperation_requests_opened_by_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_duty_cooperation_requests_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_duty_cooperation_requests')),
    sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_duty_cooperation_requests_tenant_id_id')),
    sa.UniqueConstraint('tenant_id', 'ref', name=op.f('uq_duty_cooperation_requests_tenant_id_ref'))
    )
    with op.batch_alter_table('duty_cooperation_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_duty_cooperation_requests_due_at'), ['due_at'], unique=False)
    op.create_table('duty_inspections',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('ref', sa.String(length=20), nullable=False),
    sa.Column('authority', sa.String(length=200), nullable=False),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('affects_all', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('result', sa.Text(), nullable=True),
    sa.Column('opened_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('recorded_by_staff_id', sa.Uuid(), nullable=True),
    sa.CheckConstraint("status in ('open', 'closed')", name=op.f('ck_duty_inspections_status')),
    sa.ForeignKeyConstraint(['recorded_by_staff_id'], ['staff_users.id'], name=op.f('fk_duty_inspections_recorded_by_staff_id_staff_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_duty_inspections')),
    sa.UniqueConstraint('ref', name=op.f('uq_duty_inspections_ref'))
    )
    op.create_table('duty_processing_activities',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('legal_basis', sa.String(length=24), nullable=False),
    sa.Column('data_categories', sa.Text(), nullable=False),
    sa.Column('subject_categories', sa.Text(), nullable=False),
    sa.Column('recipients', sa.Text(), nullable=False),
    sa.Column('retention', sa.String(length=500), nullable=False),
    sa.Column('created_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("legal_basis in ('consent', 'contract', 'legal-obligation', 'vital-interests', 'public-task', 'legitimate-interests')", name=op.f('ck_duty_processing_activities_legal_basis')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_duty_processing_activities_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_duty_processing_activities')),
    sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_duty_processing_activities_tenant_id_id'))
    )
    op.create_table('duty_record_snapshots',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('generated_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('trigger', sa.String(length=10), nullable=False),
    sa.Column('content', sa.JSON(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_duty_record_snapshots_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_duty_record_snapshots')),
    sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_duty_record_snapshots_tenant_id_id'))
    )
    with op.batch_alter_table('duty_record_snapshots', schema=None) as batch_op:
        batch_op.create_index('ix_duty_record_snapshots_tenant_generated', ['tenant_id', 'generated_at'], unique=False)
    op.create_table('duty_audit_documents',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('audit_id', sa.Uuid(), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('storage_key', sa.String(length=300), nullable=False),
    sa.Column('content_key', sa.LargeBinary(), nullable=False),
    sa.Column('uploaded_by_staff_id', sa.Uuid(), nullable=True),
    sa.Column('uploaded_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'audit_id'], ['duty_audits.tenant_id', 'duty_audits.id'], name=op.f('fk_duty_audit_documents_tenant_id_audit_id_duty_audits'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_duty_audit_documents_tenant_id_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['uploaded_by_staff_id'], ['staff_users.id'], name=op.f('fk_duty_audit_documents_uploaded_by_staff_id_staff_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_duty_audit_documents')),
    sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_duty_audit_documents_tenant_id_id'))
    )
    op.create_table('duty_auditor_nominations',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('audit_id', sa.Uuid(), nullable=False),
    sa.Column('auditor_name', sa.String(length=200), nullable=False),
    sa.Column('auditor_organisation', sa.String(length=200), nullable=False),
    sa.Column('independence_statement', sa.Text(), nullable=False),
    sa.Column('nominated_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('objection_window_ends_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decision', sa.String(length=10), nullable=False),
    sa.Column('decided_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_by_staff_id', sa.Uuid(), nullable=True),
    sa.Column('objection_reason', sa.String(length=20), nullable=True),
    sa.Column('objection_note', sa.Text(), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("decision in ('pending', 'accepted', 'objected')", name=op.f('ck_duty_auditor_nominations_decision')),
    sa.CheckConstraint("objection_reason is null or objection_reason in ('not-independent', 'competitor')", name=op.f('ck_duty_auditor_nominations_objection_reason')),
    sa.ForeignKeyConstraint(['decided_by_staff_id'], ['staff_users.id'], name=op.f('fk_duty_auditor_nominations_decided_by_staff_id_staff_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id', 'audit_id'], ['duty_audits.tenant_id', 'duty_audits.id'], name=op.f('fk_duty_auditor_nominations_tenant_id_audit_id_duty_audits'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_duty_auditor_nominations_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_duty_auditor_nominations')),
    sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_duty_auditor_nominations_tenant_id_id'))
    )
    op.create_table('duty_inspection_events',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('inspection_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('staff_id', sa.Uuid(), nullable=True),
    sa.CheckConstraint("kind in ('opened', 'update', 'result')", name=op.f('ck_duty_inspection_events_kind')),
    sa.ForeignKeyConstraint(['inspection_id'], ['duty_inspections.id'], name=op.f('fk_duty_inspection_events_inspection_id_duty_inspections'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_users.id'], name=op.f('fk_duty_inspection_events_staff_id_staff_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_duty_inspection_events'))
    )
    with op.batch_alter_table('duty_inspection_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_duty_inspection_events_inspection_id'), ['inspection_id'], unique=False)
    op.create_table('duty_inspection_tenants',
    sa.Column('inspection_id', sa.Uuid(), nullable=False),
    sa.Column('told_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['inspection_id'], ['duty_inspections.id'], name=op.f('fk_duty_inspection_tenants_inspection_id_duty_inspections'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_duty_inspection_tenants_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'inspection_id', name=op.f('pk_duty_inspection_tenants'))
    )
    op.create_table('duty_notices',
    sa.Column('notification_id', sa.Uuid(), nullable=False),
    sa.Column('subject_type', sa.String(length=20), nullable=False),
    sa.Column('subject_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['notification_id'], ['notifications.id'], name=op.f('fk_duty_notices_notification_id_notifications'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('notification_id', name=op.f('pk_duty_notices'))
    )
    with op.batch_alter_table('duty_notices', schema=None) as batch_op:
        batch_op.create_index('ix_duty_notices_subject', ['subject_type', 'subject_id'], unique=False)
    for table in TENANT_OWNED:
        rls.enable(table)
    for table in TENANT_OWNED + PLATFORM_OWNED:
        rls.grant(table)


def downgrade():
    for table in TENANT_OWNED:
        rls.disable(table)
    with op.batch_alter_table('duty_notices', schema=None) as batch_op:
        batch_op.drop_index('ix_duty_notices_subject')
    op.drop_table('duty_notices')
    op.drop_table('duty_inspection_tenants')
    with op.batch_alter_table('duty_inspection_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_duty_inspection_events_inspection_id'))
    op.drop_table('duty_inspection_events')
    op.drop_table('duty_auditor_nominations')
    op.drop_table('duty_audit_documents')
    with op.batch_alter_table('duty_record_snapshots', schema=None) as batch_op:
        batch_op.drop_index('ix_duty_record_snapshots_tenant_generated')
    op.drop_table('duty_record_snapshots')
    op.drop_table('duty_processing_activities')
    op.drop_table('duty_inspections')
    with op.batch_alter_table('duty_cooperation_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_duty_cooperation_requests_due_at'))
    op.drop_table('duty_cooperation_requests')
    op.drop_table('duty_audits')
