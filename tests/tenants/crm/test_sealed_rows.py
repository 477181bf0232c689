"""What a write seals is what a read opens: the values seal_all hands back for the write's audit
snapshot are exactly those plain() decrypts."""

from __future__ import annotations

import uuid

from tenantry.platform.db import db
from tenantry.platform.tenancy import tenant_context
from tenantry.tenants.crm.models import Company, Contact
from tests.factories import make_tenant


def test_what_a_write_seals_is_what_its_snapshot_and_a_later_read_give(app_ctx):
    acme = make_tenant("acme")
    db.session.commit()
    with tenant_context(acme):
        contact = Contact(id=uuid.uuid4(), tenant_id=acme.id, company_id=None)
        sealed = contact.seal_all({"first_name": "Jana", "last_name": "", "emails": ["a@x.cz", "b@x.cz"],
                                   "phones": [], "address": None, "position": "CFO ☃ \"quoted\"", "notes": "",
                                   "tags": ["vip", "Nováková"]})
        assert sealed == contact.plain()
        assert sealed["last_name"] == "" and sealed["phones"] == [] and sealed["tags"] == ["vip", "Nováková"]
        assert contact.snapshot(sealed) == contact.snapshot()
        # Only some columns: the snapshot decrypts rather than trust a partial answer.
        assert contact.snapshot({"first_name": "not what is stored"}) == contact.snapshot()

        company = Company(id=uuid.uuid4(), tenant_id=acme.id, country="CZ")
        sealed = company.seal_all({column: None for column in Company.ENCRYPTED} | {"name": "Acme s.r.o."})
        assert sealed == company.plain() and company.snapshot(sealed) == company.snapshot()
