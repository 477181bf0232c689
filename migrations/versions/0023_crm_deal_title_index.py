"""Deal titles in the CRM search index

Deals are searched by any word of their title through blind indexes (entity 'deal', kind
'name'), like contacts' names. Deals saved before this revision have no digests yet;
crm/index_builds.py adds them per tenant (index version 3), in resumable batches.

Revision ID: 0023
Revises: 0022
"""
import sqlalchemy as sa
from alembic import op

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def _entities(entities: str) -> None:
    with op.batch_alter_table('crm_search_index', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_crm_search_index_entity'), type_='check')
        batch_op.create_check_constraint(op.f('ck_crm_search_index_entity'), sa.text(f"entity in ({entities})"))


def upgrade():
    _entities("'company', 'contact', 'deal'")


def downgrade():
    op.execute("DELETE FROM crm_search_index WHERE entity = 'deal'")
    op.execute("UPDATE crm_search_index_builds SET version = 2, after_id = NULL WHERE version > 2")
    _entities("'company', 'contact'")
