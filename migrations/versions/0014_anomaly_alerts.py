"""Anomaly rules and alerts

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

import tenantry.platform.db
from tenantry.platform import rls

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

TENANT_OWNED = ["anomaly_settings", "anomaly_alerts", "api_usage_hours"]
PLATFORM = ["staff_security_alerts", "login_ips"]
UTC = tenantry.platform.db.UTCDateTime(timezone=True)


def upgrade():
    op.create_table('anomaly_settings',
    sa.Column('mass_read_enabled', sa.Boolean(), nullable=False),
    sa.Column('mass_read_threshold', sa.Integer(), nullable=False),
    sa.Column('export_enabled', sa.Boolean(), nullable=False),
    sa.Column('new_ip_enabled', sa.Boolean(), nullable=False),
    sa.Column('failed_logins_enabled', sa.Boolean(), nullable=False),
    sa.Column('failed_logins_threshold', sa.Integer(), nullable=False),
    sa.Column('api_volume_enabled', sa.Boolean(), nullable=False),
    sa.Column('api_volume_multiplier', sa.Integer(), nullable=False),
    sa.Column('api_volume_min_baseline', sa.Integer(), nullable=False),
    sa.Column('updated_at', UTC, nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint('mass_read_threshold >= 1', name=op.f('ck_anomaly_settings_mass_read_threshold')),
    sa.CheckConstraint('failed_logins_threshold >= 2', name=op.f('ck_anomaly_settings_failed_logins_threshold')),
    sa.CheckConstraint('api_volume_multiplier >= 2', name=op.f('ck_anomaly_settings_api_volume_multiplier')),
    sa.CheckConstraint('api_volume_min_baseline >= 1', name=op.f('ck_anomaly_settings_api_volume_min_baseline')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_anomaly_settings_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', name=op.f('pk_anomaly_settings'))
    )
    op.create_table('anomaly_alerts',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('rule', sa.String(length=16), nullable=False),
    sa.Column('subject_type', sa.String(length=12), nullable=False),
    sa.Column('subject_id', sa.String(length=64), nullable=False),
    sa.Column('first_seen_at', UTC, nullable=False),
    sa.Column('last_seen_at', UTC, nullable=False),
    sa.Column('observed', sa.Integer(), nullable=False),
    sa.Column('threshold', sa.Integer(), nullable=False),
    sa.Column('events', sa.Integer(), nullable=False),
    sa.Column('details', sa.JSON(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_at', UTC, nullable=False),
    sa.Column('resolved_at', UTC, nullable=True),
    sa.Column('resolved_by_user_id', sa.Uuid(), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("rule in ('mass_read', 'export', 'new_ip', 'failed_logins', 'api_volume')", name=op.f('ck_anomaly_alerts_rule')),
    sa.CheckConstraint("status in ('open', 'resolved')", name=op.f('ck_anomaly_alerts_status')),
    sa.ForeignKeyConstraint(['resolved_by_user_id'], ['users.id'], name=op.f('fk_anomaly_alerts_resolved_by_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_anomaly_alerts_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_anomaly_alerts')),
    sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_anomaly_alerts_tenant_id_id'))
    )
    with op.batch_alter_table('anomaly_alerts', schema=None) as batch_op:
        batch_op.create_index('ix_anomaly_alerts_burst', ['tenant_id', 'rule', 'subject_id', 'last_seen_at'], unique=False)
        batch_op.create_index('ix_anomaly_alerts_status', ['status', 'created_at'], unique=False)

    op.create_table('api_usage_hours',
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('hour_start', UTC, nullable=False),
    sa.Column('requests', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_api_usage_hours_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'client_id', 'hour_start', name=op.f('pk_api_usage_hours'))
    )
    op.create_table('staff_security_alerts',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('rule', sa.String(length=16), nullable=False),
    sa.Column('staff_id', sa.Uuid(), nullable=False),
    sa.Column('first_seen_at', UTC, nullable=False),
    sa.Column('last_seen_at', UTC, nullable=False),
    sa.Column('observed', sa.Integer(), nullable=False),
    sa.Column('threshold', sa.Integer(), nullable=False),
    sa.Column('events', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_at', UTC, nullable=False),
    sa.Column('resolved_at', UTC, nullable=True),
    sa.Column('resolved_by_staff_id', sa.Uuid(), nullable=True),
    sa.CheckConstraint("rule in ('new_ip', 'failed_logins')", name=op.f('ck_staff_security_alerts_rule')),
    sa.CheckConstraint("status in ('open', 'resolved')", name=op.f('ck_staff_security_alerts_status')),
    sa.ForeignKeyConstraint(['resolved_by_staff_id'], ['staff_users.id'], name=op.f('fk_staff_security_alerts_resolved_by_staff_id_staff_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_users.id'], name=op.f('fk_staff_security_alerts_staff_id_staff_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_security_alerts'))
    )
    with op.batch_alter_table('staff_security_alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_security_alerts_staff_id'), ['staff_id'], unique=False)

    op.create_table('login_ips',
    sa.Column('principal_type', sa.String(length=8), nullable=False),
    sa.Column('principal_id', sa.Uuid(), nullable=False),
    sa.Column('ip', sa.String(length=45), nullable=False),
    sa.Column('first_seen_at', UTC, nullable=False),
    sa.Column('last_seen_at', UTC, nullable=False),
    sa.CheckConstraint("principal_type in ('user', 'staff')", name=op.f('ck_login_ips_principal_type')),
    sa.PrimaryKeyConstraint('principal_type', 'principal_id', 'ip', name=op.f('pk_login_ips'))
    )
    for table in TENANT_OWNED:
        rls.enable(table)
    for table in TENANT_OWNED + PLATFORM:
        rls.grant(table)


def downgrade():
    for table in TENANT_OWNED:
        rls.disable(table)
    op.drop_table('login_ips')
    with op.batch_alter_table('staff_security_alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_security_alerts_staff_id'))
    op.drop_table('staff_security_alerts')
    op.drop_table('api_usage_hours')
    with op.batch_alter_table('anomaly_alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_anomaly_alerts_status')
        batch_op.drop_index('ix_anomaly_alerts_burst')
    op.drop_table('anomaly_alerts')
    op.drop_table('anomaly_settings')
