"""Audit field changes, signed checkpoints and retention

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

import tenantry.platform.db
from tenantry.platform import rls

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

# The application role has no DELETE on audit_events; these run as their owner (the schema
# owner) and each refuses anything but what it is for.
_PRUNE = """
CREATE OR REPLACE FUNCTION audit_prune(p_chain text, p_seq bigint) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_hash text;
    v_days integer;
    v_anchor bigint;
    v_removed bigint;
BEGIN
    SELECT hash INTO v_hash FROM audit_checkpoints WHERE chain = p_chain AND seq = p_seq;
    IF v_hash IS NULL THEN
        RAISE EXCEPTION 'audit_prune: no checkpoint at seq % of chain %', p_seq, p_chain;
    END IF;
    SELECT GREATEST(30, audit_retention_days) INTO v_days FROM tenants WHERE id::text = p_chain;
    IF v_days IS NULL THEN
        RAISE EXCEPTION 'audit_prune: % is not a tenant chain', p_chain;
    END IF;
    IF EXISTS (SELECT 1 FROM audit_events WHERE chain = p_chain AND seq <= p_seq
               AND occurred_at >= now() - make_interval(days => v_days)) THEN
        RAISE EXCEPTION 'audit_prune: events up to seq % of chain % are not all past retention', p_seq, p_chain;
    END IF;
    SELECT pruned_seq INTO v_anchor FROM audit_heads WHERE chain = p_chain FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'audit_prune: chain % has no head', p_chain;
    END IF;
    IF COALESCE(v_anchor, 0) >= p_seq THEN
        RETURN 0;
    END IF;
    DELETE FROM audit_events WHERE chain = p_chain AND seq <= p_seq;
    GET DIAGNOSTICS v_removed = ROW_COUNT;
    UPDATE audit_heads SET pruned_seq = p_seq, pruned_hash = v_hash WHERE chain = p_chain;
    RETURN v_removed;
END $$;
"""

_PURGE = """
CREATE OR REPLACE FUNCTION audit_purge_tenant(p_tenant uuid) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_status text;
    v_removed bigint;
BEGIN
    SELECT status INTO v_status FROM tenants WHERE id = p_tenant;
    IF v_status IS NULL OR v_status = 'active' THEN
        RAISE EXCEPTION 'audit_purge_tenant: tenant % is not cancelled or deleted', p_tenant;
    END IF;
    DELETE FROM audit_events WHERE chain = p_tenant::text;
    GET DIAGNOSTICS v_removed = ROW_COUNT;
    DELETE FROM audit_heads WHERE chain = p_tenant::text;
    RETURN v_removed;
END $$;
"""


def _pg() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _grant_execute(signature: str) -> None:
    op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
    op.execute(
        f"DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{rls.APP_ROLE}') THEN "  # noqa: S608
        f"GRANT EXECUTE ON FUNCTION {signature} TO {rls.APP_ROLE}; END IF; END $$"
    )


def upgrade():
    op.create_table('audit_checkpoints',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('chain', sa.String(length=40), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.Column('created_at', tenantry.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('key_id', sa.String(length=16), nullable=False),
    sa.Column('signature', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_checkpoints')),
    sa.UniqueConstraint('chain', 'seq', name=op.f('uq_audit_checkpoints_chain_seq'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('changes', sa.LargeBinary(), nullable=True))
    with op.batch_alter_table('audit_heads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pruned_seq', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('pruned_hash', sa.String(length=64), nullable=True))
    if _pg():
        op.add_column('tenants', sa.Column('audit_retention_days', sa.Integer(), server_default='400', nullable=False))
        op.create_check_constraint(op.f('ck_tenants_audit_retention_days'), 'tenants', 'audit_retention_days >= 30')
    else:
        # A batch (copy-and-swap) of `tenants` would cascade through every foreign key that
        # points at it; SQLite can add a column with its CHECK in place instead.
        op.execute("ALTER TABLE tenants ADD COLUMN audit_retention_days INTEGER NOT NULL DEFAULT 400 "
                   "CONSTRAINT ck_tenants_audit_retention_days CHECK (audit_retention_days >= 30)")
    # Checkpoints are append-only for the app, like the events they sign.
    rls.grant("audit_checkpoints", "SELECT, INSERT")
    rls.grant_sequences()
    if _pg():
        op.execute(_PRUNE)
        op.execute(_PURGE)
        _grant_execute("audit_prune(text, bigint)")
        _grant_execute("audit_purge_tenant(uuid)")


def downgrade():
    if _pg():
        op.execute("DROP FUNCTION IF EXISTS audit_purge_tenant(uuid)")
        op.execute("DROP FUNCTION IF EXISTS audit_prune(text, bigint)")
    if _pg():
        op.drop_constraint(op.f('ck_tenants_audit_retention_days'), 'tenants', type_='check')
    op.drop_column('tenants', 'audit_retention_days')
    with op.batch_alter_table('audit_heads', schema=None) as batch_op:
        batch_op.drop_column('pruned_hash')
        batch_op.drop_column('pruned_seq')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_column('changes')
    op.drop_table('audit_checkpoints')
