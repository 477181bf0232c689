"""Merging a contact or a company with any other, not only a possible duplicate: the record's
page links a form that chooses the other (a select while the workspace is small, a search box
beyond) and opens the merge preview; no choice, the record itself, or text that finds no single
record is an error next to the field; viewers and restricted contacts cannot; what the select
names is a read; the merge page's Cancel leads back to where it was opened."""

from __future__ import annotations

import re
from html import unescape

import pytest

from tenantry.platform import clock
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import companies, contacts, pickers
from tenantry.tenants.crm.models import Contact
from tests.identity.support import in_app, text

from .conftest import listed_reads, signed_in


@pytest.fixture
def records(web_app, acme):
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        def person(**values):
            return contacts.create(contacts.ContactData(**values)).id

        ids = {"jana": person(first_name="Jana", last_name="Nováková", emails=["jana@example.cz"]),
               "jn": person(first_name="J.", last_name="Novaková", emails=["jn@firma.cz"]),
               "petr": person(first_name="Petr", last_name="Nový", emails=["petr@example.cz"]),
               "hidden": person(first_name="Skrytá", emails=["s@example.cz"])}
        db.session.get(Contact, ids["hidden"]).restricted_at = clock.now()
        ids["zel"] = companies.create(companies.CompanyData(name="Železárny", country="CZ")).id
        ids["znb"] = companies.create(companies.CompanyData(name="ŽNB", country="CZ")).id
        return ids


def test_a_contact_is_merged_with_one_chosen_from_all(web_app, acme, records):
    member = signed_in(web_app, acme, "member")
    page = text(member.get(f"/t/acme/crm/contacts/{records['jana']}"))
    assert f'href="/t/acme/crm/contacts/{records["jana"]}/merge-with">Merge with…</a>' in page
    form = member.get(f"/t/acme/crm/contacts/{records['jana']}/merge-with")
    assert form.status_code == 200
    html = unescape(text(form))
    assert "Merge Jana Nováková with another contact" in html
    assert f'<option value="{records["jn"]}">J. Novaková</option>' in html and "Petr Nový" in html
    assert f'value="{records["jana"]}"' not in html and "Skrytá" not in html  # itself; restricted
    assert listed_reads(web_app, acme.id)["crm.contact.listed"]["form"] is True
    chosen = member.get(f"/t/acme/crm/contacts/{records['jana']}/merge-with", query_string={"other": records["jn"]})
    assert chosen.status_code == 302
    assert chosen.headers["Location"].endswith(
        f"/crm/contacts/merge?keep={records['jana']}&other={records['jn']}&from={records['jana']}")
    assert member.get(chosen.headers["Location"]).status_code == 200


def _cancel(html: str) -> str:
    return re.search(r'<a href="([^"]+)">Cancel</a>', html).group(1)


def _swap(html: str) -> str:
    return unescape(re.search(r'<a href="([^"]+)">Keep [^<]+ instead</a>', html).group(1))


def test_cancel_leads_back_where_the_merge_was_opened_also_after_a_swap(web_app, acme, records):
    member = signed_in(web_app, acme, "member")
    jana, jn = records["jana"], records["jn"]
    opened = member.get(member.get(f"/t/acme/crm/contacts/{jana}/merge-with",
                                   query_string={"other": jn}).headers["Location"])
    html = text(opened)
    assert _cancel(html) == f"/t/acme/crm/contacts/{jana}"
    swapped = text(member.get(_swap(html)))  # J. Novaková kept now: Cancel still leads back to Jana
    assert "Merge Jana Nováková into J. Novaková" in unescape(swapped) and _cancel(swapped) == f"/t/acme/crm/contacts/{jana}"
    # Opened from the possible duplicates, or from nowhere known.
    listed = text(member.get("/t/acme/crm/contacts/merge", query_string={"keep": jana, "other": jn, "from": "duplicates"}))
    assert _cancel(listed) == "/t/acme/crm/contacts/duplicates" and "from=duplicates" in _swap(listed)
    bare = text(member.get("/t/acme/crm/contacts/merge", query_string={"keep": jn, "other": jana, "from": "elsewhere"}))
    assert _cancel(bare) == f"/t/acme/crm/contacts/{jn}"
    # A refused merge's page keeps the way back, and names it.
    refused = member.post("/t/acme/crm/contacts/merge", data={
        "keep": jana, "other": jana, "from": str(jana), "keep_version": "1", "other_version": "1"})
    assert refused.status_code == 422
    assert f'<a href="/t/acme/crm/contacts/{jana}">Back to Jana Nováková</a>' in unescape(text(refused))
    company = text(member.get("/t/acme/crm/companies/merge", query_string={
        "keep": records["zel"], "other": records["znb"], "from": records["znb"]}))
    assert _cancel(company) == f"/t/acme/crm/companies/{records['znb']}"


@pytest.mark.parametrize(("other", "message"), [
    ("", "Choose the contact to merge with Jana Nováková."),
    ("SELF", "Choose another contact than Jana Nováková."),
    ("HIDDEN", "Choose one of this workspace's contacts."),
])
def test_no_choice_itself_or_a_restricted_contact_is_an_error_next_to_the_field(web_app, acme, records, other,
                                                                                 message):
    member = signed_in(web_app, acme, "member")
    other = {"SELF": records["jana"], "HIDDEN": records["hidden"]}.get(other, other)
    refused = member.get(f"/t/acme/crm/contacts/{records['jana']}/merge-with", query_string={"other": other})
    assert refused.status_code == 422
    html = unescape(text(refused))
    assert message in html and 'aria-invalid="true"' in html


def test_beyond_a_select_the_other_is_found_by_what_is_typed(web_app, acme, records, monkeypatch):
    monkeypatch.setattr(pickers, "SELECT_UP_TO", 1)
    member = signed_in(web_app, acme, "member")
    path = f"/t/acme/crm/contacts/{records['jana']}/merge-with"
    box = text(member.get(path))
    assert 'name="other_search"' in box and "Petr" not in box  # no list of names in the page
    found = member.get(path, query_string={"other": "", "other_search": "petr@example.cz"})
    assert found.status_code == 302 and f"other={records['petr']}&" in found.headers["Location"]
    several = member.get(path, query_string={"other": "", "other_search": "Nováková"})
    assert several.status_code == 422 and "2 contacts match “Nováková”" in unescape(text(several))
    itself = member.get(path, query_string={"other": "", "other_search": "jana@example.cz"})
    assert itself.status_code == 422 and "Choose another contact than Jana Nováková." in unescape(text(itself))


def test_a_company_is_merged_with_one_chosen_from_all(web_app, acme, records):
    member = signed_in(web_app, acme, "member")
    assert f"/crm/companies/{records['zel']}/merge-with" in text(member.get(f"/t/acme/crm/companies/{records['zel']}"))
    html = unescape(text(member.get(f"/t/acme/crm/companies/{records['zel']}/merge-with")))
    assert "Merge Železárny with another company" in html and "ŽNB" in html
    chosen = member.get(f"/t/acme/crm/companies/{records['zel']}/merge-with", query_string={"other": records["znb"]})
    assert chosen.headers["Location"].endswith(
        f"/crm/companies/merge?keep={records['zel']}&other={records['znb']}&from={records['zel']}")


def test_viewers_and_restricted_contacts_cannot(web_app, acme, records):
    viewer = signed_in(web_app, acme, "viewer")
    assert "Merge with" not in text(viewer.get(f"/t/acme/crm/contacts/{records['jana']}"))
    assert viewer.get(f"/t/acme/crm/contacts/{records['jana']}/merge-with").status_code == 403
    assert viewer.get(f"/t/acme/crm/companies/{records['zel']}/merge-with").status_code == 403
    member = signed_in(web_app, acme, "member")
    assert member.get(f"/t/acme/crm/contacts/{records['hidden']}/merge-with").status_code == 409
