"""Data subject requests and retention rules

Data subject requests (their history and the recipients to inform), and the restriction and
objection marks on contacts. The retention rules follow in 0019.

Revision ID: 0018
Revises: 0017
"""
import sqlalchemy as sa
from alembic import op

import tenantry.platform.db
from tenantry.platform import rls

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('subject_requests',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('contact_id', sa.Uuid(), nullable=True),
    sa.Column('subject_name', sa.LargeBinary(), nullable=True),
    sa.Column('subject_email', sa.LargeBinary(), nullable=True),
    sa.Column('subject_phone', sa.LargeBinary(), nullable=True),
    sa.Column('details', sa.LargeBinary(), nullable=True),
    sa.Column('received_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('due_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('extended_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('extended_by_id', sa.Uuid(), nullable=True),
    sa.Column('extension_reason', sa.LargeBinary(), nullable=True),
    sa.Column('opened_by_id', sa.Uuid(), nullable=True),
    sa.Column('action_done_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_by_id', sa.Uuid(), nullable=True),
    sa.Column('response', sa.LargeBinary(), nullable=True),
    sa.Column('reminded_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('overdue_notified_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("kind in ('access', 'portability', 'rectification', 'erasure', 'restriction', 'objection')", name=op.f('ck_subject_requests_kind')),
    sa.CheckConstraint("status in ('open', 'closed')", name=op.f('ck_subject_requests_status')),
    sa.CheckConstraint('due_at > received_at', name=op.f('ck_subject_requests_due_after_received')),
    sa.ForeignKeyConstraint(['closed_by_id'], ['users.id'], name=op.f('fk_subject_requests_closed_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['extended_by_id'], ['users.id'], name=op.f('fk_subject_requests_extended_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['opened_by_id'], ['users.id'], name=op.f('fk_subject_requests_opened_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_subject_requests_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subject_requests')),
    sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_subject_requests_tenant_id_id'))
    )
    with op.batch_alter_table('subject_requests', schema=None) as batch_op:
        batch_op.create_index('ix_subject_requests_tenant_status_due', ['tenant_id', 'status', 'due_at'], unique=False)

    op.create_table('subject_request_events',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('request_id', sa.Uuid(), nullable=False),
    sa.Column('occurred_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Uuid(), nullable=True),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('details', sa.JSON(), nullable=True),
    sa.Column('note', sa.LargeBinary(), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_subject_request_events_actor_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id', 'request_id'], ['subject_requests.tenant_id', 'subject_requests.id'], name=op.f('fk_subject_request_events_tenant_id_request_id_subject_requests'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_subject_request_events_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subject_request_events')),
    sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_subject_request_events_tenant_id_id'))
    )
    with op.batch_alter_table('subject_request_events', schema=None) as batch_op:
        batch_op.create_index('ix_subject_request_events_tenant_request', ['tenant_id', 'request_id'], unique=False)

    op.create_table('subject_request_recipients',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('request_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('ref_id', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('listed_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('told_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('told_by_id', sa.Uuid(), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("kind in ('api_client', 'subprocessor', 'member')", name=op.f('ck_subject_request_recipients_kind')),
    sa.ForeignKeyConstraint(['tenant_id', 'request_id'], ['subject_requests.tenant_id', 'subject_requests.id'], name=op.f('fk_subject_request_recipients_tenant_id_request_id_subject_requests'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_subject_request_recipients_tenant_id_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['told_by_id'], ['users.id'], name=op.f('fk_subject_request_recipients_told_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subject_request_recipients')),
    sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_subject_request_recipients_tenant_id_id')),
    sa.UniqueConstraint('tenant_id', 'request_id', 'kind', 'ref_id', name=op.f('uq_subject_request_recipients_tenant_id_request_id_kind_ref_id'))
    )
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('restricted_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('objected_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True))
    rls.enable("subject_requests")
    rls.grant("subject_requests")
    rls.enable("subject_request_events")
    rls.grant("subject_request_events")
    rls.enable("subject_request_recipients")
    rls.grant("subject_request_recipients")


def downgrade():
    rls.disable("subject_request_recipients")
    rls.disable("subject_request_events")
    rls.disable("subject_requests")
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_column('objected_at')
        batch_op.drop_column('restricted_at')

    op.drop_table('subject_request_recipients')
    with op.batch_alter_table('subject_request_events', schema=None) as batch_op:
        batch_op.drop_index('ix_subject_request_events_tenant_request')

    op.drop_table('subject_request_events')
    with op.batch_alter_table('subject_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_subject_requests_tenant_status_due')

    op.drop_table('subject_requests')
