"""Special-category custom values lose their blind indexes

A digest shows which contacts share a value; for a special category of personal data (GDPR
art. 9) that grouping is itself sensitive, so such values are now filtered by decrypting them
(crm/custom_fields.py). Digests written for them since 0034 are dropped. A downgrade sends
the tenants that have such fields back to index version 4: 0034's code then decrypts their
custom values until the sweep has given every one its digest again.

Revision ID: 0035
Revises: 0034
"""
from alembic import op

from tenantry.platform import rls

revision = '0035'
down_revision = '0034'
branch_labels = None
depends_on = None


def upgrade():
    rls.across_tenants()
    op.execute("UPDATE crm_custom_values SET digest = NULL WHERE digest IS NOT NULL AND field_id IN "
               "(SELECT id FROM crm_custom_fields WHERE special_category)")


def downgrade():
    rls.across_tenants()
    op.execute("UPDATE crm_search_index_builds SET version = 4 WHERE version >= 5 AND tenant_id IN "
               "(SELECT tenant_id FROM crm_custom_fields WHERE special_category)")
