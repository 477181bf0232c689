"""PostgreSQL row-level security and grants for tenant-owned tables, used by migrations (alembic `op`).

The policy admits a row when its tenant_id is the transaction's `tenantry.tenant_id`, or
when the transaction says it works across tenants (`tenantry.all_tenants = on`). Tables are
FORCEd so that even their owner obeys the policy. The application role (tenantry_app, when
it exists) gets data privileges only: it owns nothing, so it cannot alter or disable RLS.
"""

import re

from alembic import op

APP_ROLE = "tenantry_app"

_POLICY = (
    "tenant_id = NULLIF(current_setting('tenantry.tenant_id', true), '')::uuid "
    "OR current_setting('tenantry.all_tenants', true) = 'on'"
)


_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
_PRIVS = re.compile(r"^[A-Z, ]+$")


def _ident(name: str) -> str:
    # Names come from migration code, never from input; the check keeps it that way.
    if not _IDENT.match(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return name


def _pg() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def across_tenants() -> None:
    """For a migration that changes the rows of every tenant: the tables obey the policy even
    for their owner (FORCE), so the transaction says it works across tenants (for itself only)."""
    if _pg():
        op.execute("SELECT set_config('tenantry.all_tenants', 'on', true)")


def enable(table: str) -> None:
    if not _pg():
        return
    table = _ident(table)
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY tenant_isolation ON {table} USING ({_POLICY}) WITH CHECK ({_POLICY})")


def disable(table: str) -> None:
    if not _pg():
        return
    table = _ident(table)
    op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
    op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")


def grant(table: str, privileges: str = "SELECT, INSERT, UPDATE, DELETE") -> None:
    if not _pg():
        return
    table = _ident(table)
    if not _PRIVS.match(privileges):
        raise ValueError(f"not a privilege list: {privileges!r}")
    op.execute(
        f"DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN "  # noqa: S608
        f"GRANT {privileges} ON {table} TO {APP_ROLE}; END IF; END $$"
    )


def grant_sequences() -> None:
    if not _pg():
        return
    op.execute(
        f"DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN "  # noqa: S608
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}; END IF; END $$"
    )
