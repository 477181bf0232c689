"""When a CRM row last changed

changed_at on companies, contacts, deals and activities: when anything about the row last
changed (an edit, and also a retention rule's anonymising or a restriction, which leave
updated_at as it was), for the API's changed_since. Existing rows take their last edit
(updated_at; an activity, which had none, its creation or completion, whichever is later).

Revision ID: 0033
Revises: 0032
"""
import sqlalchemy as sa
from alembic import op

import tenantry.platform.db
from tenantry.platform import rls

revision = '0033'
down_revision = '0032'
branch_labels = None
depends_on = None

TABLES = ("companies", "contacts", "deals", "activities")


def upgrade():
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('changed_at', tenantry.platform.db.UTCDateTime(), nullable=True))
    rls.across_tenants()
    for table in ("companies", "contacts", "deals"):
        op.execute(f"UPDATE {table} SET changed_at = updated_at")  # noqa: S608  (fixed names)
    op.execute("UPDATE activities SET changed_at = CASE WHEN done_at IS NOT NULL AND done_at > created_at "
               "THEN done_at ELSE created_at END")
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('changed_at', existing_type=tenantry.platform.db.UTCDateTime(), nullable=False)
            batch_op.create_index(f'ix_{table}_tenant_changed', ['tenant_id', 'changed_at'], unique=False)


def downgrade():
    for table in reversed(TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f'ix_{table}_tenant_changed')
            batch_op.drop_column('changed_at')
