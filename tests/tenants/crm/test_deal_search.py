"""Searching deals and activities: a deal by whole words of its title (blind indexes, entity
'deal'), or by its contact or company as their own searches find them; an activity by the
contact, company or deal it is about. Title digests follow every write, and deals saved before
titles were indexed are found by decrypting until the index build catches up."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
import sqlalchemy as sa

from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context
from tenantry.tenants.crm import activities, companies, contacts, deals, index_builds, stages
from tenantry.tenants.crm.models import DEAL, SearchIndex, SearchIndexBuild
from tests.identity.support import in_app, text


def _world(app, tenant) -> dict[str, uuid.UUID]:
    """Two deals (one of Jana's, one of the glassworks'), a third of a restricted person, and
    an activity on each subject."""
    with in_app(app), tenant_context(db.session.get(Tenant, tenant.id)):
        stage = stages.ensure_defaults()[0].id
        jana = contacts.create(contacts.ContactData(first_name="Jana", last_name="Nováková",
                                                    emails=["jana@example.com"]))
        hidden = contacts.create(contacts.ContactData(first_name="Skrytá", last_name="Osoba",
                                                      emails=["skryta@example.com"]))
        glass = companies.create(companies.CompanyData(name="Sklárna Bor", country="CZ", company_number="25596641"))
        db.session.flush()

        def deal(title, **links):
            return deals.create(deals.DealData(title=title, value=Decimal("100"), currency="EUR", stage_id=stage,
                                               **links)).id

        ids = {"jana": jana.id, "hidden": hidden.id, "glass": glass.id,
               "renewal": deal("Roční obnova licencí", contact_id=jana.id),
               "windows": deal("Okna pro showroom", company_id=glass.id),
               "secret": deal("Tajná zakázka", contact_id=hidden.id)}
        for subject, key in (("contact", "jana"), ("company", "glass"), ("deal", "windows"), ("deal", "renewal")):
            ids[f"on-{key}"] = activities.create(subject, ids[key], activities.ActivityData(kind="task")).id
        hidden.restricted_at = sa.func.now()
    return ids


def _titles(client, q: str, **args) -> list[str]:
    html = text(client.get("/t/acme/crm/deals", query_string={"q": q, **args}))
    return [title for title in ("Roční obnova licencí", "Okna pro showroom", "Tajná zakázka") if title in html]


@pytest.mark.parametrize(("q", "found"), [
    ("obnova", ["Roční obnova licencí"]),
    ("ROCNI licenci", ["Roční obnova licencí"]),  # every word, any case and accents
    ("obnova okna", []),
    ("obno", []),  # whole words only
    ("jana@example.com", ["Roční obnova licencí"]),  # its contact's e-mail
    ("novakova", ["Roční obnova licencí"]),  # its contact's name
    ("25596641", ["Okna pro showroom"]),  # its company's ID
    ("bor", ["Okna pro showroom"]),  # its company's name
    ("skryta@example.com", []),  # never through a restricted contact
    ("tajna", ["Tajná zakázka"]),  # the deal itself is not restricted
])
def test_the_deal_list_finds_titles_contacts_and_companies(web_app, member, acme, q, found):
    _world(web_app, acme)
    assert _titles(member, q) == found


def test_a_search_is_recorded_and_carried_to_the_pager_and_the_export(web_app, member, acme):
    ids = _world(web_app, acme)
    html = text(member.get("/t/acme/crm/deals?q=okna"))
    assert 'value="okna"' in html and "/t/acme/crm/deals/export.csv?q=okna" in html
    with in_app(web_app, commit=False), all_tenants():
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "crm.deal.listed")).one()
    assert event.details["ids"] == [str(ids["windows"])] and event.details["search"] is True
    exported = member.get("/t/acme/crm/deals/export.csv?q=okna").get_data(as_text=True)
    assert "Okna pro showroom" in exported and "obnova" not in exported


def test_the_list_names_each_deals_contact_and_company_but_not_a_restricted_one(web_app, member, acme):
    from .conftest import listed_reads

    ids = _world(web_app, acme)
    html = text(member.get("/t/acme/crm/deals"))
    assert f'<a href="/t/acme/crm/contacts/{ids["jana"]}">Jana Nováková</a>' in html
    assert f'<a href="/t/acme/crm/companies/{ids["glass"]}">Sklárna Bor</a>' in html
    assert "Skrytá" not in html and "Restricted contact" in html
    reads = listed_reads(web_app, acme.id)
    assert reads["crm.contact.listed"]["ids"] == [str(ids["jana"])]
    assert reads["crm.company.listed"]["ids"] == [str(ids["glass"])]


def test_the_deal_page_links_its_contact_but_not_a_restricted_one(web_app, member, acme):
    ids = _world(web_app, acme)
    shown = text(member.get(f"/t/acme/crm/deals/{ids['renewal']}"))
    assert f'<dd><a href="/t/acme/crm/contacts/{ids["jana"]}">Jana Nováková</a></dd>' in shown
    hidden = text(member.get(f"/t/acme/crm/deals/{ids['secret']}"))
    assert "Skrytá" not in hidden and '<dd><span class="muted">Restricted contact</span></dd>' in hidden
    assert f"/crm/contacts/{ids['hidden']}" not in hidden  # the label is not a way to the restricted person


def _title_digests(app, deal_id) -> int:
    with in_app(app, commit=False), all_tenants():
        return db.session.execute(sa.select(sa.func.count()).select_from(SearchIndex).where(
            SearchIndex.entity == DEAL, SearchIndex.row_id == deal_id)).scalar_one()


def test_title_digests_follow_edits_and_go_with_the_deal(web_app, member, acme):
    ids = _world(web_app, acme)
    assert _title_digests(web_app, ids["windows"]) == 3
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        deal = deals.get(ids["windows"])
        deals.update(deal, deals.DealData(title="Dveře", value=deal.value, currency=deal.currency,
                                          stage_id=deal.stage_id, company_id=deal.company_id))
    assert _title_digests(web_app, ids["windows"]) == 1
    assert _titles(member, "okna") == [] and "Dveře" in text(member.get("/t/acme/crm/deals?q=dvere"))
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        deals.delete(deals.get(ids["windows"]))
    assert _title_digests(web_app, ids["windows"]) == 0


def _forget_title_digests(app, tenant_id) -> None:
    """The state a tenant's index was in before titles were indexed."""
    with in_app(app), tenant_context(db.session.get(Tenant, tenant_id)):
        db.session.execute(sa.delete(SearchIndex).where(SearchIndex.entity == DEAL))
        build = db.session.get(SearchIndexBuild, tenant_id) or SearchIndexBuild(tenant_id=tenant_id)
        build.version, build.after_id = index_builds.TAGS, None
        db.session.add(build)


def test_until_titles_are_indexed_the_search_decrypts_them_and_the_rebuild_catches_up(web_app, member, acme):
    ids = _world(web_app, acme)
    _forget_title_digests(web_app, acme.id)
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        assert index_builds.is_current(acme.id, index_builds.TAGS)
        assert not index_builds.is_current(acme.id, index_builds.DEAL_TITLES)
    assert _titles(member, "licenci obnova") == ["Roční obnova licencí"]
    assert _titles(member, "bor") == ["Okna pro showroom"]
    # Contacts are done already: the build goes on with the deals, in batches.
    with in_app(web_app):
        assert index_builds.rebuild(db.session.get(Tenant, acme.id), batch_size=2) == 2
    with in_app(web_app):  # the last deal, then the one company (COMPANY_IDS)
        assert index_builds.rebuild(db.session.get(Tenant, acme.id), batch_size=2) == 2
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        assert index_builds.is_current(acme.id, index_builds.DEAL_TITLES)
    for _ in range(10):  # then the later passes (names' joined words), until none is left
        with in_app(web_app):
            if not index_builds.rebuild(db.session.get(Tenant, acme.id), batch_size=2):
                break
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        assert index_builds.is_current(acme.id)
    assert all(_title_digests(web_app, ids[key]) > 0 for key in ("renewal", "windows", "secret"))
    assert _titles(member, "licenci obnova") == ["Roční obnova licencí"]


def test_a_new_workspace_has_a_current_index_from_the_start(app, app_ctx):
    from tenantry.tenants import signup
    from tests import factories

    tenant = signup.create_tenant(slug="fresh", name="Fresh", country="CZ", jurisdiction="gdpr",
                                  owner=factories.make_user("fresh@example.com"))
    db.session.commit()
    with tenant_context(tenant):
        assert index_builds.is_current(tenant.id)  # nothing saved before any digest existed
    assert index_builds.rebuild(tenant) == 0
