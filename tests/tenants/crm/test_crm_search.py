"""One search over the CRM, from the top bar of every workspace page: contacts, companies and
deals at once, by the lists' own blind-index search, the first five of each with a link to all
of them in their list; what it shows is recorded as reads; restricted contacts stay out; a
viewer may search; an empty query shows only the form."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from tenantry.platform import clock
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import companies, contacts, deals, stages
from tests.identity.support import in_app, text
from tests.tenants.crm.conftest import listed_reads, signed_in


def _seed(web_app, acme) -> dict:
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        firm = companies.create(companies.CompanyData(name="Kovárna Novák s.r.o.", country="CZ", company_number="27082440"))
        people = [contacts.create(contacts.ContactData(first_name=first, last_name="Novák",
                                                       emails=[f"{first.lower()}@novak.example.com"]))
                  for first in ("Adam", "Bára", "Cyril", "Dana", "Emil", "Filip", "Gita")]
        hidden = contacts.create(contacts.ContactData(first_name="Hana", last_name="Nováková"))
        hidden.restricted_at = clock.now()
        other = contacts.create(contacts.ContactData(first_name="Jana", last_name="Svobodová",
                                                     emails=["jana@svoboda.example.com"]))
        gates = deals.create(deals.DealData(title="Gates for Novák", value=Decimal("120000"), currency="CZK",
                                            stage_id=stages.ensure_defaults()[0].id))
        return {"firm": firm.id, "people": [p.id for p in people], "hidden": hidden.id, "other": other.id,
                "gates": gates.id}


def _section(html: str, heading: str) -> str:
    return html.split(f">{heading} <span", 1)[1].split("</section>", 1)[0]


@pytest.mark.obligation("DPA-B.monitoring")
def test_one_search_finds_contacts_companies_and_deals_and_records_what_it_shows(web_app, member, acme):
    w = _seed(web_app, acme)
    html = text(member.get("/t/acme/crm/search?q=novak"))
    contacts_found = _section(html, "Contacts")
    assert '>Contacts <span class="muted">(7)</span></h2>' in html
    shown = re.findall(r'href="/t/acme/crm/contacts/([0-9a-f-]{36})"', contacts_found)
    assert len(shown) == 5 and str(w["hidden"]) not in html  # the restricted contact is not found
    assert "Adam Novák" in contacts_found and "adam@novak.example.com" in contacts_found
    assert '<a href="/t/acme/crm/contacts?q=novak">All 7 contacts matching “novak”</a>' in contacts_found
    companies_found = _section(html, "Companies")
    assert f'href="/t/acme/crm/companies/{w["firm"]}">Kovárna Novák s.r.o.</a>' in companies_found
    assert "27082440" in companies_found and "All " not in companies_found
    deals_found = _section(html, "Deals")
    assert f'href="/t/acme/crm/deals/{w["gates"]}">Gates for Novák</a>' in deals_found
    assert "Lead" in deals_found
    assert 'value="novak"' in html and "Svobodová" not in html

    reads = listed_reads(web_app, acme.id)
    assert sorted(reads["crm.contact.listed"]["ids"]) == sorted(shown)
    assert reads["crm.company.listed"]["ids"] == [str(w["firm"])]
    assert reads["crm.deal.listed"]["ids"] == [str(w["gates"])]
    assert all(d["search"] is True and d["everywhere"] is True for d in reads.values())


def test_exact_matches_and_nothing_found(web_app, acme):
    w = _seed(web_app, acme)
    viewer = signed_in(web_app, acme, "viewer")  # reading is all a search does
    by_email = text(viewer.get("/t/acme/crm/search", query_string={"q": "JANA@svoboda.example.com"}))
    assert re.findall(r'href="/t/acme/crm/contacts/([0-9a-f-]{36})"', by_email) == [str(w["other"])]
    by_number = text(viewer.get("/t/acme/crm/search?q=27082440"))
    assert f'/t/acme/crm/companies/{w["firm"]}"' in by_number
    nothing = text(viewer.get("/t/acme/crm/search?q=zzz"))
    assert "No contact matches." in nothing and "No company matches." in nothing and "No deal matches." in nothing
    assert listed_reads(web_app, acme.id).keys() == {"crm.contact.listed", "crm.company.listed"}


def test_the_top_bar_searches_from_every_page_and_an_empty_query_shows_the_form(web_app, member, acme):
    dashboard = text(member.get("/t/acme/"))
    assert '<form method="get" action="/t/acme/crm/search" class="topbar-search" role="search"' in dashboard
    assert '<label for="topbar-q" class="visually-hidden">Search contacts, companies and deals</label>' in dashboard
    assert '<a class="topbar-search-link" href="/t/acme/crm/search">Search</a>' in dashboard
    empty = text(member.get("/t/acme/crm/search?q=+"))
    assert 'id="search-q"' in empty and "autofocus" in empty and "topbar-q" not in empty
    assert "Contacts <span" not in empty and listed_reads(web_app, acme.id) == {}
    long = member.get("/t/acme/crm/search", query_string={"q": "x" * 5000})
    assert long.status_code == 200
