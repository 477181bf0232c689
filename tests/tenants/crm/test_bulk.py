"""Changes to the contacts ticked on the contact list: a tag added or removed (whatever its case
and accents), the contacts put in a company (a select, or a search box beyond), deleted; all or nothing, audited per contact, back to the same list;
refusals next to the form with the boxes still ticked; restricted contacts and another
tenant's never changed; viewers cannot."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from tenantry.platform import audit, clock
from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context
from tenantry.tenants.crm import companies, contacts, pickers
from tenantry.tenants.crm.models import Contact
from tests.identity.support import in_app, new_tenant, text

from .conftest import signed_in


def _people(web_app, tenant) -> dict[str, uuid.UUID]:
    with in_app(web_app), tenant_context(db.session.get(Tenant, tenant.id)):
        made = {
            "jana": contacts.create(contacts.ContactData(first_name="Jana", last_name="Nováková",
                                                         emails=["jana@example.com"], tags=["VIP"])),
            "petr": contacts.create(contacts.ContactData(first_name="Petr", last_name="Svoboda", tags=["Lead"])),
            "eva": contacts.create(contacts.ContactData(first_name="Eva", last_name="Dvořáková")),
            "rita": contacts.create(contacts.ContactData(first_name="Rita", last_name="Restricted")),
        }
        made["rita"].restricted_at = clock.now()
        return {name: c.id for name, c in made.items()}


def _tags(web_app, contact_id) -> list[str] | None:
    with in_app(web_app, commit=False), all_tenants():
        contact = db.session.get(Contact, contact_id)
        return None if contact is None else contact.reveal("tags")


def _events(web_app, action: str) -> list[AuditEvent]:
    with in_app(web_app, commit=False), all_tenants():
        return db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)).all()


def test_a_tag_is_added_to_those_without_it_and_the_list_comes_back_as_it_was(web_app, member, acme):
    ids = _people(web_app, acme)
    before = len(_events(web_app, "crm.contact.updated"))
    answer = member.post("/t/acme/crm/contacts/bulk", data={
        "ids": [str(ids["jana"]), str(ids["petr"])], "action": "tag", "bulk_tag": "  vip ",
        "list_q": "novakova", "list_sort": "newest"})
    assert answer.status_code == 302
    assert answer.headers["Location"].endswith("/t/acme/crm/contacts?q=novakova&sort=newest")
    assert _tags(web_app, ids["jana"]) == ["VIP"]  # carried it already, as the tag filter matches
    assert _tags(web_app, ids["petr"]) == ["Lead", "vip"]
    updated = _events(web_app, "crm.contact.updated")
    assert len(updated) == before + 1 and updated[-1].target_id == str(ids["petr"])
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        assert audit.changes_of(updated[-1]) == {"tags": (["Lead"], ["Lead", "vip"])}  # nothing else touched
    html = text(member.get(answer.headers["Location"]))
    assert "Tag “vip” added to 1 contact (of 2 chosen)." in html
    assert [c for c in contacts_tagged(member, "VIP")] == ["Jana Nováková", "Petr Svoboda"]


def contacts_tagged(client, tag) -> list[str]:
    html = text(client.get("/t/acme/crm/contacts", query_string={"tag": tag}))
    return [name for name in ("Jana Nováková", "Petr Svoboda", "Eva Dvořáková") if f">{name}</a>" in html]


def test_a_tag_is_removed_however_it_was_written(web_app, member, acme):
    ids = _people(web_app, acme)
    answer = member.post("/t/acme/crm/contacts/bulk", data={
        "ids": [str(ids["jana"]), str(ids["eva"])], "action": "untag", "bulk_tag": "víp"}, follow_redirects=True)
    assert "Tag “víp” removed from 1 contact (of 2 chosen)." in text(answer)
    assert _tags(web_app, ids["jana"]) == [] and _tags(web_app, ids["eva"]) == []


def test_the_contacts_ticked_are_deleted_each_audited(web_app, member, acme):
    ids = _people(web_app, acme)
    answer = member.post("/t/acme/crm/contacts/bulk", data={
        "ids": [str(ids["petr"]), str(ids["eva"])], "action": "delete"}, follow_redirects=True)
    assert "2 contacts deleted." in text(answer)
    assert _tags(web_app, ids["petr"]) is None and _tags(web_app, ids["eva"]) is None
    assert _tags(web_app, ids["jana"]) == ["VIP"]
    deleted = {e.target_id for e in _events(web_app, "crm.contact.deleted")}
    assert deleted == {str(ids["petr"]), str(ids["eva"])}


@pytest.mark.parametrize(("form", "field", "message"), [
    ({"action": "tag", "bulk_tag": "x"}, "ids", "Choose at least one contact"),
    ({"action": "tag", "bulk_tag": ""}, "tag", "Type the tag to add or remove."),
    ({"action": "tag", "bulk_tag": "a, b"}, "tag", "One tag at a time"),
    ({"action": "tag", "bulk_tag": "x" * 101}, "tag", "A tag is at most 100 characters."),
    ({"action": "tag", "bulk_tag": "\u0301"}, "tag", "A tag needs at least one letter or digit."),
    ({"action": "explode"}, "action", "Choose what to do"),
    ({"action": "delete", "extra": "rita"}, "ids", "1 contact chosen is restricted and cannot be changed."),
    ({"action": "delete", "extra": "gone"}, "ids", "1 contact chosen is no longer in this workspace."),
    ({"action": "delete", "extra": "not-an-id"}, "ids", "Choose contacts from the list."),
    ({"action": "delete", "extra": "other"}, "ids", "1 contact chosen is no longer in this workspace."),
])
def test_a_refusal_is_shown_next_to_the_form_and_nothing_is_written(web_app, member, acme, form, field, message):
    ids = _people(web_app, acme)
    chosen = [str(ids["petr"])] if field != "ids" or "extra" in form else []
    extra = form.pop("extra", None)
    if extra == "rita":
        chosen.append(str(ids["rita"]))
    elif extra == "gone":
        chosen.append(str(uuid.uuid4()))
    elif extra == "not-an-id":
        chosen.append("x")
    elif extra == "other":
        chosen.append(str(_people(web_app, new_tenant(web_app, "other", country="CZ"))["eva"]))
    before = len(_events(web_app, "crm.contact.updated")) + len(_events(web_app, "crm.contact.deleted"))
    answer = member.post("/t/acme/crm/contacts/bulk", data={**form, "ids": chosen, "list_q": "svoboda"})
    assert answer.status_code == 422
    html = text(answer)
    assert f'<p class="error" id="bulk-{field}-err" role="alert">{message}' in html
    assert 'value="svoboda"' in html  # the list it was sent from
    if chosen and field == "tag":
        assert f'value="{ids["petr"]}" form="bulk" id="pick-{ids["petr"]}" class="pick" checked' in html
        assert 'aria-describedby="bulk-tag-err"' in html
    assert _tags(web_app, ids["petr"]) == ["Lead"]
    assert len(_events(web_app, "crm.contact.updated")) + len(_events(web_app, "crm.contact.deleted")) == before


def test_viewers_get_no_boxes_and_cannot(web_app, acme):
    member = signed_in(web_app, acme, "member")
    ids = _people(web_app, acme)
    viewer = signed_in(web_app, acme, "viewer")
    html = text(viewer.get("/t/acme/crm/contacts"))
    assert "Jana Nováková" in html and 'form="bulk"' not in html and 'id="bulk"' not in html
    assert 'id="bulk"' in text(member.get("/t/acme/crm/contacts"))
    refused = viewer.post("/t/acme/crm/contacts/bulk", data={"ids": [str(ids["eva"])], "action": "delete"})
    assert refused.status_code == 403 and _tags(web_app, ids["eva"]) == []


def _company(web_app, tenant, name: str) -> uuid.UUID:
    with in_app(web_app), tenant_context(db.session.get(Tenant, tenant.id)):
        return companies.create(companies.CompanyData(name=name, country="CZ")).id


def _company_of(web_app, contact_id) -> uuid.UUID | None:
    with in_app(web_app, commit=False), all_tenants():
        return db.session.get(Contact, contact_id).company_id


def test_the_contacts_ticked_are_put_in_a_company_each_audited(web_app, member, acme):
    ids = _people(web_app, acme)
    glass = _company(web_app, acme, "Sklárna Bor")
    page = text(member.get("/t/acme/crm/contacts"))
    assert '<select id="bulk_company" name="bulk_company">' in page and "Set company" in page
    before = len(_events(web_app, "crm.contact.updated"))
    answer = member.post("/t/acme/crm/contacts/bulk", data={
        "ids": [str(ids["petr"]), str(ids["eva"])], "action": "company", "bulk_company": str(glass)})
    assert answer.status_code == 302
    assert "2 contacts put in Sklárna Bor (of 2 chosen)." in text(member.get(answer.headers["Location"]))
    assert _company_of(web_app, ids["petr"]) == glass and _company_of(web_app, ids["jana"]) is None
    updated = _events(web_app, "crm.contact.updated")[before:]
    assert {e.target_id for e in updated} == {str(ids["petr"]), str(ids["eva"])}
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        assert audit.changes_of(updated[0]) == {"company_id": (None, str(glass))}
    again = member.post("/t/acme/crm/contacts/bulk", data={
        "ids": [str(ids["petr"]), str(ids["jana"])], "action": "company", "bulk_company": str(glass)},
        follow_redirects=True)
    assert "1 contact put in Sklárna Bor (of 2 chosen)." in text(again)


@pytest.mark.parametrize(("chosen", "message"), [
    ("", "Choose the company to put the contacts in."),
    ("OTHER", "Choose one of this workspace&#39;s companies."),
])
def test_no_company_or_another_workspace_s_is_refused_next_to_the_choice(web_app, member, acme, chosen, message):
    ids = _people(web_app, acme)
    if chosen == "OTHER":
        chosen = str(_company(web_app, new_tenant(web_app, "other", country="CZ"), "Cizí s.r.o."))
    answer = member.post("/t/acme/crm/contacts/bulk", data={
        "ids": [str(ids["petr"])], "action": "company", "bulk_company": chosen})
    assert answer.status_code == 422
    html = text(answer)
    assert f'<p class="error" id="bulk-company-err" role="alert">{message}' in html
    assert 'aria-describedby="bulk-company-err" aria-invalid="true" id="bulk_company"' in html
    assert _company_of(web_app, ids["petr"]) is None


def test_beyond_a_select_the_company_is_found_by_what_is_typed(web_app, member, acme, monkeypatch):
    monkeypatch.setattr(pickers, "SELECT_UP_TO", 0)
    ids = _people(web_app, acme)
    glass = _company(web_app, acme, "Sklárna Bor")
    page = text(member.get("/t/acme/crm/contacts"))
    assert 'name="bulk_company_search"' in page and "Sklárna" not in page
    none = member.post("/t/acme/crm/contacts/bulk", data={
        "ids": [str(ids["eva"])], "action": "company", "bulk_company": "", "bulk_company_search": "Porcelánka"})
    assert none.status_code == 422 and "No company matches “Porcelánka”." in text(none)
    assert 'value="Porcelánka"' in text(none)  # kept in the box
    found = member.post("/t/acme/crm/contacts/bulk", data={
        "ids": [str(ids["eva"])], "action": "company", "bulk_company": "", "bulk_company_search": "sklarna"})
    assert found.status_code == 302 and _company_of(web_app, ids["eva"]) == glass
