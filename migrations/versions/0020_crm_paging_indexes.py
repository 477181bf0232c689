"""Indexes for the API's keyset pages of CRM records

The API lists page by (created_at, id) within a tenant; without an index every page read and
sorted all of the tenant's rows (bench/crm.py: 75 ms a page of 50 at 20,000 contacts).

Revision ID: 0020
Revises: 0019
"""
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

TABLES = ("companies", "contacts", "deals", "activities")


def upgrade():
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(f"ix_{table}_tenant_created", ["tenant_id", "created_at", "id"], unique=False)


def downgrade():
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f"ix_{table}_tenant_created")
