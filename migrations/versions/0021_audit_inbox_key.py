"""Delivery keys of audit events that came through the Redis inbox

An API read's event is pushed to Redis and written into the chain later, in a batch
(platform/audit_inbox.py). A drainer that dies between its commit and trimming the list leaves
those items for the next one; the key, unique where set, makes the second write a no-op.

Revision ID: 0021
Revises: 0020
"""
import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("inbox_key", sa.String(length=32), nullable=True))
        batch_op.create_index("ux_audit_events_inbox_key", ["inbox_key"], unique=True,
                              postgresql_where=sa.text("inbox_key IS NOT NULL"),
                              sqlite_where=sa.text("inbox_key IS NOT NULL"))


def downgrade():
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ux_audit_events_inbox_key")
        batch_op.drop_column("inbox_key")
