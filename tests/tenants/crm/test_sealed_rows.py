"""What a write seals is what a read opens: the values seal_all hands back for the write's audit
snapshot are exactly those plain() decrypts."""

from __future__ import annotations

import uuid

import pytest

from tenantry.platform.crypto import fields
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


def test_a_row_just_sealed_answers_without_decrypting_and_never_from_a_stale_copy(app_ctx, monkeypatch):
    acme = make_tenant("acme")
    db.session.commit()
    with tenant_context(acme):
        contact = Contact(id=uuid.uuid4(), tenant_id=acme.id, company_id=None)
        contact.seal_all({column: "x" for column in Contact.ENCRYPTED} | {"first_name": "Jana", "tags": ["vip"],
                                                                         "emails": ["j@x.cz"], "phones": []})
        other = Contact(id=uuid.uuid4(), tenant_id=acme.id, company_id=None)
        other.seal_all({column: None for column in Contact.ENCRYPTED} | {"first_name": "Eva"})
        db.session.add_all([contact, other])
        db.session.commit()

        opened = []
        real = fields.Reader.open_row
        monkeypatch.setattr(fields.Reader, "open_row", lambda self, blobs, *a: opened.append(set(blobs)) or real(self, blobs, *a))
        contact.seal_all({"first_name": "Jana", "last_name": "Nováková", "tags": ["vip", "b2b"]})
        first = contact.plain()
        assert first["last_name"] == "Nováková" and first["tags"] == ["vip", "b2b"]
        # Only what it did not just seal was opened: reloaded after the commit (phones stores nothing).
        assert opened == [set(Contact.ENCRYPTED) - {"first_name", "last_name", "tags", "phones"}]
        first["tags"].append("mutated by a caller")
        assert contact.plain()["tags"] == ["vip", "b2b"]

        # Another row's ciphertext set on this row is opened, and refused, not answered from memory.
        contact.notes = other.first_name
        with pytest.raises(fields.FieldDecryptError):
            contact.plain()
        db.session.rollback()
        # After the rollback the stored values are read again, not what was sealed in memory.
        assert contact.plain()["last_name"] == "x" and contact.plain()["emails"] == ["j@x.cz"]
