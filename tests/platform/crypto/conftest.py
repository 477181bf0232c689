"""Fixtures for the key tests: two tenants and a real table of encrypted values.

The CRM tables that will hold encrypted columns do not exist yet, so the rotation and
raw-storage tests use a table of their own, created in the test's database (by the schema
owner on PostgreSQL, granted to the application role like a migrated table), registered with
the rotation registry exactly as a CRM module will register its columns, and dropped after.
It lives in its own MetaData, so the models-versus-migrations check never sees it.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tenantry.platform.crypto import fields, rotation
from tenantry.platform.db import db
from tenantry.platform.tenancy import tenant_context
from tests.factories import make_tenant

NOTES = "test_crypto_notes"


@pytest.fixture
def two_tenants(app_ctx):
    a, b = make_tenant("acme"), make_tenant("globex")
    db.session.commit()
    # Detached with their attributes loaded, so tests may end sessions (as jobs and requests
    # do) and keep using them.
    for tenant in (a, b):
        db.session.refresh(tenant)
        db.session.expunge(tenant)
    return a, b


@pytest.fixture
def notes(app_ctx, database):
    meta = sa.MetaData()
    table = sa.Table(
        NOTES,
        meta,
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(100)),  # deliberately plaintext: the control in raw-byte checks
        sa.Column("body", sa.LargeBinary()),
        sa.Column("phone", sa.LargeBinary()),
        sa.Column("phone_bidx", sa.String(64)),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
    )
    owner = database.engine(owner=True)
    meta.drop_all(owner)
    meta.create_all(owner)
    if database.kind == "postgresql":
        with owner.begin() as conn:
            conn.execute(sa.text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {NOTES} TO tenantry_app"))
    rotation.register_encrypted_column(table, "body")
    rotation.register_encrypted_column(table, "phone")
    try:
        yield table
    finally:
        rotation.unregister_table(NOTES)
        db.session.remove()
        meta.drop_all(owner)
        owner.dispose()


def write_notes(table, tenant, count: int, *, start: int = 1, label: str = "note") -> dict[int, str]:
    """Rows with an encrypted body and phone; returns {id: body} to check against later."""
    expected = {}
    with tenant_context(tenant):
        rows = []
        for i in range(start, start + count):
            body = f"Poznámka {i} pro Jana Nováková, tenant {tenant.slug}"
            where = {"tenant_id": tenant.id, "table": table.name, "row_id": i}
            phone = f"+42060{i:07d}"
            rows.append({
                "tenant_id": tenant.id, "id": i, "label": f"{label} {i}",
                "body": fields.encrypt(body, column="body", **where),
                "phone": fields.encrypt(phone, column="phone", **where),
                "phone_bidx": fields.blind_index("phone", phone, tenant_id=tenant.id),
            })
            expected[i] = body
        db.session.execute(table.insert(), rows)
    db.session.commit()
    return expected


def read_notes(table, tenant) -> dict[int, str]:
    with tenant_context(tenant):
        rows = db.session.execute(sa.select(table).where(table.c.tenant_id == tenant.id).order_by(table.c.id)).all()
        out = {}
        for row in rows:
            where = {"tenant_id": tenant.id, "table": table.name, "row_id": row.id}
            out[row.id] = fields.decrypt(row.body, column="body", **where)
            fields.decrypt(row.phone, column="phone", **where)
    return out


def key_versions_in_use(table, tenant) -> set[int]:
    with tenant_context(tenant):
        blobs = db.session.execute(
            sa.select(table.c.body, table.c.phone).where(table.c.tenant_id == tenant.id)
        ).all()
    return {fields.key_version(bytes(b)) for row in blobs for b in row if b is not None}
