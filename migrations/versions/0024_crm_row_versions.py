"""A version number on each CRM row, for edits based on an older copy

Companies, contacts, deals and activities get `version`, raised by every write. A form (and
an API PATCH or DELETE with If-Match) says which version it was based on; a write based on an
older one is refused instead of overwriting what someone saved meanwhile. Existing rows start
at 1.

Revision ID: 0024
Revises: 0023
"""
import sqlalchemy as sa
from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None

TABLES = ('companies', 'contacts', 'deals', 'activities')


def upgrade():
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))


def downgrade():
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('version')
