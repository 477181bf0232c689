"""Tamper-evident hash chain of the audit trail

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

import tenantry.platform.db
from tenantry.platform import rls

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def _backfill():
    """Chain the events written before the chain existed, in the order they were written."""
    from tenantry.platform import audit_chain

    events = sa.table(
        "audit_events", sa.column("id", sa.BigInteger), sa.column("tenant_id", sa.Uuid),
        sa.column("occurred_at", tenantry.platform.db.UTCDateTime()), sa.column("actor_type", sa.String),
        sa.column("actor_id", sa.String), sa.column("action", sa.String), sa.column("target_type", sa.String),
        sa.column("target_id", sa.String), sa.column("outcome", sa.String), sa.column("ip", sa.String),
        sa.column("user_agent", sa.String), sa.column("details", sa.JSON), sa.column("chain", sa.String),
        sa.column("seq", sa.BigInteger), sa.column("hash", sa.String),
    )
    heads = sa.table("audit_heads", sa.column("chain", sa.String), sa.column("seq", sa.BigInteger),
                     sa.column("hash", sa.String))
    bind = op.get_bind()
    state: dict[str, tuple[int, str]] = {}
    for row in bind.execute(sa.select(events).order_by(events.c.id)).mappings().all():
        chain = audit_chain.chain_of(row["tenant_id"])
        seq, prev = state.get(chain, (0, audit_chain.GENESIS))
        fields = dict(row, chain=chain, seq=seq + 1)
        digest = audit_chain.link(prev, fields)
        bind.execute(events.update().where(events.c.id == row["id"]).values(chain=chain, seq=seq + 1, hash=digest))
        state[chain] = (seq + 1, digest)
    if state:
        bind.execute(heads.insert(), [{"chain": c, "seq": s, "hash": h} for c, (s, h) in state.items()])


def upgrade():
    op.create_table('audit_heads',
    sa.Column('chain', sa.String(length=40), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('chain', name=op.f('pk_audit_heads'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('chain', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('seq', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('hash', sa.String(length=64), nullable=True))
    _backfill()
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.alter_column('chain', existing_type=sa.String(length=40), nullable=False)
        batch_op.alter_column('seq', existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column('hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_audit_events_chain_seq'), ['chain', 'seq'])
    # The head moves with every append; the events themselves are append-only for the app.
    rls.grant("audit_heads", "SELECT, INSERT, UPDATE")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{rls.APP_ROLE}') THEN "  # noqa: S608
            f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM {rls.APP_ROLE}; END IF; END $$"
        )


def downgrade():
    rls.grant("audit_events", "SELECT, INSERT, UPDATE, DELETE")
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_audit_events_chain_seq'), type_='unique')
        batch_op.drop_column('hash')
        batch_op.drop_column('seq')
        batch_op.drop_column('chain')
    op.drop_table('audit_heads')
