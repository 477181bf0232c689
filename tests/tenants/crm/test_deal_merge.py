"""Merging two deals that are one: "Merge with…" on a deal's page chooses the other (a select
while the workspace is small, a search box beyond); the preview shows both and the result; the
merge keeps the kept deal's title, value and stage, takes the other's contact, company, owner
and close date where it has none, moves the other's activities and deletes it, audited; a stale
page, the same deal twice, a restricted contact, viewers and another workspace's deal merge
nothing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from html import unescape

import pytest
import sqlalchemy as sa

from tenantry.platform import clock
from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context
from tenantry.tenants.crm import activities, companies, contacts, deals, pickers, stages
from tenantry.tenants.crm.models import Activity, Contact, Deal
from tests.identity.support import in_app, new_member, new_tenant, text

from .conftest import listed_reads, signed_in


@pytest.fixture
def pair(web_app, acme) -> dict:
    """"Okna" twice: once with a value and a stage, once with Jana, the glassworks, an owner, a
    close date and a call."""
    return _pair(web_app, acme)


def _pair(web_app, tenant) -> dict:
    olga = new_member(web_app, tenant, "member", email=f"olga@{tenant.slug}.example.com")
    with in_app(web_app), tenant_context(db.session.get(Tenant, tenant.id)):
        lead, qualified, *_rest = stages.ensure_defaults()
        jana = contacts.create(contacts.ContactData(first_name="Jana", last_name="Nováková"))
        glass = companies.create(companies.CompanyData(name="Sklárna Bor", country="CZ"))
        db.session.flush()
        keep = deals.create(deals.DealData(title="Okna pro showroom", value=Decimal("125000"), currency="CZK",
                                           stage_id=qualified.id, probability=60))
        other = deals.create(deals.DealData(title="Okna showroom", value=Decimal("90000"), currency="CZK",
                                            stage_id=lead.id, expected_close=date(2027, 3, 31), contact_id=jana.id,
                                            company_id=glass.id, owner_id=olga.id))
        call = activities.create("deal", other.id, activities.ActivityData(kind="call", note="Asked for a quote"))
        return {"keep": keep.id, "other": other.id, "jana": jana.id, "glass": glass.id, "olga": olga.id,
                "call": call.id, "qualified": qualified.id}


def test_a_deal_is_merged_with_one_chosen_on_its_page(web_app, acme, pair):
    member = signed_in(web_app, acme, "member")
    page = text(member.get(f"/t/acme/crm/deals/{pair['keep']}"))
    assert f'href="/t/acme/crm/deals/{pair["keep"]}/merge-with">Merge with…</a>' in page
    chooser = unescape(text(member.get(f"/t/acme/crm/deals/{pair['keep']}/merge-with")))
    assert "Merge Okna pro showroom with another deal" in chooser
    assert f'<option value="{pair["other"]}">Okna showroom</option>' in chooser
    assert f'<option value="{pair["keep"]}"' not in chooser  # not itself
    chosen = member.get(f"/t/acme/crm/deals/{pair['keep']}/merge-with", query_string={"other": pair["other"]})
    assert chosen.status_code == 302
    preview = unescape(text(member.get(chosen.headers["Location"])))
    assert "Merge Okna showroom into Okna pro showroom" in preview
    for label, result in (("Value", "125,000.00 CZK"), ("Stage", "Qualified"), ("Expected close", "2027-03-31"),
                          ("Contact", "Jana Nováková"), ("Company", "Sklárna Bor")):
        assert f'<th scope="row" role="rowheader" class="card-title">{label}</th>' in preview
        assert f'data-label="Result" class="merge-value merge-result">{result}</td>' in preview
    assert "1 activity of Okna showroom moves to Okna pro showroom." in preview
    assert f'<a href="/t/acme/crm/deals/{pair["keep"]}">Cancel</a>' in preview
    assert listed_reads(web_app, acme.id)["crm.contact.listed"]["merge"] is True

    merged = member.post("/t/acme/crm/deals/merge", data={
        "keep": pair["keep"], "other": pair["other"], "keep_version": "1", "other_version": "1"})
    assert merged.status_code == 302 and merged.headers["Location"].endswith(f"/crm/deals/{pair['keep']}")
    assert "Okna showroom merged into Okna pro showroom." in unescape(text(member.get(merged.headers["Location"])))
    assert member.get(f"/t/acme/crm/deals/{pair['other']}").status_code == 404
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        kept = db.session.get(Deal, pair["keep"])
        assert (kept.reveal("title"), kept.value, kept.stage_id) == ("Okna pro showroom", Decimal("125000"),
                                                                      pair["qualified"])
        assert (kept.contact_id, kept.company_id, kept.owner_id) == (pair["jana"], pair["glass"], pair["olga"])
        assert kept.expected_close == date(2027, 3, 31)
        assert kept.probability == 60  # its own chance stays with its stage
        assert db.session.get(Activity, pair["call"]).deal_id == kept.id
    with in_app(web_app, commit=False), all_tenants():
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "crm.deal.merged")).one()
        assert event.target_id == str(pair["keep"])
        assert event.details == {"merged_deal_id": str(pair["other"]), "activities_moved": 1}
        deleted = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "crm.deal.deleted")).one()
        assert deleted.target_id == str(pair["other"])


def test_beyond_a_select_the_other_deal_is_found_by_a_word_of_its_title(web_app, acme, pair, monkeypatch):
    monkeypatch.setattr(pickers, "SELECT_UP_TO", 1)
    member = signed_in(web_app, acme, "member")
    path = f"/t/acme/crm/deals/{pair['keep']}/merge-with"
    assert 'name="other_search"' in text(member.get(path))
    found = member.get(path, query_string={"other": "", "other_search": "Nováková"})  # its contact
    assert found.status_code == 302 and f"other={pair['other']}&" in found.headers["Location"]
    lookup = member.get("/t/acme/crm/deals/lookup", query_string={"q": "okna"}).get_json()
    assert lookup["total"] == 2 and {i["label"] for i in lookup["items"]} == {"Okna pro showroom", "Okna showroom"}


def test_a_stale_page_the_same_deal_twice_or_a_restricted_contact_merge_nothing(web_app, acme, pair):
    member = signed_in(web_app, acme, "member")
    form = {"keep": pair["keep"], "other": pair["other"], "keep_version": "1", "other_version": "1"}
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        deals.set_column(db.session.get(Deal, pair["other"]), "owner_id", None, via="bulk")
    stale = member.post("/t/acme/crm/deals/merge", data=form)
    assert stale.status_code == 409 and "was changed after you opened this page" in text(stale)
    same = member.post("/t/acme/crm/deals/merge", data={**form, "other": pair["keep"]})
    assert same.status_code == 422 and "Choose two different deals to merge." in text(same)
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        db.session.get(Contact, pair["jana"]).restricted_at = clock.now()
    held = member.get(f"/t/acme/crm/deals/merge?keep={pair['keep']}&other={pair['other']}")
    assert held.status_code == 409 and "contact is restricted cannot be merged" in text(held)
    assert "Jana" not in text(held) and "Restricted contact" in text(held)
    refused = member.post("/t/acme/crm/deals/merge", data={**form, "other_version": "2"})
    assert refused.status_code == 422
    with in_app(web_app, commit=False), all_tenants():
        assert db.session.get(Deal, pair["other"]) is not None
        assert db.session.get(Activity, pair["call"]).deal_id == pair["other"]
        assert db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "crm.deal.merged")).all() == []


def test_viewers_and_another_workspace_s_deal_cannot(web_app, acme, pair):
    viewer = signed_in(web_app, acme, "viewer")
    assert "Merge with" not in text(viewer.get(f"/t/acme/crm/deals/{pair['keep']}"))
    assert viewer.get(f"/t/acme/crm/deals/{pair['keep']}/merge-with").status_code == 403
    assert viewer.post("/t/acme/crm/deals/merge", data={"keep": pair["keep"], "other": pair["other"]}).status_code == 403
    theirs = _pair(web_app, new_tenant(web_app, "globex", country="CZ"))
    member = signed_in(web_app, acme, "member")
    assert member.get(f"/t/acme/crm/deals/merge?keep={pair['keep']}&other={theirs['other']}").status_code == 404
    refused = member.get(f"/t/acme/crm/deals/{pair['keep']}/merge-with", query_string={"other": theirs["other"]})
    assert refused.status_code == 422 and "Choose one of this workspace&#39;s deals." in text(refused)


def test_the_other_deal_s_owner_deactivated_since_is_not_carried_over(web_app, acme, pair):
    from tenantry.platform.identity.models import Membership

    with in_app(web_app), all_tenants():
        db.session.execute(sa.update(Membership).where(Membership.user_id == pair["olga"])
                           .values(deactivated_at=clock.now()))
    member = signed_in(web_app, acme, "member")
    merged = member.post("/t/acme/crm/deals/merge", data={
        "keep": pair["keep"], "other": pair["other"], "keep_version": "1", "other_version": "1"})
    assert merged.status_code == 302
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        kept = db.session.get(Deal, pair["keep"])
        assert (kept.contact_id, kept.owner_id) == (pair["jana"], None)  # the rest as before; no owner
