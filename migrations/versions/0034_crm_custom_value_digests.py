"""Blind indexes of custom-field values

crm_custom_values.digest: each value's blind index, bound to its field, so the contact list
can be filtered by a custom field without decrypting every value. Existing rows stay NULL
until the search-index sweep (crm/index_builds.py, version 5) fills them: a migration has no
keys. The (tenant_id, field_id, digest) index takes over from (tenant_id, field_id).

Revision ID: 0034
Revises: 0033
"""
import sqlalchemy as sa
from alembic import op

revision = '0034'
down_revision = '0033'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('crm_custom_values', schema=None) as batch_op:
        batch_op.add_column(sa.Column('digest', sa.String(length=64), nullable=True))
        batch_op.drop_index('ix_crm_custom_values_field')
        batch_op.create_index('ix_crm_custom_values_digest', ['tenant_id', 'field_id', 'digest'], unique=False)


def downgrade():
    with op.batch_alter_table('crm_custom_values', schema=None) as batch_op:
        batch_op.drop_index('ix_crm_custom_values_digest')
        batch_op.create_index('ix_crm_custom_values_field', ['tenant_id', 'field_id'], unique=False)
        batch_op.drop_column('digest')
