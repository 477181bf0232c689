"""A row's blind-index entries are exactly the digests of its values after every write, and
only its own (PostgreSQL writes them as one statement with arrays, SQLite as an executemany)."""

from __future__ import annotations

import sqlalchemy as sa

from tenantry.platform.crypto import fields
from tenantry.platform.db import db
from tenantry.platform.tenancy import tenant_context
from tenantry.tenants.crm import contacts, search
from tenantry.tenants.crm.models import CONTACT, SearchIndex
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
