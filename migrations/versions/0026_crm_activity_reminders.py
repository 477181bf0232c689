"""Morning reminders of the activities due

A member is e-mailed, once a day, how many of the activities assigned to them are due today
or overdue (crm/reminders.py). crm_activity_reminders keeps, per member of a workspace,
whether they want it and the day it was last sent. No row means the default: wanted, never
sent. crm_reminder_runs keeps the day each workspace's reminders went, so the sweep (every
minute) looks at a workspace's activities once a day.

Revision ID: 0026
Revises: 0025
"""
import sqlalchemy as sa
from alembic import op

import tenantry.platform.db
from tenantry.platform import rls

revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('crm_activity_reminders',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('last_sent_on', sa.Date(), nullable=True),
    sa.Column('updated_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_crm_activity_reminders_tenant_id_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_crm_activity_reminders_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'user_id', name=op.f('pk_crm_activity_reminders'))
    )
    rls.enable('crm_activity_reminders')
    rls.grant('crm_activity_reminders')
    op.create_table('crm_reminder_runs',
    sa.Column('last_sent_on', sa.Date(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_crm_reminder_runs_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', name=op.f('pk_crm_reminder_runs'))
    )
    rls.enable('crm_reminder_runs')
    rls.grant('crm_reminder_runs')


def downgrade():
    rls.disable('crm_reminder_runs')
    op.drop_table('crm_reminder_runs')
    rls.disable('crm_activity_reminders')
    op.drop_table('crm_activity_reminders')
