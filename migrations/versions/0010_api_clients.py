"""OAuth2 API clients and tokens

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import tenantry.platform.db  # noqa: F401
from tenantry.platform import rls  # noqa: F401

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'api_clients',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('client_id', sa.String(length=64), nullable=False),
        sa.Column('secret_hash', sa.String(length=64), nullable=False),
        sa.Column('scopes', sa.String(length=200), nullable=False),
        sa.Column('created_by_id', sa.Uuid(), nullable=True),
        sa.Column('created_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('last_used_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('tenant_id', sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_api_clients_created_by_id_users'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_api_clients_tenant_id_tenants'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_api_clients')),
        sa.UniqueConstraint('client_id', name=op.f('uq_api_clients_client_id')),
        sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_api_clients_tenant_id_id')),
    )
    op.create_table(
        'api_tokens',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('client_id', sa.Uuid(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('scope', sa.String(length=200), nullable=False),
        sa.Column('issued_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('expires_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('tenant_id', sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id', 'client_id'], ['api_clients.tenant_id', 'api_clients.id'],
                                name=op.f('fk_api_tokens_tenant_id_client_id_api_clients'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_api_tokens_tenant_id_tenants'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
        sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_api_tokens_tenant_id_id')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash')),
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index('ix_api_tokens_tenant_client', ['tenant_id', 'client_id'], unique=False)
    for table in ('api_clients', 'api_tokens'):
        rls.enable(table)
        rls.grant(table)


def downgrade():
    for table in ('api_tokens', 'api_clients'):
        rls.disable(table)
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index('ix_api_tokens_tenant_client')
        batch_op.drop_index(batch_op.f('ix_api_tokens_expires_at'))
    op.drop_table('api_tokens')
    op.drop_table('api_clients')
