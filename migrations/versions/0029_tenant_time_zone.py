"""A workspace's time zone

Tenants get `time_zone`, an IANA zone its admins chose (a Californian workspace in a country
whose first zone is New York's). None, as for every existing tenant: the zone of its country,
as before.

Revision ID: 0029
Revises: 0028
"""
import sqlalchemy as sa
from alembic import op

revision = '0029'
down_revision = '0028'
branch_labels = None
depends_on = None


# In place, not as a batch: a copy-and-swap of `tenants` on SQLite would cascade through every
# foreign key that points at it (as in 0012).
def upgrade():
    op.add_column('tenants', sa.Column('time_zone', sa.String(length=64), nullable=True))


def downgrade():
    op.drop_column('tenants', 'time_zone')
