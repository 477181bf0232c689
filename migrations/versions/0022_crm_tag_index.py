"""Tag digests in the CRM search index, and how far each tenant's index has been rebuilt

The contact list filters by tag through blind indexes (kind 'tag'). Contacts saved before
this revision have none; crm/index_builds.py rebuilds them per tenant, in resumable batches,
and records its progress in crm_search_index_builds.

Revision ID: 0022
Revises: 0021
"""
import sqlalchemy as sa
from alembic import op

import tenantry.platform.db
from tenantry.platform import rls

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def _kinds(kinds: str) -> None:
    with op.batch_alter_table('crm_search_index', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_crm_search_index_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_crm_search_index_kind'), sa.text(f"kind in ({kinds})"))


def upgrade():
    _kinds("'email', 'phone', 'company_id', 'name', 'tag'")
    op.create_table('crm_search_index_builds',
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('after_id', sa.Uuid(), nullable=True),
    sa.Column('updated_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_crm_search_index_builds_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', name=op.f('pk_crm_search_index_builds'))
    )
    rls.enable('crm_search_index_builds')
    rls.grant('crm_search_index_builds')


def downgrade():
    rls.disable('crm_search_index_builds')
    op.drop_table('crm_search_index_builds')
    op.execute("DELETE FROM crm_search_index WHERE kind = 'tag'")
    _kinds("'email', 'phone', 'company_id', 'name'")
