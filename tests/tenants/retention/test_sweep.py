"""The retention sweep [TT-retention]: what the preview lists is exactly what the sweep removes;
a row is untouched until its boundary moment; deleting follows the CRM's cascade; anonymising
leaves no personal data (ciphertext columns empty, blind-index rows and custom values gone) and
keeps the aggregates; sweeping twice changes nothing more; a sweep killed half-way is finished
by the next one; every run is one audit event with counts and ids only."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from tenantry.platform import clock
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, all_tenants
from tenantry.tenants.crm.custom_fields import CustomValue
from tenantry.tenants.crm.models import Activity, Company, Contact, Deal, PipelineStage
from tenantry.tenants.lifecycle import cancellation
from tenantry.tenants.retention import service, sweep
from tenantry.tenants.retention.models import AnonymisedRow
from tests.identity.support import T0, flask_cli, in_app, new_tenant
from tests.tenants.retention import support as s

pytestmark = pytest.mark.usefixtures("frozen")

SIX_MONTHS_ON = T0.replace(month=12)  # 2026-12-01 09:00 UTC: six calendar months after T0


@pytest.fixture
def acme(web_app):
    return new_tenant(web_app, "acme")


@pytest.fixture
def other(web_app):
    return new_tenant(web_app, "other")


def test_cutoff_counts_calendar_months_and_clamps_to_the_months_end():
    assert service.cutoff(T0, 6) == T0.replace(year=2025, month=12)
    assert service.cutoff(T0.replace(month=3, day=31), 1) == T0.replace(month=2, day=28)
    assert service.cutoff(T0, 240) == T0.replace(year=2006)
    assert service.cutoff(T0.replace(year=2028, month=3, day=31), 1) == T0.replace(year=2028, month=2, day=29)


@pytest.mark.obligation("TT-retention")
def test_the_preview_lists_exactly_what_the_sweep_then_deletes(web_app, frozen, acme, other):
    old = [s.contact(web_app, acme, first=f"Old{i}") for i in range(3)]
    company = s.company(web_app, acme)
    with_company = s.contact(web_app, acme, first="Employed", company_id=company)
    note = s.activity(web_app, acme, "contact", old[0], note="First call")
    kept_other = s.contact(web_app, other, first="Elsewhere")
    s.rule(web_app, other, "contact_inactive", 1, "delete", enabled=False)
    s.at(frozen, T0 + timedelta(days=60))
    s.activity(web_app, acme, "contact", old[1], note="Still talking")  # old[1] is active again
    fresh = s.contact(web_app, acme, first="Fresh")
    s.at(frozen, SIX_MONTHS_ON)

    preview = s.preview(web_app, acme, "contact_inactive", 6, "delete", SIX_MONTHS_ON)
    assert preview.count == 3
    # All made at the same (frozen) moment: taken by id, as the sweep takes them.
    assert [i.id for i in preview.items] == sorted([old[0], old[2], with_company])
    assert {i.label for i in preview.items} == {"Old0 Nováková", "Old2 Nováková", "Employed Nováková"}

    s.rule(web_app, acme, "contact_inactive", 6, "delete")
    assert s.run_sweep(web_app, SIX_MONTHS_ON) == 3
    remaining = s.ids_of(web_app, Contact)
    assert remaining == {old[1], fresh, kept_other}
    assert set(i.id for i in preview.items).isdisjoint(remaining)
    # The CRM's cascade: the contact's activities and search digests go, its company stays.
    assert s.ids_of(web_app, Activity, Activity.id == note) == set()
    assert all(s.search_rows(web_app, "contact", i) == 0 for i in (old[0], old[2], with_company))
    assert s.search_rows(web_app, "contact", old[1]) > 0
    assert s.ids_of(web_app, Company) == {company}
    [deleted] = [e["target_id"] for e in s.events(web_app, "crm.contact.deleted") if e["target_id"] == str(old[0])]
    assert deleted


@pytest.mark.obligation("TT-retention")
def test_a_row_is_untouched_until_its_boundary_moment(web_app, frozen, acme):
    kept = s.contact(web_app, acme)
    s.rule(web_app, acme, "contact_inactive", 6, "delete")
    day_before = SIX_MONTHS_ON - timedelta(days=1)
    second_before = SIX_MONTHS_ON - timedelta(seconds=1)
    for when in (day_before, second_before):
        s.at(frozen, when)
        assert s.preview(web_app, acme, "contact_inactive", 6, "delete", when).count == 0
        assert s.run_sweep(web_app, when) == 0
        assert s.ids_of(web_app, Contact) == {kept}
    assert s.runs(web_app, acme.id) == []  # nothing due: no run recorded
    s.at(frozen, SIX_MONTHS_ON)
    assert s.run_sweep(web_app, SIX_MONTHS_ON) == 1
    assert s.ids_of(web_app, Contact) == set()


@pytest.mark.obligation("TT-retention")
def test_a_disabled_rule_and_another_tenants_rows_are_left_alone(web_app, frozen, acme, other):
    mine = s.contact(web_app, acme)
    theirs = s.contact(web_app, other)
    s.rule(web_app, acme, "contact_inactive", 1, "delete", enabled=False)
    s.rule(web_app, other, "contact_inactive", 1, "delete")
    s.at(frozen, SIX_MONTHS_ON)
    assert s.run_sweep(web_app, SIX_MONTHS_ON) == 1
    assert s.ids_of(web_app, Contact) == {mine}
    assert theirs not in s.ids_of(web_app, Contact)
    assert s.runs(web_app, acme.id) == []


@pytest.mark.obligation("TT-retention", "DSR-erase")
def test_anonymising_a_contact_leaves_no_personal_data(web_app, frozen, acme):
    person = s.contact(web_app, acme, first="Jana", last="Nováková", email="jana@example.com")
    s.custom_value(web_app, acme, person)
    call = s.activity(web_app, acme, "contact", person, note="Jana's private mobile is 601 111 222")
    won = s.deal(web_app, acme, stage="Won", contact_id=person)
    s.rule(web_app, acme, "contact_inactive", 6, "anonymise")
    assert s.search_rows(web_app, "contact", person) > 0
    s.at(frozen, SIX_MONTHS_ON + timedelta(days=200))  # the deal created at T0 is old too

    assert s.run_sweep(web_app, SIX_MONTHS_ON + timedelta(days=200)) == 1
    row = s.raw_row(web_app, Contact, person)
    assert row is not None  # the row stays, so counts and links stay
    for column in Contact.ENCRYPTED:
        assert row[column] is None, column
    assert s.search_rows(web_app, "contact", person) == 0
    assert s.ids_of(web_app, CustomValue, CustomValue.contact_id == person) == set()
    kept_call = s.raw_row(web_app, Activity, call)
    assert kept_call["note"] is None and kept_call["kind"] == "call" and kept_call["contact_id"] == person
    kept_deal = s.raw_row(web_app, Deal, won)
    assert kept_deal["value"] == 12500.50 or str(kept_deal["value"]).startswith("12500.5")
    with s.as_tenant(web_app, acme):
        from tenantry.tenants.crm import contacts, deals

        assert contacts.display_name(contacts.get(person).plain()) == "(no name)"
        assert deals.get(won).reveal("title") == "Renewal for Jana Nováková"  # deals have their own rules
    [event] = s.events(web_app, "crm.contact.anonymised")
    assert event["target_id"] == str(person) and event["actor_type"] == "system"


@pytest.mark.obligation("TT-retention")
def test_anonymising_companies_deals_and_activities_keeps_the_aggregates(web_app, frozen, acme):
    lonely = s.company(web_app, acme, name="Jan Novák - OSVČ", number="25596641")
    staffed = s.company(web_app, acme, name="Staffed a.s.", number="")
    s.contact(web_app, acme, company_id=staffed)
    closed = s.deal(web_app, acme, stage="Won", company_id=lonely, contact_id=s.contact(web_app, acme, first="Deal"))
    open_deal = s.deal(web_app, acme, stage="Lead")
    on_deal = s.activity(web_app, acme, "deal", open_deal, note="Discussed Jana's divorce")
    blank = s.activity(web_app, acme, "deal", open_deal, note="")
    for condition in ("company_inactive", "deal_closed", "activity_created"):
        s.rule(web_app, acme, condition, 6, "anonymise")
    with s.as_tenant(web_app, acme):
        won_stage = db.session.execute(sa.select(PipelineStage.id).where(PipelineStage.name == "Won")).scalar_one()
    s.at(frozen, SIX_MONTHS_ON)

    previews = {c: s.preview(web_app, acme, c, 6, "anonymise", SIX_MONTHS_ON).count
                for c in ("company_inactive", "deal_closed", "activity_created")}
    assert previews == {"company_inactive": 1, "deal_closed": 1, "activity_created": 1}  # not the empty note
    assert s.run_sweep(web_app, SIX_MONTHS_ON) == 3

    company = s.raw_row(web_app, Company, lonely)
    assert company["country"] == "CZ"
    assert all(company[c] is None for c in Company.ENCRYPTED if c != "name")
    assert s.search_rows(web_app, "company", lonely) == 0
    assert s.search_rows(web_app, "company", staffed) > 0  # has a contact: not due
    deal = s.raw_row(web_app, Deal, closed)
    assert s.search_rows(web_app, "deal", closed) == 0  # its title's words go with the title
    assert s.search_rows(web_app, "deal", open_deal) > 0
    assert deal["stage_id"] == won_stage and deal["currency"] == "CZK" and deal["contact_id"] is None
    assert str(deal["value"]).startswith("12500.5")
    assert s.raw_row(web_app, Activity, on_deal)["note"] is None
    assert s.ids_of(web_app, Activity, Activity.id.in_([on_deal, blank])) == {on_deal, blank}
    with s.as_tenant(web_app, acme):
        from tenantry.tenants.crm import companies, deals

        assert companies.get(lonely).reveal("name") == sweep.COMPANY_PLACEHOLDER
        assert deals.get(closed).reveal("title") == sweep.DEAL_PLACEHOLDER
        assert deals.get(open_deal).reveal("title") == "Renewal for Jana Nováková"  # a lead is not closed


@pytest.mark.obligation("TT-retention")
def test_deleting_deals_and_activities_by_age(web_app, frozen, acme):
    old_deal = s.deal(web_app, acme, stage="Lead")
    old_call = s.activity(web_app, acme, "deal", old_deal)
    person = s.contact(web_app, acme)
    old_note = s.activity(web_app, acme, "contact", person)
    later_task = s.activity(web_app, acme, "contact", person, due_on=date(2027, 3, 1))  # still ahead
    s.at(frozen, T0 + timedelta(days=40))
    new_deal = s.deal(web_app, acme, stage="Lead")
    s.rule(web_app, acme, "deal_created", 6, "delete")
    s.rule(web_app, acme, "activity_created", 6, "delete")
    s.at(frozen, SIX_MONTHS_ON)
    assert s.run_sweep(web_app, SIX_MONTHS_ON) == 3  # activities first (two), then the old deal
    assert s.ids_of(web_app, Deal) == {new_deal}
    assert s.search_rows(web_app, "deal", old_deal) == 0 and s.search_rows(web_app, "deal", new_deal) > 0
    assert s.ids_of(web_app, Activity) == {later_task}
    assert old_call not in s.ids_of(web_app, Activity) and old_note not in s.ids_of(web_app, Activity)
    assert s.ids_of(web_app, Contact) == {person}


@pytest.mark.obligation("TT-retention")
def test_sweeping_twice_gives_the_same_result(web_app, frozen, acme):
    people = [s.contact(web_app, acme, first=f"P{i}") for i in range(4)]
    s.rule(web_app, acme, "contact_inactive", 6, "anonymise")
    s.rule(web_app, acme, "contact_inactive", 12, "delete")
    s.at(frozen, SIX_MONTHS_ON)
    assert s.run_sweep(web_app, SIX_MONTHS_ON) == 4
    after_first = {p: s.raw_row(web_app, Contact, p) for p in people}
    marks = s.ids_of(web_app, Contact, Contact.id.in_(people))
    assert s.run_sweep(web_app, SIX_MONTHS_ON) == 0
    assert s.run_sweep(web_app, SIX_MONTHS_ON + timedelta(days=30)) == 0
    assert {p: s.raw_row(web_app, Contact, p) for p in people} == after_first
    assert s.ids_of(web_app, Contact, Contact.id.in_(people)) == marks
    assert len(s.runs(web_app, acme.id)) == 1
    assert len(s.events(web_app, "crm.contact.anonymised")) == 4
    # Twelve months on the delete rule takes them, anonymised or not, and their marks go too.
    twelve = SIX_MONTHS_ON.replace(year=2027, month=6)
    s.at(frozen, twelve)
    assert s.run_sweep(web_app, twelve) == 4
    assert s.ids_of(web_app, Contact) == set()
    with in_app(web_app, commit=False), all_tenants():
        assert db.session.execute(sa.select(sa.func.count()).select_from(AnonymisedRow)).scalar_one() == 0


@pytest.mark.obligation("TT-retention")
def test_a_contact_edited_after_anonymisation_is_anonymised_again(web_app, frozen, acme):
    person = s.contact(web_app, acme)
    s.rule(web_app, acme, "contact_inactive", 1, "anonymise")
    s.at(frozen, T0 + timedelta(days=40))
    assert s.run_sweep(web_app, T0 + timedelta(days=40)) == 1
    # Anonymised is changed (an integration syncing by changed_at must hear of it), though not
    # edited: updated_at, which the rule counts from, stays.
    row = s.raw_row(web_app, Contact, person)
    assert (clock.aware(row["changed_at"]), clock.aware(row["updated_at"])) == (T0 + timedelta(days=40), T0)
    with s.as_tenant(web_app, acme):
        from tenantry.tenants.crm import contacts

        contacts.update(contacts.get(person), contacts.ContactData(first_name="Typed", last_name="Again",
                                                                   emails=["again@example.com"]))
    later = T0 + timedelta(days=80)
    s.at(frozen, later)
    assert s.run_sweep(web_app, later) == 1
    assert s.raw_row(web_app, Contact, person)["first_name"] is None
    assert s.search_rows(web_app, "contact", person) == 0


class Killed(RuntimeError):
    pass


@pytest.mark.obligation("TT-retention")
def test_a_sweep_killed_half_way_is_finished_by_the_next(web_app, frozen, acme):
    people = [s.contact(web_app, acme, first=f"K{i}") for i in range(7)]
    s.rule(web_app, acme, "contact_inactive", 6, "delete")
    s.at(frozen, SIX_MONTHS_ON)
    assert s.preview(web_app, acme, "contact_inactive", 6, "delete", SIX_MONTHS_ON).count == 7

    def kill(batches):
        if batches == 2:
            raise Killed("killed")

    with pytest.raises(Killed):
        s.run_sweep(web_app, SIX_MONTHS_ON, batch_size=2, on_batch=kill)
    assert len(s.ids_of(web_app, Contact)) == 3  # two batches of two were committed
    [open_run] = s.runs(web_app, acme.id)
    assert open_run["status"] == "running" and open_run["deleted"] == 4
    assert s.events(web_app, "retention.run") == []

    assert s.run_sweep(web_app, SIX_MONTHS_ON, batch_size=2) == 3
    assert s.ids_of(web_app, Contact) == set()
    [done] = s.runs(web_app, acme.id)
    assert done["id"] == open_run["id"] and done["status"] == "done" and done["deleted"] == 7
    [event] = s.events(web_app, "retention.run", acme.id)
    assert event["details"]["deleted"] == 7
    assert len(s.events(web_app, "crm.contact.deleted")) == len(people)
    assert s.run_sweep(web_app, SIX_MONTHS_ON) == 0


@pytest.mark.obligation("TT-retention", "DPA-B.logging")
def test_each_run_is_one_audit_event_with_counts_and_ids_only(web_app, frozen, acme):
    for i in range(2):
        s.contact(web_app, acme, first=f"Audited{i}", last="Person")
    s.activity(web_app, acme, "company", s.company(web_app, acme, name="Nameless Ltd", number=""))
    deleting = s.rule(web_app, acme, "contact_inactive", 6, "delete")
    anonymising = s.rule(web_app, acme, "activity_created", 6, "anonymise")
    s.at(frozen, SIX_MONTHS_ON)
    s.run_sweep(web_app, SIX_MONTHS_ON)
    [event] = s.events(web_app, "retention.run", acme.id)
    assert event["actor_type"] == "system" and event["target_type"] == "retention_run"
    details = event["details"]
    assert details["deleted"] == 2 and details["anonymised"] == 1
    assert details["rules"][str(deleting)]["count"] == 2
    assert details["rules"][str(anonymising)] == {"entity": "activity", "condition": "activity_created",
                                                  "months": 6, "action": "anonymise", "count": 1}
    flat = repr(details)
    assert "Audited" not in flat and "Person" not in flat and "Nameless" not in flat


@pytest.mark.obligation("TT-retention")
def test_a_cancelled_workspace_is_left_for_its_purge(web_app, frozen, acme):
    person = s.contact(web_app, acme)
    s.rule(web_app, acme, "contact_inactive", 1, "delete")
    with in_app(web_app), all_tenants():
        cancellation.cancel(db.session.get(Tenant, acme.id))
    s.at(frozen, T0 + timedelta(days=40))
    assert s.run_sweep(web_app, T0 + timedelta(days=40)) == 0
    assert s.ids_of(web_app, Contact) == {person}


@pytest.mark.obligation("TT-retention")
def test_the_sweep_command_applies_the_rules(web_app, frozen, acme):
    s.contact(web_app, acme)
    s.rule(web_app, acme, "contact_inactive", 6, "delete")
    result = flask_cli(web_app, "tenantry", "sweep", "--as-of", SIX_MONTHS_ON.isoformat())
    assert result.exit_code == 0, result.output
    assert "retention-rules=1" in result.output
    assert s.ids_of(web_app, Contact) == set()


@pytest.mark.obligation("TT-retention", "DSR-restrict")
def test_a_restricted_contact_is_kept_with_its_deals_and_activities(web_app, frozen, acme):
    held = s.contact(web_app, acme, first="Held")
    call = s.activity(web_app, acme, "contact", held)
    deal = s.deal(web_app, acme, contact_id=held)
    free = s.contact(web_app, acme, first="Free")
    with s.as_tenant(web_app, acme):
        from tenantry.tenants.crm import contacts

        contacts.get(held).restricted_at = T0
    for condition in ("contact_inactive", "activity_created", "deal_created"):
        s.rule(web_app, acme, condition, 6, "delete")
    s.at(frozen, SIX_MONTHS_ON)
    assert s.preview(web_app, acme, "contact_inactive", 6, "delete", SIX_MONTHS_ON).count == 1
    assert s.run_sweep(web_app, SIX_MONTHS_ON) == 1
    assert s.ids_of(web_app, Contact) == {held}
    assert s.ids_of(web_app, Activity) == {call} and s.ids_of(web_app, Deal) == {deal}
    assert free not in s.ids_of(web_app, Contact)


@pytest.mark.obligation("TT-retention")
def test_one_tenants_failure_does_not_hold_up_the_others(web_app, frozen, acme, other, monkeypatch):
    mine, theirs = s.contact(web_app, acme), s.contact(web_app, other)
    s.rule(web_app, acme, "contact_inactive", 6, "delete")
    s.rule(web_app, other, "contact_inactive", 6, "delete")
    s.at(frozen, SIX_MONTHS_ON)
    from tenantry.platform.tenancy import current_tenant
    from tenantry.tenants.crm import contacts

    real_delete = contacts.delete

    def broken(row, **kw):
        if current_tenant.slug == "acme":
            raise RuntimeError("storage hiccup")
        return real_delete(row, **kw)

    monkeypatch.setattr(contacts, "delete", broken)
    with pytest.raises(RuntimeError, match="hiccup"):
        s.run_sweep(web_app, SIX_MONTHS_ON)
    assert s.ids_of(web_app, Contact) == {mine}  # acme's row untouched, nothing half-written
    assert theirs not in s.ids_of(web_app, Contact)
    monkeypatch.setattr(contacts, "delete", real_delete)
    assert s.run_sweep(web_app, SIX_MONTHS_ON) == 1
    assert s.ids_of(web_app, Contact) == set()
    assert [r["status"] for r in s.runs(web_app, acme.id)] == ["done"]


@pytest.mark.obligation("TT-retention")
def test_an_edit_form_opened_before_anonymisation_cannot_put_the_data_back(web_app, frozen, acme):
    """The form still holds the person's data; saving it after the sweep is refused (crm/versions.py)."""
    from tests.tenants.crm.conftest import opened_form, signed_in

    person = s.contact(web_app, acme, first="Jana", last="Nováková", email="jana@example.com")
    s.rule(web_app, acme, "contact_inactive", 6, "anonymise")
    later = SIX_MONTHS_ON + timedelta(days=200)
    s.at(frozen, later)
    member = signed_in(web_app, acme, "member")
    path = f"/t/acme/crm/contacts/{person}/edit"
    opened = opened_form(member, path)
    assert opened["first_name"] == "Jana"
    assert s.run_sweep(web_app, later) == 1

    refused = member.post(path, data={**opened, "position": "CFO"})
    assert refused.status_code == 409
    row = s.raw_row(web_app, Contact, person)
    assert all(row[column] is None for column in Contact.ENCRYPTED)
    assert s.search_rows(web_app, "contact", person) == 0
