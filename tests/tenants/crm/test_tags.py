"""The contact list's tag filter: whole tags through blind indexes (case, accents and spacing
folded), in the web UI, the API and the CSV export, written by every path that writes
contacts, and the resumable rebuild that gives contacts saved before it their tag digests."""

from __future__ import annotations

import io
import re
import uuid

import pytest
import sqlalchemy as sa

from tenantry.platform import clock, cron
from tenantry.platform.crypto import fields
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, TenantStatus, all_tenants, tenant_context
from tenantry.tenants.crm import contacts, index_builds, search
from tenantry.tenants.crm.models import CONTACT, Contact, SearchIndex, SearchIndexBuild
from tests.factories import make_tenant
from tests.identity.support import field_errors, in_app, new_tenant, text
from tests.tenants.crm.conftest import signed_in

TAG_LINK = re.compile(r'<a class="badge badge-link" href="/t/acme/crm/contacts\?tag=([^"]+)"')


def _names(client, **args) -> list[str]:
    response = client.get("/t/acme/crm/contacts", query_string=args)
    assert response.status_code == 200
    return [re.sub(r"\s+", " ", name).strip()
            for name in re.findall(r'<a href="/t/acme/crm/contacts/[0-9a-f-]{36}">(.*?)</a>', text(response))]


def _people(app, tenant_id, *people: tuple[str, list[str]]) -> dict[str, uuid.UUID]:
    """Contacts named `first` with `tags`, saved through the service; their ids by first name."""
    with in_app(app), tenant_context(db.session.get(Tenant, tenant_id)):
        made = {first: contacts.create(contacts.ContactData(first_name=first, last_name="Tester", tags=tags))
                for first, tags in people}
        return {first: c.id for first, c in made.items()}


def _current(app, tenant_id) -> None:
    with in_app(app):
        index_builds.rebuild(db.session.get(Tenant, tenant_id))


def _tag_digests(tenant_id) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(SearchIndex).where(
        SearchIndex.tenant_id == tenant_id, SearchIndex.kind == "tag")).scalar()


def test_a_tag_is_normalised_whole_for_its_blind_index():
    assert fields.normalise_tag("  VÍP \t Client ") == "vip client"
    assert fields.normalise_tag("Zákazník") == "zakaznik"
    for empty in ("", "   ", "\u0301"):
        with pytest.raises(ValueError):
            fields.normalise_tag(empty)


@pytest.mark.obligation("DPA-B.pseudonymisation")
def test_the_list_filters_by_a_whole_tag_ignoring_case_accents_and_spacing(web_app, member, acme):
    _people(web_app, acme.id, ("Jana", ["VIP client", "fair"]), ("Petr", ["vip"]), ("Karel", []))
    _current(web_app, acme.id)
    assert _names(member, tag="víp  CLIENT") == ["Jana Tester"]
    assert _names(member, tag="VIP") == ["Petr Tester"]  # whole tags: "vip" is not "VIP client"
    assert _names(member, tag="vi") == []
    assert _names(member, tag="   ") == ["Jana Tester", "Karel Tester", "Petr Tester"]
    assert _names(member, tag="\u0301") == []
    combined = _names(member, tag="fair", q="jana")
    assert combined == ["Jana Tester"] and _names(member, tag="fair", q="petr") == []

    page = text(member.get("/t/acme/crm/contacts", query_string={"tag": "fair"}))
    assert '<label for="tag">Tag</label>' in page and 'id="tag" value="fair"' in page
    # The export carries the filter, so "Export CSV" downloads what the list shows.
    assert re.search(r'href="/t/acme/crm/contacts/export\.csv\?[^"]*tag=fair', page), page
    # Each tag badge is a link to the contacts carrying it.
    everyone = text(member.get("/t/acme/crm/contacts"))
    assert sorted(TAG_LINK.findall(everyone)) == ["VIP+client", "fair", "vip"]
    assert 'aria-label="Contacts tagged VIP client"' in everyone
    assert "No contact matches." in text(member.get("/t/acme/crm/contacts", query_string={"tag": "none"}))
    # Reading is a viewer's right, filtering included.
    assert _names(signed_in(web_app, acme, "viewer"), tag="vip") == ["Petr Tester"]


def test_the_filter_pages_through_the_tagged_contacts_only(web_app, member, acme):
    _people(web_app, acme.id, *[(f"T{i:02d}", ["bulk"]) for i in range(27)], ("Other", ["single"]))
    _current(web_app, acme.id)
    first, second = _names(member, tag="bulk"), _names(member, tag="bulk", page=2)
    assert len(first) == 25 and len(second) == 2 and "Other Tester" not in first + second
    page = text(member.get("/t/acme/crm/contacts", query_string={"tag": "bulk"}))
    assert "27 contacts." in page and re.search(r'href="[^"]*page=2[^"]*"', page)
    assert "tag=bulk" in re.search(r'href="([^"]*page=2[^"]*)"', page).group(1)


def test_the_contact_page_links_its_tags_to_the_filtered_list(web_app, member, acme):
    ids = _people(web_app, acme.id, ("Jana", ["Nový zákazník"]))
    page = text(member.get(f"/t/acme/crm/contacts/{ids['Jana']}"))
    assert 'href="/t/acme/crm/contacts?tag=Nov%C3%BD+z%C3%A1kazn%C3%ADk"' in page


@pytest.mark.obligation("DSR-restrict")
def test_restricted_contacts_and_another_tenants_contacts_never_show(web_app, member, acme):
    ids = _people(web_app, acme.id, ("Jana", ["vip"]), ("Hidden", ["vip"]))
    globex = new_tenant(web_app, "globex", country="CZ")
    _people(web_app, globex.id, ("Foreign", ["vip"]))
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        db.session.get(Contact, ids["Hidden"]).restricted_at = clock.now()
    for tenant_id in (acme.id, globex.id):
        _current(web_app, tenant_id)
    assert _names(member, tag="vip") == ["Jana Tester"]
    export = member.get("/t/acme/crm/contacts/export.csv", query_string={"tag": "VIP"})
    assert export.status_code == 200
    body = export.get_data(as_text=True)
    assert "Jana" in body and "Hidden" not in body and "Foreign" not in body


def test_the_csv_export_honours_the_tag(web_app, member, acme):
    _people(web_app, acme.id, ("Jana", ["vip"]), ("Petr", ["fair"]))
    _current(web_app, acme.id)
    export = member.get("/t/acme/crm/contacts/export.csv", query_string={"tag": "Fair"})
    assert export.status_code == 200
    rows = export.get_data(as_text=True).splitlines()
    assert len(rows) == 2 and "Petr" in rows[1] and not any("Jana" in r for r in rows)


def test_a_tag_longer_than_the_filter_takes_is_refused_next_to_its_field(web_app, member, acme):
    response = member.post("/t/acme/crm/contacts/new", data={
        "first_name": "Jana", "last_name": "Nováková", "company": "", "tags": "vip, " + "x" * 101})
    assert response.status_code == 422
    assert any("at most 100 characters" in e for e in field_errors(text(response), "tags")), text(response)
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        assert contacts.count(acme.id) == 0 and _tag_digests(acme.id) == 0


def test_saving_a_contact_writes_and_replaces_its_tag_digests(web_app, acme):
    ids = _people(web_app, acme.id, ("Jana", ["vip", "Fair"]))
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        assert db.session.scalars(search.tagged(CONTACT, "FAIR")).all() == [ids["Jana"]]
        jana = db.session.get(Contact, ids["Jana"])
        contacts.update(jana, contacts.ContactData(first_name="Jana", last_name="Tester", tags=["gold"]))
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        assert db.session.scalars(search.tagged(CONTACT, "fair")).all() == []
        assert db.session.scalars(search.tagged(CONTACT, "Gold")).all() == [ids["Jana"]]
        contacts.delete(db.session.get(Contact, ids["Jana"]))
        assert _tag_digests(acme.id) == 0


def test_a_csv_import_writes_tag_digests(web_app, member, acme):
    data = "First name,Surname,Tags\r\nJana,Nováková,\"vip, Veletrh 2026\"\r\nPetr,Novák,\r\n".encode()
    response = member.post("/t/acme/crm/contacts/import", data={"file": (io.BytesIO(data), "people.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 302, text(response)
    assert member.post(response.headers["Location"] + "/commit", data={"mode": "all"}).status_code == 302
    _current(web_app, acme.id)  # nothing to rebuild: the import wrote the digests
    assert _names(member, tag="veletrh 2026") == ["Jana Nováková"]
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        assert _tag_digests(acme.id) == 2


def _forget_tag_digests(app, tenant_id) -> None:
    """The state a tenant's index was in before tags were indexed."""
    with in_app(app), tenant_context(db.session.get(Tenant, tenant_id)):
        db.session.execute(sa.delete(SearchIndex).where(SearchIndex.tenant_id == tenant_id,
                                                        SearchIndex.kind == "tag"))
        db.session.execute(sa.delete(SearchIndexBuild).where(SearchIndexBuild.tenant_id == tenant_id))


def test_until_the_index_is_rebuilt_the_filter_decrypts_and_misses_nothing(web_app, member, acme):
    _people(web_app, acme.id, ("Jana", ["VIP"]), ("Petr", ["fair"]))
    _forget_tag_digests(web_app, acme.id)
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        assert not index_builds.is_current(acme.id)
    assert _names(member, tag="vip") == ["Jana Tester"]
    assert _names(member, tag="\u0301") == []

    _current(web_app, acme.id)
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        assert index_builds.is_current(acme.id) and _tag_digests(acme.id) == 2
    assert _names(member, tag="vip") == ["Jana Tester"]


def test_the_rebuild_goes_in_batches_and_resumes_after_the_last_one(app_ctx):
    acme = make_tenant("acme")
    with tenant_context(acme):
        own = {f"t{i}": contacts.create(contacts.ContactData(first_name=f"P{i}", tags=[f"t{i}", "all"])).id
               for i in range(5)}
        made = sorted(own.values())
        db.session.execute(sa.delete(SearchIndex).where(SearchIndex.kind == "tag"))
        names_before = db.session.execute(sa.select(sa.func.count()).select_from(SearchIndex)).scalar()
    db.session.commit()

    assert index_builds.rebuild(acme, batch_size=2) == 2
    with tenant_context(acme):
        build = db.session.get(SearchIndexBuild, acme.id)
        assert build.version == 0 and build.after_id == made[1]
        assert sorted(db.session.scalars(search.tagged(CONTACT, "all"))) == made[:2]
        assert not index_builds.is_current(acme.id)
    # A fresh session, as after a killed worker: the next batch starts after the recorded id.
    db.session.remove()
    acme = db.session.get(Tenant, acme.id)
    assert index_builds.rebuild(acme, batch_size=2) == 2
    # The tags' last contact and the first of the pass that adds names' joined words; then the rest.
    assert [index_builds.rebuild(acme, batch_size=2) for _ in range(4)] == [2, 2, 2, 0]
    with tenant_context(acme):
        build = db.session.get(SearchIndexBuild, acme.id)
        assert build.version == index_builds.INDEX_VERSION and build.after_id is None
        assert sorted(db.session.scalars(search.tagged(CONTACT, "ALL"))) == made
        assert [*db.session.scalars(search.tagged(CONTACT, "t3"))] == [own["t3"]]
        # The other digests were rewritten, not duplicated.
        total = db.session.execute(sa.select(sa.func.count()).select_from(SearchIndex)).scalar()
        assert total == names_before + 10


def test_the_sweep_rebuilds_every_tenant_behind_and_skips_deleted_ones(app_ctx, monkeypatch):
    behind, broken, gone = make_tenant("behind"), make_tenant("broken"), make_tenant("gone")
    for tenant in (behind, broken, gone):
        with tenant_context(tenant):
            contacts.create(contacts.ContactData(first_name="Jana", tags=["vip"]))
    gone.status = TenantStatus.DELETED.value
    db.session.commit()
    real = index_builds.rebuild

    def flaky(tenant, **kw):
        if tenant.slug == "broken":
            raise RuntimeError("the worker lost its database connection")
        return real(tenant, **kw)

    monkeypatch.setattr(index_builds, "rebuild", flaky)
    # One tenant failing does not hold the others back; it is tried again on the next run.
    # Its one contact twice: for its tags, then for its names' joined words.
    assert cron.sweep(clock.now())["crm-search-index"] == 2
    with all_tenants():
        versions = dict(db.session.execute(sa.select(Tenant.slug, SearchIndexBuild.version).join(
            SearchIndexBuild, SearchIndexBuild.tenant_id == Tenant.id)).all())
    assert versions == {"behind": index_builds.INDEX_VERSION}
    monkeypatch.setattr(index_builds, "rebuild", real)
    assert cron.sweep(clock.now())["crm-search-index"] == 2
    assert cron.sweep(clock.now())["crm-search-index"] == 0
    with all_tenants():
        assert db.session.get(SearchIndexBuild, gone.id) is None
