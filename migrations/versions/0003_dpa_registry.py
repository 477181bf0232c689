"""Agreement versions, subprocessors, objections, audits, inspections, cooperation, records of processing

This revision holds the subprocessor registry [DPA-4.8, DPA-6.1]: the subprocessors (seeded
with the three the agreement names), their public change log, each tenant's notice of a
proposal, the messages that carried it, and the tenants' objections.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

import tenantry.platform.db
from tenantry.platform import rls

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

TENANT_OWNED = ["tenant_subprocessors", "subprocessor_notice_messages", "subprocessor_objections"]
GLOBAL = ["subprocessors"]
APPEND_ONLY = ["subprocessor_changes"]

SEEDED_AT = "2026-01-01T00:00:00+00:00"
SEED = [
    {
        "id": "00000000-0000-4000-8000-00000000a001",
        "legal_name": "Amazon Web Services (Amazon Web Services EMEA SARL)",
        "address": "38 Avenue John F. Kennedy, L-1855 Luxembourg",
        "contact": "aws-EU-privacy@amazon.com",
        "purpose": "Hosting, storage and backups of the service",
        "data_categories": "All customer data, encrypted with per-tenant keys",
        "processing_location": "EU (Frankfurt, Germany: eu-central-1)",
        "processing_in_eea": True,
        "corporate_location": "USA (Amazon.com, Inc., Seattle, Washington)",
        "corporate_in_eea": False,
        "transfer_mechanism": "dpf",
        "transfer_details": "EU-US Data Privacy Framework; the AWS Data Processing Addendum's standard "
                            "contractual clauses apply in addition",
        "feature": "hosting",
    },
    {
        "id": "00000000-0000-4000-8000-00000000a002",
        "legal_name": "Digital Solutions s.r.o. (DigiSign)",
        "address": "Czech Republic (registered seat as entered in the Czech commercial register)",
        "contact": "https://www.digisign.cz",
        "purpose": "Electronic signatures of documents",
        "data_categories": "Signers' names, e-mail addresses and the documents to be signed",
        "processing_location": "Czech Republic",
        "processing_in_eea": True,
        "corporate_location": "Czech Republic",
        "corporate_in_eea": True,
        "transfer_mechanism": "eea",
        "transfer_details": "",
        "feature": "e-signatures",
    },
    {
        "id": "00000000-0000-4000-8000-00000000a003",
        "legal_name": "Microsoft Azure OpenAI Service (Microsoft Ireland Operations Limited)",
        "address": "One Microsoft Place, South County Business Park, Leopardstown, Dublin 18, D18 P521, Ireland",
        "contact": "https://aka.ms/privacyresponse",
        "purpose": "AI assistance: drafting and summarising on a user's request",
        "data_categories": "The text a user submits to the assistant and the records it refers to",
        "processing_location": "EU (Sweden Central, EU Data Boundary)",
        "processing_in_eea": True,
        "corporate_location": "USA (Microsoft Corporation, Redmond, Washington)",
        "corporate_in_eea": False,
        "transfer_mechanism": "sccs",
        "transfer_details": "Standard contractual clauses in the Microsoft Products and Services DPA; "
                            "Microsoft is also certified under the EU-US Data Privacy Framework",
        "feature": "ai-assistant",
    },
]


def _seed():
    """The three subprocessors the agreement names, engaged from the start, each with its log entry."""
    import uuid
    from datetime import datetime

    at = datetime.fromisoformat(SEEDED_AT)
    subs = sa.table(
        "subprocessors", *(sa.column(k) for k in SEED[0] if k not in {"id"}), sa.column("id", sa.Uuid()),
        sa.column("status"), sa.column("objection_window_days"),
        *(sa.column(k, tenantry.platform.db.UTCDateTime()) for k in ("proposed_at", "effective_at", "activated_at",
                                                                       "updated_at")),
    )
    changes = sa.table("subprocessor_changes", sa.column("subprocessor_id", sa.Uuid()),
                       sa.column("occurred_at", tenantry.platform.db.UTCDateTime()), sa.column("action"),
                       sa.column("state", sa.JSON()))
    for entry in SEED:
        row = {**entry, "id": uuid.UUID(entry["id"]), "status": "active", "objection_window_days": 5,
               "proposed_at": at, "effective_at": at, "activated_at": at, "updated_at": at}
        op.bulk_insert(subs, [row])
        state = {**entry, "status": "active", "objection_window_days": 5, "proposed_at": SEEDED_AT,
                 "effective_at": SEEDED_AT, "activated_at": SEEDED_AT, "retired_at": None, "withdrawn_at": None}
        op.bulk_insert(changes, [{"subprocessor_id": row["id"], "occurred_at": at, "action": "listed",
                                  "state": state}])


def upgrade():
    op.create_table('subprocessors',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('legal_name', sa.String(length=200), nullable=False),
    sa.Column('address', sa.String(length=400), nullable=False),
    sa.Column('contact', sa.String(length=254), nullable=False),
    sa.Column('purpose', sa.String(length=400), nullable=False),
    sa.Column('data_categories', sa.String(length=400), nullable=False),
    sa.Column('processing_location', sa.String(length=200), nullable=False),
    sa.Column('processing_in_eea', sa.Boolean(), nullable=False),
    sa.Column('corporate_location', sa.String(length=200), nullable=False),
    sa.Column('corporate_in_eea', sa.Boolean(), nullable=False),
    sa.Column('transfer_mechanism', sa.String(length=10), nullable=False),
    sa.Column('transfer_details', sa.String(length=400), nullable=False),
    sa.Column('feature', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('objection_window_days', sa.Integer(), nullable=False),
    sa.Column('proposed_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('effective_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('activated_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('retired_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('withdrawn_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(processing_in_eea AND corporate_in_eea) OR transfer_mechanism <> 'eea'", name=op.f('ck_subprocessors_transfer_outside_eea')),
    sa.CheckConstraint("status in ('proposed', 'active', 'retired')", name=op.f('ck_subprocessors_status')),
    sa.CheckConstraint("transfer_mechanism in ('eea', 'adequacy', 'sccs', 'dpf')", name=op.f('ck_subprocessors_transfer_mechanism')),
    sa.CheckConstraint('objection_window_days BETWEEN 1 AND 90', name=op.f('ck_subprocessors_objection_window_days')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subprocessors'))
    )
    with op.batch_alter_table('subprocessors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subprocessors_feature'), ['feature'], unique=False)

    op.create_table('subprocessor_changes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('subprocessor_id', sa.Uuid(), nullable=False),
    sa.Column('occurred_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('state', sa.JSON(), nullable=False),
    sa.Column('staff_id', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_users.id'], name=op.f('fk_subprocessor_changes_staff_id_staff_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['subprocessor_id'], ['subprocessors.id'], name=op.f('fk_subprocessor_changes_subprocessor_id_subprocessors')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subprocessor_changes'))
    )
    with op.batch_alter_table('subprocessor_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subprocessor_changes_occurred_at'), ['occurred_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_subprocessor_changes_subprocessor_id'), ['subprocessor_id'], unique=False)

    op.create_table('tenant_subprocessors',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('subprocessor_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('notified_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('window_days', sa.Integer(), nullable=False),
    sa.Column('delivered_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('objection_deadline', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('active_since', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("status in ('notified', 'objected', 'active', 'exempted', 'cancelling', 'withdrawn')", name=op.f('ck_tenant_subprocessors_status')),
    sa.ForeignKeyConstraint(['subprocessor_id'], ['subprocessors.id'], name=op.f('fk_tenant_subprocessors_subprocessor_id_subprocessors')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_tenant_subprocessors_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tenant_subprocessors')),
    sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_tenant_subprocessors_tenant_id_id')),
    sa.UniqueConstraint('tenant_id', 'subprocessor_id', name=op.f('uq_tenant_subprocessors_tenant_id_subprocessor_id'))
    )
    with op.batch_alter_table('tenant_subprocessors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tenant_subprocessors_subprocessor_id'), ['subprocessor_id'], unique=False)

    op.create_table('subprocessor_notice_messages',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_subprocessor_id', sa.Uuid(), nullable=False),
    sa.Column('notification_id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'tenant_subprocessor_id'], ['tenant_subprocessors.tenant_id', 'tenant_subprocessors.id'], name=op.f('fk_subprocessor_notice_messages_tenant_id_tenant_subprocessor_id_tenant_subprocessors'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_subprocessor_notice_messages_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subprocessor_notice_messages')),
    sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_subprocessor_notice_messages_tenant_id_id'))
    )
    with op.batch_alter_table('subprocessor_notice_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subprocessor_notice_messages_notification_id'), ['notification_id'], unique=False)

    op.create_table('subprocessor_objections',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_subprocessor_id', sa.Uuid(), nullable=False),
    sa.Column('subprocessor_id', sa.Uuid(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('objected_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('objected_by_user_id', sa.Uuid(), nullable=True),
    sa.Column('resolution', sa.String(length=16), nullable=True),
    sa.Column('resolution_note', sa.Text(), nullable=True),
    sa.Column('resolved_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_by_staff_id', sa.Uuid(), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("resolution IS NULL OR resolution in ('withdrawn', 'exempted', 'tenant_cancels')", name=op.f('ck_subprocessor_objections_resolution')),
    sa.ForeignKeyConstraint(['objected_by_user_id'], ['users.id'], name=op.f('fk_subprocessor_objections_objected_by_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['resolved_by_staff_id'], ['staff_users.id'], name=op.f('fk_subprocessor_objections_resolved_by_staff_id_staff_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['subprocessor_id'], ['subprocessors.id'], name=op.f('fk_subprocessor_objections_subprocessor_id_subprocessors')),
    sa.ForeignKeyConstraint(['tenant_id', 'tenant_subprocessor_id'], ['tenant_subprocessors.tenant_id', 'tenant_subprocessors.id'], name=op.f('fk_subprocessor_objections_tenant_id_tenant_subprocessor_id_tenant_subprocessors'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_subprocessor_objections_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subprocessor_objections')),
    sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_subprocessor_objections_tenant_id_id')),
    sa.UniqueConstraint('tenant_id', 'tenant_subprocessor_id', name=op.f('uq_subprocessor_objections_tenant_id_tenant_subprocessor_id'))
    )
    with op.batch_alter_table('subprocessor_objections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subprocessor_objections_subprocessor_id'), ['subprocessor_id'], unique=False)
    for table in TENANT_OWNED:
        rls.enable(table)
    for table in TENANT_OWNED + GLOBAL:
        rls.grant(table)
    for table in APPEND_ONLY:
        rls.grant(table, "SELECT, INSERT")
    rls.grant_sequences()
    _seed()


def downgrade():
    for table in TENANT_OWNED:
        rls.disable(table)
    with op.batch_alter_table('subprocessor_objections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subprocessor_objections_subprocessor_id'))

    op.drop_table('subprocessor_objections')
    with op.batch_alter_table('subprocessor_notice_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subprocessor_notice_messages_notification_id'))

    op.drop_table('subprocessor_notice_messages')
    with op.batch_alter_table('tenant_subprocessors', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tenant_subprocessors_subprocessor_id'))

    op.drop_table('tenant_subprocessors')
    with op.batch_alter_table('subprocessor_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subprocessor_changes_subprocessor_id'))
        batch_op.drop_index(batch_op.f('ix_subprocessor_changes_occurred_at'))

    op.drop_table('subprocessor_changes')
    with op.batch_alter_table('subprocessors', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subprocessors_feature'))

    op.drop_table('subprocessors')
