"""Companies with the same company or VAT ID, found through the blind index, and merging two
of them: the company page names them to members, the preview shows both and the result, the
merge keeps one company with every value of both, moves the other's contacts, deals and
activities, deletes the other and is audited; a stale page, the same company twice, viewers
and unknown ids merge nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context
from tenantry.tenants.crm import activities, companies, contacts, deals, stages
from tenantry.tenants.crm.models import Activity, Company, Contact, Deal
from tests.identity.support import in_app, text

from .conftest import listed_reads, signed_in

ICO = "25596641"


@pytest.fixture
def firms(web_app, acme):
    """Železárny and ŽNB (the same IČO, one as its VAT ID too), Sklárna (another IČO); a contact,
    a deal and an activity of ŽNB, a contact of Železárny."""
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        def firm(**values):
            return companies.create(companies.CompanyData(country="CZ", **values)).id

        ids = {
            "zel": firm(name="Železárny Nový Bor s.r.o.", company_number=ICO, address="Náměstí 5, Nový Bor",
                        notes="Supplier"),
            "znb": firm(name="ŽNB", company_number=ICO, vat_id="CZ" + ICO, iban="CZ6508000000192000145399",
                        website="https://znb.example.cz", notes="Pays late"),
            "sklo": firm(name="Sklárna", company_number="27082440"),
        }
        ids["jana"] = contacts.create(contacts.ContactData(first_name="Jana", company_id=ids["znb"])).id
        ids["petr"] = contacts.create(contacts.ContactData(first_name="Petr", company_id=ids["zel"])).id
        lead = stages.ensure_defaults()[0]
        ids["deal"] = deals.create(deals.DealData(title="Okna", value=Decimal("10"), currency="CZK",
                                                  stage_id=lead.id, company_id=ids["znb"])).id
        ids["call"] = activities.create("company", ids["znb"], activities.ActivityData(kind="call", note="Ring")).id
        return ids


def test_a_company_s_page_names_companies_with_its_ids_to_members(web_app, acme, firms):
    member = signed_in(web_app, acme, "member")
    html = text(member.get(f"/t/acme/crm/companies/{firms['zel']}"))
    assert "Possibly the same company, with the same company or VAT ID:" in html
    assert f"/crm/companies/merge?keep={firms['zel']}&amp;other={firms['znb']}" in html
    assert "Sklárna" not in html
    assert listed_reads(web_app, acme.id)["crm.company.listed"]["duplicates"] is True
    assert "Possibly the same company" not in text(member.get(f"/t/acme/crm/companies/{firms['sklo']}"))
    viewer = signed_in(web_app, acme, "viewer")
    assert "Possibly the same company" not in text(viewer.get(f"/t/acme/crm/companies/{firms['zel']}"))


def test_the_possible_duplicates_page_groups_companies_by_their_ids(web_app, acme, firms):
    member = signed_in(web_app, acme, "member")
    assert "/crm/companies/duplicates" in text(member.get("/t/acme/crm/companies"))
    page = member.get("/t/acme/crm/companies/duplicates")
    assert page.status_code == 200
    html = text(page)
    assert "Companies that share a company ID or a VAT ID." in html and "Same company or VAT ID" in html
    assert "<strong>Železárny Nový Bor s.r.o.</strong>" in html and "<strong>ŽNB</strong>" in html
    assert "25596641 · CZ25596641" in html and "Sklárna" not in html
    assert f"/crm/companies/merge?keep={firms['zel']}&amp;other={firms['znb']}" in html
    assert listed_reads(web_app, acme.id)["crm.company.listed"]["duplicates"] is True
    assert signed_in(web_app, acme, "viewer").get("/t/acme/crm/companies/duplicates").status_code == 403
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        companies.delete(db.session.get(Company, firms["znb"]))
    assert "No two companies share a company ID or a VAT ID." in text(member.get("/t/acme/crm/companies/duplicates"))


def test_the_preview_shows_both_and_the_result_and_the_merge_keeps_everything(web_app, acme, firms):
    member = signed_in(web_app, acme, "member")
    preview = member.get(f"/t/acme/crm/companies/merge?keep={firms['zel']}&other={firms['znb']}")
    assert preview.status_code == 200
    html = text(preview)
    assert "Merge ŽNB into Železárny Nový Bor s.r.o." in html
    assert '<td role="cell" data-label="Result" class="merge-value merge-result">Supplier\n\nPays late</td>' in html
    assert '<td role="cell" data-label="Result" class="merge-value merge-result">CZ25596641</td>' in html
    assert "1 contact, 1 deal and 1 activity of ŽNB move to Železárny Nový Bor s.r.o." in html

    form = {"keep": firms["zel"], "other": firms["znb"], "keep_version": "1", "other_version": "1"}
    merged = member.post("/t/acme/crm/companies/merge", data=form)
    assert merged.status_code == 302, text(merged)
    assert merged.headers["Location"].endswith(f"/crm/companies/{firms['zel']}")
    shown = text(member.get(merged.headers["Location"]))
    assert "ŽNB merged into Železárny Nový Bor s.r.o." in shown and "s.r.o.." not in shown
    assert "Possibly the same company" not in shown
    assert member.get(f"/t/acme/crm/companies/{firms['znb']}").status_code == 404
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        kept = db.session.get(Company, firms["zel"])
        plain = kept.plain()
        assert (plain["name"], plain["company_number"], plain["vat_id"]) == ("Železárny Nový Bor s.r.o.", ICO,
                                                                            "CZ" + ICO)
        assert (plain["address"], plain["iban"]) == ("Náměstí 5, Nový Bor", "CZ6508000000192000145399")
        assert plain["notes"] == "Supplier\n\nPays late"
        assert db.session.get(Contact, firms["jana"]).company_id == kept.id
        assert db.session.get(Contact, firms["petr"]).company_id == kept.id
        assert db.session.get(Deal, firms["deal"]).company_id == kept.id
        assert db.session.get(Activity, firms["call"]).company_id == kept.id
    # The other's VAT ID now finds the one kept, and its name finds nothing.
    assert f"/crm/companies/{firms['zel']}" in text(member.get("/t/acme/crm/companies?q=CZ25596641"))
    found = text(member.get("/t/acme/crm/companies?q=ŽNB"))
    assert f"/crm/companies/{firms['znb']}" not in found and f"/crm/companies/{firms['zel']}" not in found
    with in_app(web_app, commit=False), all_tenants():
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "crm.company.merged")).one()
        assert event.target_id == str(firms["zel"])
        assert event.details == {"merged_company_id": str(firms["znb"]), "contacts_moved": 1, "deals_moved": 1,
                                 "activities_moved": 1}
        deleted = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "crm.company.deleted")).one()
        assert deleted.target_id == str(firms["znb"]) and deleted.details["contacts_detached"] == 0


def test_a_stale_page_or_the_same_company_twice_merges_nothing(web_app, acme, firms):
    member = signed_in(web_app, acme, "member")
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        company = db.session.get(Company, firms["znb"])
        companies.update(company, companies.CompanyData(name="ŽNB", country="CZ", company_number=ICO,
                                                        notes="Changed meanwhile"))
    form = {"keep": firms["zel"], "other": firms["znb"], "keep_version": "1", "other_version": "1"}
    refused = member.post("/t/acme/crm/companies/merge", data=form)
    assert refused.status_code == 409
    assert "was changed after you opened this page, so nothing was merged" in text(refused)
    assert "Changed meanwhile" in text(refused)  # the page shows what is saved now
    same = member.post("/t/acme/crm/companies/merge", data={**form, "other": firms["zel"]})
    assert same.status_code == 422 and "Choose two different companies to merge." in text(same)
    assert "Merge into" not in text(same)
    assert member.get(f"/t/acme/crm/companies/merge?keep={firms['zel']}&other={firms['zel']}").status_code == 409
    with in_app(web_app, commit=False), all_tenants():
        assert db.session.get(Company, firms["znb"]) is not None
        assert db.session.get(Contact, firms["jana"]).company_id == firms["znb"]
        assert db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "crm.company.merged")).all() == []


def test_viewers_cannot_merge_companies_and_unknown_ids_are_404(web_app, acme, firms):
    viewer = signed_in(web_app, acme, "viewer")
    pair = {"keep": firms["zel"], "other": firms["znb"]}
    assert viewer.get(f"/t/acme/crm/companies/merge?keep={firms['zel']}&other={firms['znb']}").status_code == 403
    assert viewer.post("/t/acme/crm/companies/merge", data=pair).status_code == 403
    member = signed_in(web_app, acme, "member")
    assert member.get(f"/t/acme/crm/companies/merge?keep={firms['zel']}&other=zz").status_code == 404
    assert member.get(f"/t/acme/crm/companies/merge?keep={firms['zel']}").status_code == 404
    assert member.post("/t/acme/crm/companies/merge",
                       data={**pair, "other": "7e0c9f4e-0000-4000-8000-000000000000"}).status_code == 404


def test_a_company_with_a_restricted_contact_is_not_merged_away(web_app, acme, firms):
    from tenantry.platform import clock

    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        db.session.get(Contact, firms["jana"]).restricted_at = clock.now()
    member = signed_in(web_app, acme, "member")
    form = {"keep": firms["zel"], "other": firms["znb"], "keep_version": "1", "other_version": "1"}
    refused = member.post("/t/acme/crm/companies/merge", data=form)
    assert refused.status_code in (409, 422) and "restricted by a data subject request" in text(refused)
    with in_app(web_app, commit=False), all_tenants():
        jana = db.session.get(Contact, firms["jana"])
        assert (jana.company_id, jana.version) == (firms["znb"], 2)  # as the restriction left her
        assert db.session.get(Company, firms["znb"]) is not None


@pytest.mark.obligation("DSR-restrict")
def test_a_company_with_a_restricted_contact_is_not_deleted(web_app, acme, firms):
    from tenantry.platform import clock

    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        db.session.get(Contact, firms["jana"]).restricted_at = clock.now()
    member = signed_in(web_app, acme, "member")
    refused = member.post(f"/t/acme/crm/companies/{firms['znb']}/delete", follow_redirects=True)
    assert refused.request.path == f"/t/acme/crm/companies/{firms['znb']}"
    assert "1 contact of this company is restricted by a data subject request" in text(refused)
    with in_app(web_app, commit=False), all_tenants():
        jana = db.session.get(Contact, firms["jana"])
        assert (jana.company_id, jana.version) == (firms["znb"], 2)  # as the restriction left her
        assert db.session.get(Company, firms["znb"]) is not None
        assert db.session.get(Activity, firms["call"]) is not None
    gone = member.post(f"/t/acme/crm/companies/{firms['zel']}/delete", follow_redirects=True)
    assert "Its contact stays, without a company." in text(gone)
