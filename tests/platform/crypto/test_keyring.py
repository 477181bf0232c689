"""Per-tenant keys: created with the tenant, stored only wrapped, one active version enforced
by the database, an unwrapped-key cache that is bounded and expires, crypto-shredding."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from tenantry.platform.crypto import fields, keyring
from tenantry.platform.crypto.keyring import TenantKey
from tenantry.platform.crypto.providers import KeyProviderError, LocalKeyProvider
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context


def _keys(tenant_id) -> list[TenantKey]:
    with all_tenants():
        return list(db.session.execute(
            sa.select(TenantKey).where(TenantKey.tenant_id == tenant_id).order_by(TenantKey.purpose)
        ).scalars())


@pytest.mark.obligation("TT-aes256", "DPA-B.safe-store")
def test_a_new_tenant_gets_a_data_key_and_an_index_key_stored_only_wrapped(two_tenants, app_ctx):
    acme, _ = two_tenants
    rows = _keys(acme.id)
    assert [(r.purpose, r.version, r.status, r.provider) for r in rows] == [
        ("data", 1, "active", "local"), ("index", 1, "active", "local"),
    ]
    provider = keyring.provider()
    for row in rows:
        plain = provider.unwrap(row.wrapped, keyring.context(acme.id, row.purpose, row.version))
        assert len(plain) == 32  # AES-256
        assert plain not in row.wrapped
    # The wrapped key opens only under this master key and only as what it was made for.
    other = LocalKeyProvider(app_ctx.app.instance_path + "/other.key")
    with pytest.raises(KeyProviderError):
        other.unwrap(rows[0].wrapped, keyring.context(acme.id, "data", 1))
    with pytest.raises(KeyProviderError):
        provider.unwrap(rows[0].wrapped, keyring.context(two_tenants[1].id, "data", 1))


def test_a_tenant_created_without_a_context_on_a_plain_session_gets_keys_too(app_ctx):
    # Sign-up and the CLI create tenants outside any tenant context; RLS must not refuse the keys.
    tenant = Tenant(slug="plain", name="Plain", country="CZ")
    db.session.add(tenant)
    db.session.commit()
    assert {r.purpose for r in _keys(tenant.id)} == {"data", "index"}


def test_keys_of_a_tenant_whose_insert_rolled_back_are_not_kept(app_ctx):
    tenant = Tenant(slug="gone", name="Gone", country="CZ")
    db.session.add(tenant)
    db.session.flush()
    tid = tenant.id
    db.session.rollback()
    assert _keys(tid) == []


@pytest.mark.obligation("TT-aes256")
def test_the_database_refuses_a_second_active_data_key(two_tenants):
    acme, _ = two_tenants
    with all_tenants():
        db.session.add(TenantKey(tenant_id=acme.id, purpose="data", version=2, wrapped=b"x" * 60,
                                 provider="local", status="active"))
        with pytest.raises(sa.exc.IntegrityError):
            db.session.flush()
    db.session.rollback()


def test_rotating_keeps_exactly_one_active_version(two_tenants):
    acme, _ = two_tenants
    keyring.rotate(acme.id)
    keyring.rotate(acme.id)
    db.session.commit()
    data = [(r.version, r.status) for r in keyring.versions(acme.id)]
    assert data == [(1, "retiring"), (2, "retiring"), (3, "active")]
    assert keyring.active_version(acme.id) == 3


def test_a_tenant_from_before_the_keyring_gets_keys_on_first_use(two_tenants):
    acme, _ = two_tenants
    with all_tenants():
        db.session.execute(sa.delete(TenantKey).where(TenantKey.tenant_id == acme.id))
    db.session.commit()
    with tenant_context(acme):
        blob = fields.encrypt("late", tenant_id=acme.id, table="t", column="c", row_id=1)
        assert fields.decrypt(blob, tenant_id=acme.id, table="t", column="c", row_id=1) == "late"
    assert {r.purpose for r in _keys(acme.id)} == {"data", "index"}


class _CountingProvider:
    name = "local"

    def __init__(self, inner):
        self.inner, self.unwraps = inner, 0

    def wrap(self, key, ctx):
        return self.inner.wrap(key, ctx)

    def unwrap(self, wrapped, ctx):
        self.unwraps += 1
        return self.inner.unwrap(wrapped, ctx)

    def destroy(self, ctx):
        return None


def test_unwrapped_keys_are_cached_with_a_time_limit_and_a_bound(two_tenants, app_ctx, monkeypatch):
    acme, globex = two_tenants
    counting = _CountingProvider(app_ctx.app.extensions["tenantry.key_provider"])
    app_ctx.app.extensions["tenantry.key_provider"] = counting
    keyring.forget_cached_keys()
    keyring.data_key(acme.id, 1)
    keyring.data_key(acme.id, 1)
    assert counting.unwraps == 1
    monkeypatch.setattr(keyring, "CACHE_SECONDS", 0.05)
    keyring.forget_cached_keys()
    keyring.data_key(acme.id, 1)
    time.sleep(0.1)
    keyring.data_key(acme.id, 1)
    assert counting.unwraps == 3
    monkeypatch.setattr(keyring, "CACHE_SECONDS", 300)
    monkeypatch.setattr(keyring, "CACHE_ENTRIES", 2)
    keyring.forget_cached_keys()
    keyring.data_key(acme.id, 1)
    keyring.index_secret(acme.id)
    keyring.data_key(globex.id, 1)
    assert keyring.cached_count() == 2


@pytest.mark.obligation("DPA-B.safe-store", "TT-aes256")
def test_destroying_a_tenants_keys_erases_them_and_its_values_no_longer_decrypt(two_tenants):
    acme, globex = two_tenants
    with tenant_context(acme):
        blob = fields.encrypt("shred me", tenant_id=acme.id, table="t", column="c", row_id=1)
    keyring.rotate(acme.id)
    assert keyring.destroy(acme.id) == 3
    db.session.commit()
    rows = _keys(acme.id)
    assert {r.status for r in rows} == {"destroyed"}
    assert all(r.wrapped is None and r.destroyed_at is not None for r in rows)
    with tenant_context(acme), pytest.raises(fields.FieldDecryptError, match="not available"):
        fields.decrypt(blob, tenant_id=acme.id, table="t", column="c", row_id=1)
    with tenant_context(acme), pytest.raises(keyring.KeyringError, match="destroyed"):
        fields.encrypt("new", tenant_id=acme.id, table="t", column="c", row_id=2)
    # The other tenant is untouched.
    assert {r.status for r in _keys(globex.id)} == {"active"}


class _KeyQueries:
    def __init__(self):
        self.count = 0

    def __call__(self, _conn, _cursor, statement, *_args):
        if "FROM tenant_keys" in statement:
            self.count += 1


@pytest.fixture
def key_queries(app_ctx):
    watch = _KeyQueries()
    sa.event.listen(db.engine, "before_cursor_execute", watch)
    yield watch
    sa.event.remove(db.engine, "before_cursor_execute", watch)


def test_a_transaction_reads_its_keys_once_across_flushes_of_other_rows(two_tenants, key_queries):
    from tenantry.tenants.crm.models import Contact

    acme, _ = two_tenants
    with tenant_context(db.session.get(Tenant, acme.id)):
        contact = Contact(tenant_id=acme.id)
        contact.seal("first_name", "Jana")
        db.session.add(contact)
        db.session.flush()
        first = key_queries.count
        assert first >= 1
        contact.seal("last_name", "Nováková")
        db.session.flush()  # a contact written, no key: the keys looked up stay known
        assert contact.plain()["last_name"] == "Nováková"
        assert key_queries.count == first
        # A flush that writes a key row (a rotation) makes the transaction look again.
        keyring.rotate(acme.id)
        db.session.flush()
        contact.seal("notes", "after the rotation")
        assert key_queries.count > first
        assert fields.key_version(contact.notes) == 2
    db.session.commit()
    with tenant_context(db.session.get(Tenant, acme.id)):
        assert db.session.get(Contact, contact.id).plain()["notes"] == "after the rotation"


def test_keys_brought_by_a_joined_query_are_the_ones_used(two_tenants, key_queries):
    acme, _ = two_tenants
    keyring.rotate(acme.id)
    db.session.commit()
    stmt = keyring.active_keys_joined(sa.select(Tenant).where(Tenant.id == acme.id), Tenant.id)
    with all_tenants():
        rows = db.session.execute(stmt).all()
    assert sorted((r[1].purpose, r[1].version) for r in rows) == [("data", 2), ("index", 1)]
    keyring.prime(r[1] for r in rows)
    before = key_queries.count
    with tenant_context(db.session.get(Tenant, acme.id)):
        assert keyring.active_version(acme.id) == 2
        blob = fields.encrypt("x", tenant_id=acme.id, table="t", column="c", row_id="r")
        assert fields.decrypt(blob, tenant_id=acme.id, table="t", column="c", row_id="r") == "x"
        keyring.index_secret(acme.id)
    assert key_queries.count == before
    db.session.commit()
    # Primed rows live as long as the transaction: the next one asks the database again.
    with tenant_context(db.session.get(Tenant, acme.id)):
        keyring.active_version(acme.id)
    assert key_queries.count == before + 1
    db.session.rollback()
