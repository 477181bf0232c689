"""Migration 0036 on both databases: versions that earlier code retired without looking at
audit events and stored files become decrypt-only, not yet counted (the sweep counts them);
down again, decrypt-only versions are retired and failed rotations running, as the older
code knows them."""

from __future__ import annotations

import sqlalchemy as sa

from tenantry.platform.crypto import keyring, rotation
from tenantry.platform.crypto.keyring import TenantKey
from tenantry.platform.crypto.rotation import KeyRotation
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant
from tests.conftest import migrate
from tests.platform.test_migrations import _as_owner, _own_database, _two_tenants


def _seed(tenant) -> None:
    if tenant.slug != "acme":
        return
    new = keyring.rotate(tenant.id)  # v1 retiring, v2 active
    db.session.add(KeyRotation(tenant_id=tenant.id, to_version=new.version, status=rotation.FAILED,
                               error="contacts.emails of row 7: does not decrypt here"))


def _keys(conn, *, in_use: bool = True) -> dict[tuple[str, str, int], tuple]:
    """{(tenant slug, purpose, version): (status, in_use)}; in_use None before 0036."""
    keys, tenants = TenantKey.__table__, Tenant.__table__
    use = keys.c.in_use if in_use else sa.null()
    return {(slug, purpose, version): (status, used) for slug, purpose, version, status, used in conn.execute(
        sa.select(tenants.c.slug, keys.c.purpose, keys.c.version, keys.c.status, use)
        .join(tenants, tenants.c.id == keys.c.tenant_id)).all()}


def test_retired_versions_become_decrypt_only_until_counted_and_back(database, tmp_path):
    keys, rotations = TenantKey.__table__, KeyRotation.__table__
    instance = tmp_path / "instance"
    with _own_database(database, tmp_path, "key_usage") as (url, owner_url):
        migrate(url, owner_url, instance)
        _two_tenants(url, instance, _seed)
        owner, across = _as_owner(url, owner_url)
        with owner.begin() as conn:
            conn.execute(across)
            conn.execute(keys.update().where(keys.c.version == 1, keys.c.status == "retiring")
                         .values(status="decrypt-only", in_use={"audit events": 2}))
        migrate(url, owner_url, instance, revision="0035", direction="downgrade")
        with owner.begin() as conn:
            conn.execute(across)
            assert _keys(conn, in_use=False) == {
                ("acme", "data", 1): ("retired", None), ("acme", "data", 2): ("active", None),
                ("acme", "index", 1): ("active", None),
                ("globex", "data", 1): ("active", None), ("globex", "index", 1): ("active", None)}
            assert conn.execute(sa.select(rotations.c.status)).scalars().all() == ["running"]
        migrate(url, owner_url, instance)
        with owner.begin() as conn:
            conn.execute(across)
            after = _keys(conn)
            assert after[("acme", "data", 1)] == ("decrypt-only", None)  # not counted yet: the sweep does
            assert {k: v for k, v in after.items() if k != ("acme", "data", 1)} == {
                ("acme", "data", 2): ("active", None), ("acme", "index", 1): ("active", None),
                ("globex", "data", 1): ("active", None), ("globex", "index", 1): ("active", None)}
            # Both databases hold the new states.
            conn.execute(rotations.update().values(status="failed"))
        owner.dispose()
