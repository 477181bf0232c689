"""A row's blind-index entries are exactly the digests of its values after every write, and
only its own (PostgreSQL writes them as one statement with arrays, SQLite as an executemany);
a Czech VAT ID is indexed with the IČO inside it, for rows saved before too."""

from __future__ import annotations

import sqlalchemy as sa

from tenantry.platform.crypto import fields
from tenantry.platform.db import db
from tenantry.platform.tenancy import tenant_context
from tenantry.tenants.crm import companies, contacts, index_builds, search
from tenantry.tenants.crm.models import COMPANY, CONTACT, SearchIndex, SearchIndexBuild
from tests.factories import make_tenant


def _entries(row_id) -> set[tuple[str, str]]:
    return set(db.session.execute(sa.select(SearchIndex.kind, SearchIndex.digest).where(
        SearchIndex.entity == CONTACT, SearchIndex.row_id == row_id)).all())


def test_a_rows_index_is_replaced_whole_and_leaves_other_rows_alone(app_ctx):
    acme = make_tenant("acme")
    db.session.commit()
    with tenant_context(acme):
        cipher = fields.TenantCipher(acme.id)
        jana = contacts.create(contacts.ContactData(first_name="Jana", last_name="Nováková",
                                                    emails=["jana@example.com"], phones=["+420601234567"]))
        other = contacts.create(contacts.ContactData(first_name="Petr", last_name="Novák"))
        db.session.commit()
        expected = search.digests(cipher=cipher, emails=["jana@example.com"], phones=["+420601234567"],
                                  names=["Jana", "Nováková"])
        assert _entries(jana.id) == expected and len(expected) == 4
        assert {kind for kind, _ in expected} == {"email", "phone", "name"}

        contacts.update(jana, contacts.ContactData(first_name="Jana", last_name="Svobodová",
                                                   emails=["jana@svoboda.cz", "j@example.com"]))
        db.session.commit()
        assert _entries(jana.id) == search.digests(cipher=cipher, emails=["jana@svoboda.cz", "j@example.com"],
                                                   names=["Jana", "Svobodová"])
        found = db.session.scalars(search.matching(CONTACT, "jana@example.com")).all()
        assert found == [] and db.session.scalars(search.matching(CONTACT, "svobodova")).all() == [jana.id]
        assert _entries(other.id) == search.digests(cipher=cipher, names=["Petr", "Novák"])

        search.replace(CONTACT, jana.id, set())
        db.session.commit()
        assert _entries(jana.id) == set() and _entries(other.id)


def test_a_czech_vat_id_and_the_ico_inside_it_find_each_other(app_ctx):
    acme = make_tenant("acme")
    db.session.commit()
    with tenant_context(acme):
        by_ico = companies.create(companies.CompanyData(name="Železárny", country="CZ", company_number="25596641"))
        by_vat = companies.create(companies.CompanyData(name="ŽNB", country="CZ", vat_id="CZ25596641"))
        # A natural person's VAT ID holds a birth number, no IČO: nothing more is indexed.
        person = companies.create(companies.CompanyData(name="Jan Novák", country="CZ", vat_id="CZ7103192745"))
        db.session.commit()

        def found(query):
            return set(db.session.scalars(search.matching(COMPANY, query)))

        assert found("25596641") == found("CZ25596641") == found("cz 2559 6641") == {by_ico.id, by_vat.id}
        assert found("CZ7103192745") == {person.id} and found("7103192745") == set()
        assert search.company_id_values("", "cz 2559 6641", "25596641") == ["cz 2559 6641", "25596641"]
        assert search.company_id_values("CZ7103192745", "CZ123", "SK2020317068") == [
            "CZ7103192745", "CZ123", "SK2020317068"]


def test_the_rebuild_indexes_the_ico_inside_a_vat_id_saved_before(app_ctx):
    acme = make_tenant("acme")
    db.session.commit()
    with tenant_context(acme):
        cipher = fields.TenantCipher(acme.id)
        by_vat = companies.create(companies.CompanyData(name="ŽNB", country="CZ", vat_id="CZ25596641"))
        # The index as version 3 left it: the VAT ID's digest alone.
        db.session.execute(sa.delete(SearchIndex).where(
            SearchIndex.row_id == by_vat.id, SearchIndex.digest == cipher.blind_index("company_id", "25596641")))
        db.session.merge(SearchIndexBuild(tenant_id=acme.id, version=index_builds.DEAL_TITLES))
        db.session.commit()
        assert db.session.scalars(search.matching(COMPANY, "25596641")).all() == []
    assert index_builds.rebuild(acme) == 2  # the company, then again for its name's joined words
    with tenant_context(acme):
        assert index_builds.is_current(acme.id)
        assert db.session.scalars(search.matching(COMPANY, "25596641")).all() == [by_vat.id]
