"""Key versions say what still uses them; a rotation that stops says why

tenant_keys: a `decrypt-only` status for a data key version that no longer writes and that
something which cannot be re-encrypted still uses (audit events, whose ciphertext the hash
chain covers; sealed files until their retention ends), with what and how many in `in_use`
and when that was counted. `retired` now means that nothing uses the version. Versions that
earlier code retired were retired without looking at audit events and files, so they become
decrypt-only, not yet counted: the sweep's key-usage step counts them (files need the
storage, which a migration does not reach) and retires those that nothing uses.

key_rotations: a `failed` status (a value that does not decrypt stopped the job) and `error`,
the table, column and row it stopped at, or what did not answer.

A downgrade makes decrypt-only versions `retired` again, as the older code has it, and failed
rotations `running`.

Revision ID: 0036
Revises: 0035
"""
import sqlalchemy as sa
from alembic import op

import tenantry.platform.db
from tenantry.platform import rls

revision = '0036'
down_revision = '0035'
branch_labels = None
depends_on = None

KEY_STATUSES = ("active", "retiring", "decrypt-only", "retired", "destroyed")
ROTATION_STATUSES = ("running", "done", "superseded", "failed")


def _in(statuses) -> sa.TextClause:
    return sa.text("status in (" + ", ".join(f"'{s}'" for s in statuses) + ")")


def upgrade():
    rls.across_tenants()
    with op.batch_alter_table('tenant_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('in_use', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('in_use_checked_at', tenantry.platform.db.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.drop_constraint(op.f('ck_tenant_keys_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_tenant_keys_status'), _in(KEY_STATUSES))
    with op.batch_alter_table('key_rotations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('error', sa.Text(), nullable=True))
        batch_op.drop_constraint(op.f('ck_key_rotations_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_key_rotations_status'), _in(ROTATION_STATUSES))
    op.execute("UPDATE tenant_keys SET status = 'decrypt-only' WHERE status = 'retired' AND purpose = 'data'")


def downgrade():
    rls.across_tenants()
    op.execute("UPDATE tenant_keys SET status = 'retired', retired_at = COALESCE(retired_at, in_use_checked_at) "
               "WHERE status = 'decrypt-only'")
    op.execute("UPDATE key_rotations SET status = 'running' WHERE status = 'failed'")
    with op.batch_alter_table('key_rotations', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_key_rotations_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_key_rotations_status'), _in(ROTATION_STATUSES[:-1]))
        batch_op.drop_column('error')
    with op.batch_alter_table('tenant_keys', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_tenant_keys_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_tenant_keys_status'),
                                         _in(s for s in KEY_STATUSES if s != "decrypt-only"))
        batch_op.drop_column('in_use_checked_at')
        batch_op.drop_column('in_use')
