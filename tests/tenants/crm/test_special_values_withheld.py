"""Once a workspace's special-category agreement is revoked, processing under it stops
[DPA-A.special]: the values of its special-category fields are kept (deleting them is the
controller's decision) but withheld from the contact page, the list's CSV export and the API.
The workspace export still returns them, and the settings page says how many are held."""

from __future__ import annotations

import csv
import io
import re
import uuid
import zipfile
from datetime import date
from html import unescape

import pytest

from tenantry.dpa import special_categories
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import contacts, custom_fields
from tests import factories
from tests.identity.support import in_app, text
from tests.tenants.api.conftest import Bearer, new_client, token_for

pytestmark = pytest.mark.obligation("DPA-A.special")


@pytest.fixture
def revoked(web_app, acme) -> dict[str, uuid.UUID]:
    """Jana and Petr with an allergy saved under an agreement since revoked, and a segment."""
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        staff = factories.make_staff("dpo")
        agreement = special_categories.record(acme.id, special_categories.AgreementData(
            reference="Annex 3", signed_by="Jan Novák, CEO", signed_on=date(2026, 1, 5), categories=["health"],
            scope="Allergies of event guests"), staff=staff)
        allergy, segment = (custom_fields.create(custom_fields.DefinitionData(
            label=label, key=label.lower(), type="text", options=[], required=False, special_category=special))
            for label, special in (("Allergy", True), ("Segment", False)))
        ids = {}
        for first in ("Jana", "Petr"):
            contact = contacts.create(contacts.ContactData(first_name=first, last_name="Tester"))
            custom_fields.save(contact, {allergy.id: "Peanuts", segment.id: "SMB"}, only=[allergy, segment])
            ids[first] = contact.id
        special_categories.revoke(agreement, "The controller ended it", staff=staff)
    return ids


def test_the_contact_page_withholds_the_value(member, revoked):
    page = text(member.get(f"/t/acme/crm/contacts/{revoked['Jana']}"))
    assert "Peanuts" not in page and "SMB" in page
    assert re.search(r"Allergy <span class=\"badge badge-warn\">art. 9</span></dt><dd>\s*<span class=\"muted\">"
                     r"Withheld: no agreement for special categories is in force", page)


def test_the_list_export_leaves_the_field_out(member, revoked):
    exported = member.get("/t/acme/crm/contacts/export.csv")
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    assert len(rows) == 2 and "Allergy" not in rows[0] and {r["Segment"] for r in rows} == {"SMB"}


def test_the_api_leaves_the_field_out(web_app, acme, revoked):
    http = web_app.test_client()
    api = Bearer(http, token_for(http, new_client(web_app, acme)))
    listed = api.get("/api/v1/contacts", query_string={"include": "custom_fields"}).get_json()["items"]
    assert [item["custom_fields"] for item in listed] == [{"segment": "SMB"}] * 2
    one = api.get(f"/api/v1/contacts/{revoked['Jana']}", query_string={"include": "custom_fields"}).get_json()
    assert one["custom_fields"] == {"segment": "SMB"}
    assert "Peanuts" not in str(listed) + str(one)


def test_the_settings_say_how_many_are_held_and_the_export_returns_them(web_app, admin, acme, revoked):
    from tests.tenants.lifecycle.test_export_import import _export_bytes

    page = unescape(text(admin.get("/t/acme/settings/custom-fields")))
    assert "not in use: no agreement; 2 contacts' values withheld" in page
    assert "withheld from contact pages, list exports and the API" in page
    with in_app(web_app):
        archive = zipfile.ZipFile(io.BytesIO(_export_bytes(acme.id)))
    assert archive.read("custom_field_values.json").decode().count('"Peanuts"') == 2


def test_the_contact_page_s_read_says_when_it_showed_a_special_category(web_app, member, acme, revoked):
    import sqlalchemy as sa

    from tenantry.platform.audit import AuditEvent
    from tenantry.platform.tenancy import all_tenants

    def viewed() -> dict:
        member.get(f"/t/acme/crm/contacts/{revoked['Jana']}")
        with in_app(web_app, commit=False), all_tenants():
            return db.session.scalars(sa.select(AuditEvent).where(
                AuditEvent.tenant_id == acme.id, AuditEvent.action == "crm.contact.viewed")
                .order_by(AuditEvent.seq.desc())).first().details

    withheld = viewed()
    assert withheld["custom_fields"] is True and "special_category" not in withheld
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        special_categories.record(acme.id, special_categories.AgreementData(
            reference="Annex 4", signed_by="Jan Novák, CEO", signed_on=date(2026, 2, 1), categories=["health"],
            scope="Allergies of event guests"), staff=factories.make_staff("dpo"))
    shown = viewed()
    assert shown["custom_fields"] is True and shown["special_category"] is True


def _allergy(web_app, acme):
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        return next(d.id for d in custom_fields.definitions() if d.key == "allergy")


def test_the_mark_stays_on_while_its_values_are_withheld(web_app, admin, acme, revoked):
    allergy = _allergy(web_app, acme)
    unmarked = admin.post(f"/t/acme/settings/custom-fields/{allergy}/edit",
                          data={"label": "Allergy", "key": "allergy", "type": "text"})
    assert unmarked.status_code == 422 and "unmarking would show them again" in unescape(text(unmarked))
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        assert custom_fields.get(allergy).special_category
    assert "Peanuts" not in text(admin.get(f"/t/acme/crm/contacts/{revoked['Jana']}"))


def test_a_merge_does_not_move_a_withheld_value(web_app, member, acme, revoked):
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        keep = contacts.create(contacts.ContactData(first_name="Jana", last_name="Tester")).id
        version = contacts.get(revoked["Jana"]).version
    preview = member.get(f"/t/acme/crm/contacts/merge?keep={keep}&other={revoked['Jana']}")
    assert "special-category values that are withheld" in unescape(text(preview))
    merged = member.post("/t/acme/crm/contacts/merge", data={
        "keep": keep, "other": revoked["Jana"], "keep_version": "1", "other_version": str(version)})
    assert merged.status_code in (409, 422) and "special-category values" in unescape(text(merged))
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        assert contacts.get(revoked["Jana"]) is not None and custom_fields.values_of(keep) == {}


def test_the_audit_trail_withholds_the_value_too(web_app, admin, acme, revoked):
    import sqlalchemy as sa

    from tenantry.platform.audit import AuditEvent
    from tenantry.platform.tenancy import all_tenants

    with in_app(web_app, commit=False), all_tenants():
        event = db.session.scalars(sa.select(AuditEvent.id).where(
            AuditEvent.action == "crm.contact.updated", AuditEvent.target_id == str(revoked["Jana"]))).first()
    page = unescape(text(admin.get(f"/t/acme/audit/events/{event}")))
    assert "Peanuts" not in page and "SMB" in page and "withheld" in page
