"""The API's contact reads (crm.contact_reads): on PostgreSQL a prepared statement per shape, held
here to the answers of the ORM statements that every other database runs, for the same
tenant, restrictions, objections, searches and pages; and never a row of another tenant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tenantry.platform import clock
from tenantry.platform.db import db, is_postgres
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import contact_reads, contacts
from tenantry.tenants.crm.models import Contact
from tests.identity.support import in_app, new_tenant

QUERIES = ("", "novak", "jana novakova", "contact3@example.com", "CONTACT3@EXAMPLE.COM", "+420 601 000 004",
           "601000004", "nobody", "example.com", "12345678")


def _seed(tenant_id, n: int) -> list:
    tenant = db.session.get(Tenant, tenant_id)
    with tenant_context(tenant):
        start = datetime(2026, 1, 1, tzinfo=UTC)
        made = []
        for i in range(n):
            contact = contacts.create(contacts.ContactData(
                first_name=("Jana", "Petr", "Eva")[i % 3], last_name=("Nováková", "Novák", "Svoboda")[i % 3 - 1],
                emails=[f"contact{i}@example.com"], phones=[f"+420601{i:06d}"], tags=["vip"] if i % 2 else []))
            # Some share a created_at: the keyset must order them by id as well.
            contact.created_at = start + timedelta(seconds=i // 2)
            made.append(contact)
        if n > 2:
            made[1].restricted_at = clock.now()
            made[2].objected_at = clock.now()
        db.session.flush()
        return [c.id for c in made]


def _both(monkeypatch, **kwargs) -> tuple[list, list]:
    prepared = contact_reads.page([], **kwargs)
    monkeypatch.setattr(contact_reads, "is_postgres", lambda: False)
    orm = contact_reads.page([], **kwargs)
    monkeypatch.undo()
    return prepared, orm


@pytest.mark.obligation("DSR-restrict", "DSR-object", "DPA-B.access-control")
def test_prepared_reads_answer_as_the_orm_statements_do(web_app, monkeypatch):
    if not is_postgres_app(web_app):
        pytest.skip("the prepared statements are PostgreSQL's; elsewhere the ORM statements are the reads")
    acme, globex = new_tenant(web_app, "acme", country="CZ"), new_tenant(web_app, "globex", country="CZ")
    with in_app(web_app):
        _seed(globex.id, 6)  # the same names and e-mails in another tenant: never found from acme
        ids = _seed(acme.id, 13)
        db.session.commit()
        with tenant_context(db.session.get(Tenant, acme.id)):
            for query in QUERIES:
                prepared, orm = _both(monkeypatch, query=query, after=None, limit=100)
                assert prepared == orm, query
                assert all(row[0] in {str(i) for i in ids} for row in prepared)
                assert str(ids[1]) not in {row[0] for row in prepared}  # restricted
                assert str(ids[2]) not in {row[0] for row in prepared}  # objected to: not in a list
            found = contact_reads.page([], query="contact3@example.com", after=None, limit=10)
            assert [row[0] for row in found] == [str(ids[3])]
            assert len(contact_reads.page([], query="novak", after=None, limit=100)) > 0
            # Page by page, in (created_at, id) order, as the ORM pages.
            after, seen = None, []
            while True:
                prepared, orm = _both(monkeypatch, query="", after=after, limit=4)
                assert prepared == orm
                if not prepared:
                    break
                seen += [row[0] for row in prepared]
                after = contact_reads.keyset(prepared[-1])
            everyone = db.session.execute(
                sa.select(Contact).where(Contact.restricted_at.is_(None), Contact.objected_at.is_(None))
                .order_by(Contact.created_at, Contact.id)).scalars().all()
            assert seen == [str(c.id) for c in everyone] and len(seen) == 11
            # One by id: restricted and objected ones too (the API answers 409 for the first).
            for contact_id in ids[:4]:
                row = contact_reads.one(contact_id)
                monkeypatch.setattr(contact_reads, "is_postgres", lambda: False)
                assert row == contact_reads.one(contact_id)
                monkeypatch.undo()
            assert contact_reads.one(ids[1])[4] and not contact_reads.one(ids[3])[4]
            row = contact_reads.one(ids[3])
            assert Contact.plain_of(_reader(acme.id), row[0], row[contact_reads.SEALED_FROM:])["emails"] == [
                "contact3@example.com"]
    with in_app(web_app), tenant_context(db.session.get(Tenant, globex.id)):
        assert contact_reads.one(ids[3]) is None
        (theirs,) = contact_reads.page([], query="contact3@example.com", after=None, limit=10)
        assert theirs[0] not in {str(i) for i in ids}  # globex's own contact3, not acme's


def test_rows_carry_ids_as_text_and_utc_times_on_any_database(web_app):
    acme = new_tenant(web_app, "acme", country="CZ")
    with in_app(web_app):
        (contact_id,) = _seed(acme.id, 1)
        db.session.commit()
        with tenant_context(db.session.get(Tenant, acme.id)):
            row = contact_reads.one(contact_id)
            assert row[0] == str(contact_id) and row[1] is None
            assert row[2] == datetime(2026, 1, 1, tzinfo=UTC) and row[2].utcoffset() == timedelta(0)
            assert not row[4]


def is_postgres_app(app) -> bool:
    with app.app_context():
        return is_postgres()


def _reader(tenant_id):
    from tenantry.platform.crypto import fields

    return fields.Reader(tenant_id)


def test_times_come_in_utc_whatever_the_connection_time_zone(web_app):
    if not is_postgres_app(web_app):
        pytest.skip("the connection's time zone is PostgreSQL's")
    from tenantry.platform.tenancy import pg_driver

    acme = new_tenant(web_app, "acme", country="CZ")
    with in_app(web_app):
        (contact_id,) = _seed(acme.id, 1)
        db.session.commit()
        with tenant_context(db.session.get(Tenant, acme.id)):
            pg_driver(db.session).execute("SET LOCAL TIME ZONE 'Europe/Prague'")
            row = contact_reads.one(contact_id)
            (listed,) = contact_reads.page([], query="", after=None, limit=10)
            db.session.rollback()
    for got in (row, listed):
        assert got[2] == datetime(2026, 1, 1, tzinfo=UTC) and got[2].utcoffset() == timedelta(0)
        assert got[2].isoformat() == "2026-01-01T00:00:00+00:00"
