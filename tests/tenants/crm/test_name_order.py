"""The web UI's lists sorted by name (crm.name_order): surname, then first name, then id, with
case and accents ignored, page after page, both ways; only the tenant's own rows."""

from __future__ import annotations

from collections import OrderedDict

import sqlalchemy as sa

from tenantry.platform.crypto import fields
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import companies, contacts, name_order
from tenantry.tenants.crm.models import Contact
from tests.identity.support import in_app, new_tenant

PEOPLE = [("Jana", "Nováková"), ("petr", "novák"), ("Eva", "Novák"), ("Adam", "Ňovák"), ("", "Černý"),
          ("Zdeněk", ""), ("Éva", "Novák"), ("Jana", "Nováková"), ("ondřej", "dvořák"), ("Karel", "Dvořák")]


def _add_people(tenant_id, people) -> list:
    with tenant_context(db.session.get(Tenant, tenant_id)):
        made = [contacts.create(contacts.ContactData(first_name=first, last_name=last)) for first, last in people]
        db.session.flush()
        return [(c.id, first, last) for c, (first, last) in zip(made, people, strict=True)]


def test_contacts_come_by_folded_surname_then_first_name_then_id_page_after_page(web_app):
    acme, globex = new_tenant(web_app, "acme", country="CZ"), new_tenant(web_app, "globex", country="CZ")
    with in_app(web_app):
        ours = _add_people(acme.id, PEOPLE)
        _add_people(globex.id, [("Aaron", "Aardvark")])  # would come first, if another tenant's rows leaked in
        db.session.commit()
        expected = [row[0] for row in sorted(ours, key=lambda r: (fields.fold(r[2]), fields.fold(r[1]), r[0].int))]
        with tenant_context(db.session.get(Tenant, acme.id)):
            for sort, want in (("name", expected), ("-name", expected[::-1])):
                seen = []
                for number in (1, 2, 3, 4):
                    page = contacts.listing(sort=sort, page=number, page_size=3)
                    assert page.total == len(PEOPLE) and page.pages == 4
                    seen += [c.id for c, _plain in page.items]
                    assert all(plain["last_name"] == c.plain()["last_name"] for c, plain in page.items)
                assert seen == want, sort
            first = contacts.listing(sort="name", page=1, page_size=3).items
            assert [(p["first_name"], p["last_name"]) for _c, p in first] == [("Zdeněk", ""), ("", "Černý"),
                                                                                ("Karel", "Dvořák")]


def test_a_search_narrows_what_is_sorted(web_app):
    acme = new_tenant(web_app, "acme", country="CZ")
    with in_app(web_app):
        ours = _add_people(acme.id, PEOPLE)
        db.session.commit()
        novaks = sorted((r for r in ours if fields.fold(r[2]) == "novak"), key=lambda r: (fields.fold(r[1]), r[0].int))
        # Eva and Éva fold alike: their ids decide.
        assert [r[1] for r in novaks][:2] == ["Adam", novaks[1][1]] and {r[1] for r in novaks[1:3]} == {"Eva", "Éva"}
        with tenant_context(db.session.get(Tenant, acme.id)):
            page = contacts.listing(q="novak", sort="name")
            assert [c.id for c, _p in page.items] == [r[0] for r in novaks]


def test_companies_come_by_folded_name(web_app):
    acme = new_tenant(web_app, "acme", country="CZ")
    with in_app(web_app):
        with tenant_context(db.session.get(Tenant, acme.id)):
            for name in ("Zeta s.r.o.", "Ábel a.s.", "beta", "Alfa"):
                companies.create(companies.CompanyData(name=name, country="CZ"))
            db.session.flush()
            names = [plain["name"] for _c, plain, _n in companies.listing(sort="name").items]
            assert names == ["Ábel a.s.", "Alfa", "beta", "Zeta s.r.o."]
            assert [plain["name"] for _c, plain, _n in companies.listing(sort="-name").items] == names[::-1]


def test_a_whole_list_is_loaded_in_chunks_of_ids(web_app, monkeypatch):
    from tenantry.tenants.crm import name_order

    monkeypatch.setattr(name_order, "CHUNK", 3)
    acme = new_tenant(web_app, "acme", country="CZ")
    with in_app(web_app):
        ours = _add_people(acme.id, PEOPLE)
        db.session.commit()
        expected = [row[0] for row in sorted(ours, key=lambda r: (fields.fold(r[2]), fields.fold(r[1]), r[0].int))]
        with tenant_context(db.session.get(Tenant, acme.id)):
            everyone = contacts.listing(sort="name", page_size=10_000, bulk=True)
            assert [c.id for c, _p in everyone.items] == expected


def _sorted_now(tenant_id, *, reverse=False) -> list:
    with tenant_context(db.session.get(Tenant, tenant_id)):
        return name_order.sorted_ids(Contact, sa.select(Contact.id).where(contacts.visible()),
                                     ("last_name", "first_name"), reverse=reverse)


def test_an_order_is_reused_only_while_every_ciphertext_it_came_from_is_the_same(web_app, monkeypatch):
    monkeypatch.setattr(name_order, "CACHED_FROM", 1)
    monkeypatch.setattr(name_order, "_orders", OrderedDict())
    opened = []
    real = fields.Reader.open_values
    monkeypatch.setattr(fields.Reader, "open_values", lambda self, *a: opened.append(1) or real(self, *a))
    acme, globex = new_tenant(web_app, "acme", country="CZ"), new_tenant(web_app, "globex", country="CZ")
    with in_app(web_app):
        ours = _add_people(acme.id, PEOPLE)
        _add_people(globex.id, PEOPLE)
        db.session.commit()
        first = _sorted_now(acme.id)
        assert len(opened) == len(PEOPLE)
        opened.clear()
        assert _sorted_now(acme.id) == first and _sorted_now(acme.id, reverse=True) == first[::-1]
        assert opened == []  # worked out once
        assert set(_sorted_now(globex.id)).isdisjoint(first) and len(opened) == len(PEOPLE)  # not another's

        # A changed name, a restricted contact, a re-encrypted one: each is worked out anew.
        jana = ours[0][0]
        with tenant_context(db.session.get(Tenant, acme.id)):
            contacts.update(contacts.get(jana), contacts.ContactData(first_name="Jana", last_name="Aaronová"))
        opened.clear()
        renamed = _sorted_now(acme.id)
        assert renamed[:2] == [ours[5][0], jana] and len(opened) == len(PEOPLE)  # after Zdeněk, who has no surname
        with tenant_context(db.session.get(Tenant, acme.id)):
            contacts.get(jana).restricted_at = sa.func.now()
            db.session.flush()
        assert _sorted_now(acme.id) == [i for i in renamed if i != jana]
        with tenant_context(db.session.get(Tenant, acme.id)):
            contacts.get(jana).restricted_at = None
            other = contacts.get(ours[1][0])
            other.seal("last_name", other.reveal("last_name"))  # the same name under a new nonce
            db.session.flush()
        opened.clear()
        assert _sorted_now(acme.id) == renamed and len(opened) == len(PEOPLE)


def test_the_cache_keeps_a_few_orders_and_small_lists_are_not_cached(web_app, monkeypatch):
    monkeypatch.setattr(name_order, "_orders", OrderedDict())
    acme = new_tenant(web_app, "acme", country="CZ")
    with in_app(web_app):
        _add_people(acme.id, PEOPLE)
        db.session.commit()
        _sorted_now(acme.id)
        assert len(name_order._orders) == 0  # fewer than CACHED_FROM rows
        monkeypatch.setattr(name_order, "CACHED_FROM", 1)
        monkeypatch.setattr(name_order, "_CACHE_ENTRIES", 2)
        with tenant_context(db.session.get(Tenant, acme.id)):
            for last in ("A", "B", "C"):
                contacts.create(contacts.ContactData(last_name=last))
                db.session.flush()
                _sorted_now(acme.id)
        assert len(name_order._orders) == 2
