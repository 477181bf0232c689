"""A canary value written through field encryption is absent from the raw database: the
bytes of the SQLite files, or every row of every PostgreSQL table rendered as text. A
plaintext control written beside it is found, which shows the search would see a leak."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
import sqlalchemy as sa

from tenantry.platform.crypto import fields
from tenantry.platform.db import db
from tenantry.platform.tenancy import tenant_context
from tests.platform.crypto.conftest import read_notes


def _raw_database_text(database) -> bytes:
    if database.kind == "sqlite":
        path = Path(sa.make_url(database.url).database)
        # WAL mode: recent pages live in the -wal file until a checkpoint.
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    engine = database.engine(owner=True)
    chunks = []
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT set_config('tenantry.all_tenants', 'on', true)"))
        names = conn.execute(sa.text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )).scalars().all()
        for name in names:
            # Names come from the catalogue; quote_ident keeps them names. The bytea columns are
            # rendered the way pg_dump does (hex), and again as raw bytes via convert_from-free
            # escape, so plaintext inside a blob would show either way.
            rows = conn.execute(sa.text(f'SELECT t::text FROM "{name}" t')).scalars().all()  # noqa: S608
            chunks.extend(r.encode() for r in rows)
            for col in conn.execute(sa.text(
                "SELECT column_name FROM information_schema.columns WHERE table_name = :t AND data_type = 'bytea'"
            ), {"t": name}).scalars():
                blobs = conn.execute(sa.text(f'SELECT "{col}" FROM "{name}"')).scalars().all()  # noqa: S608
                chunks.extend(bytes(b) for b in blobs if b is not None)
    engine.dispose()
    return b"\n".join(chunks)


@pytest.mark.obligation("TT-aes256", "DPA-B.pseudonymisation")
def test_a_canary_is_absent_from_the_raw_database(two_tenants, notes, database):
    acme, _ = two_tenants
    canary = "CANARY-" + secrets.token_hex(8)
    control = "CONTROL-" + secrets.token_hex(8)
    with tenant_context(acme):
        where = {"tenant_id": acme.id, "table": notes.name, "row_id": 1}
        db.session.execute(notes.insert().values(
            tenant_id=acme.id, id=1, label=control,
            body=fields.encrypt(f"{canary} Jana Nováková", column="body", **where),
            phone=fields.encrypt("+420601234567", column="phone", **where),
            phone_bidx=fields.blind_index("phone", "+420601234567", tenant_id=acme.id),
        ))
    db.session.commit()
    db.session.remove()
    assert read_notes(notes, acme)[1] == f"{canary} Jana Nováková"

    raw = _raw_database_text(database)
    assert control.encode() in raw, "the raw read does not see plaintext: the check would prove nothing"
    assert canary.encode() not in raw
    assert canary.encode().hex().encode() not in raw
    assert b"+420601234567" not in raw and "Nováková".encode() not in raw
