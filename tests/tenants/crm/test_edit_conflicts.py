"""Two people editing one row: the form carries the version it was filled from, and a save based
on an older version is refused (409) with what is saved now shown under each field that differs,
the sender's input kept, and nothing written; sending it again, having seen that, saves it. The
same for a row moved on the board, and for a write that loses the race after the check."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
import sqlalchemy as sa

from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context
from tenantry.tenants.crm import activities, companies, contacts, deals, stages, versions
from tenantry.tenants.crm.models import Contact
from tests.identity.support import in_app, text

from .conftest import SentForm, opened_form, signed_in


def _saved_now(html: str, field_id: str) -> str | None:
    found = re.search(rf'<p class="saved-now" id="{field_id}-saved">Currently saved: <span class="saved-value">(.*?)</span>',
                      html, re.S)
    return found.group(1) if found else None


@pytest.fixture
def jana(web_app, acme):
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        return contacts.create(contacts.ContactData(first_name="Jana", last_name="Nováková", notes="Met at the fair",
                                                    emails=["jana@example.cz"])).id


def _contact(web_app, contact_id) -> dict:
    with in_app(web_app, commit=False), all_tenants():
        row = db.session.get(Contact, contact_id)
        return {**row.plain(), "version": row.version}


def test_a_save_based_on_an_older_version_is_refused_with_what_was_saved_meanwhile(web_app, acme, jana):
    eva, petr = signed_in(web_app, acme, "member"), signed_in(web_app, acme, "member")
    path = f"/t/acme/crm/contacts/{jana}/edit"
    evas, petrs = opened_form(eva, path), opened_form(petr, path)
    assert evas["version"] == petrs["version"] == "1"

    assert eva.post(path, data={**evas, "notes": "Wants a quote by Friday"}).status_code == 302
    refused = petr.post(path, data={**petrs, "last_name": "Dvořáková"})
    assert refused.status_code == 409
    page = text(refused)
    assert "Someone else saved this contact after you opened this form" in page
    assert "Saved differently from what you sent: Surname, Notes." in page
    # Under each field that differs: what is saved now; Petr's own input stays in the form.
    assert _saved_now(page, "notes") == "Wants a quote by Friday"
    assert _saved_now(page, "last_name") == "Nováková"
    assert _saved_now(page, "first_name") is None
    again = SentForm(page).values
    assert again["last_name"] == "Dvořáková" and again["notes"] == "Met at the fair"
    assert 'aria-describedby="notes-saved"' in page
    # Nothing of Petr's was written; Eva's note is kept.
    saved = _contact(web_app, jana)
    assert (saved["last_name"], saved["notes"], saved["version"]) == ("Nováková", "Wants a quote by Friday", 2)

    # Having seen it, Petr keeps Eva's note and sends again: now based on the saved version.
    assert again["version"] == "2"
    assert petr.post(path, data={**again, "notes": "Wants a quote by Friday"}).status_code == 302
    saved = _contact(web_app, jana)
    assert (saved["last_name"], saved["notes"], saved["version"]) == ("Dvořáková", "Wants a quote by Friday", 3)


def test_a_stale_form_that_sends_what_is_saved_anyway_just_saves(web_app, acme, jana):
    eva, petr = signed_in(web_app, acme, "member"), signed_in(web_app, acme, "member")
    path = f"/t/acme/crm/contacts/{jana}/edit"
    evas, petrs = opened_form(eva, path), opened_form(petr, path)
    assert eva.post(path, data={**evas, "position": "CFO"}).status_code == 302
    assert petr.post(path, data={**petrs, "position": "CFO"}).status_code == 302  # nothing of either is lost
    assert _contact(web_app, jana)["position"] == "CFO"


def test_a_form_without_a_version_is_not_checked(web_app, acme, jana):
    eva = signed_in(web_app, acme, "member")
    path = f"/t/acme/crm/contacts/{jana}/edit"
    opened = opened_form(eva, path)
    assert eva.post(path, data={**opened, "version": "", "position": "CEO"}).status_code == 302
    assert eva.post(path, data={**opened, "version": "", "position": "CTO"}).status_code == 302
    assert _contact(web_app, jana)["position"] == "CTO"


def test_an_edit_form_left_open_while_the_deal_moved_on_the_board_does_not_move_it_back(web_app, acme, jana):
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        ids = {s.name: s.id for s in stages.ensure_defaults()}
        deal_id = deals.create(deals.DealData(title="Okna", value=Decimal("100"), currency="CZK",
                                              stage_id=ids["Lead"], contact_id=jana)).id
    eva, petr = signed_in(web_app, acme, "member"), signed_in(web_app, acme, "member")
    path = f"/t/acme/crm/deals/{deal_id}/edit"
    opened = opened_form(eva, path)
    assert petr.post(f"/t/acme/crm/deals/{deal_id}/stage", data={"stage": str(ids["Won"]), "back": "board"}
                     ).status_code == 302
    refused = eva.post(path, data={**opened, "title": "Okna a dveře"})
    assert refused.status_code == 409
    page = text(refused)
    assert _saved_now(page, "stage") == "Won" and _saved_now(page, "title") == "Okna"
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        deal = deals.get(deal_id)
        assert (deal.stage_id, deal.reveal("title")) == (ids["Won"], "Okna")


def test_companies_and_activities_are_checked_too(web_app, acme, jana):
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        company_id = companies.create(companies.CompanyData(name="Sklárna Bor", country="CZ")).id
        activity_id = activities.create("contact", jana, activities.ActivityData(kind="call", note="Call back")).id
    eva, petr = signed_in(web_app, acme, "member"), signed_in(web_app, acme, "member")
    for path, field, theirs, mine in (
            (f"/t/acme/crm/companies/{company_id}/edit", "notes", "Pays late", "Good client"),
            (f"/t/acme/crm/activities/{activity_id}/edit", "note", "Called, no answer", "Left a message")):
        evas, petrs = opened_form(eva, path), opened_form(petr, path)
        assert eva.post(path, data={**evas, field: theirs}).status_code == 302
        refused = petr.post(path, data={**petrs, field: mine})
        assert refused.status_code == 409, path
        assert _saved_now(text(refused), field) == theirs
        assert SentForm(text(refused)).values[field] == mine


def test_a_write_that_loses_the_race_after_the_check_is_refused_too(web_app, acme, jana):
    """The version matched when checked, but another save committed before this one's UPDATE:
    the versioned UPDATE matches no row, and nothing is written."""
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        contact = contacts.get(jana)
        checked_at = contact.version
        # Another transaction's save, as it lands between the check and this one's flush.
        db.session.execute(sa.update(Contact.__table__).where(Contact.__table__.c.id == jana)
                           .values(version=checked_at + 1))
        with pytest.raises(versions.EditConflict):
            contacts.update(contact, contacts.ContactData(first_name="Eva"), version=checked_at)
        db.session.rollback()
    assert _contact(web_app, jana)["first_name"] == "Jana"


def test_a_board_move_that_loses_the_race_is_a_409_not_a_500_and_writes_nothing(web_app, acme, jana, monkeypatch):
    """Writes that show no form (a move, a delete) have no difference to show: the app answers
    that someone else changed the row at the same moment."""
    from tenantry.tenants.crm import board
    from tenantry.tenants.crm.models import Deal

    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        ids = {s.name: s.id for s in stages.ensure_defaults()}
        deal_id = deals.create(deals.DealData(title="Okna", value=Decimal("100"), currency="CZK",
                                              stage_id=ids["Lead"])).id
    real_get = board.stages.get

    def another_save_lands(stage_id):
        table = Deal.__table__
        db.session.execute(sa.update(table).where(table.c.id == deal_id).values(version=table.c.version + 1))
        return real_get(stage_id)

    monkeypatch.setattr(board.stages, "get", another_save_lands)
    eva = signed_in(web_app, acme, "member")
    refused = eva.post(f"/t/acme/crm/deals/{deal_id}/stage", data={"stage": str(ids["Won"])})
    assert refused.status_code == 409
    assert "Someone else changed this at the same moment, so nothing was saved." in text(refused)
    monkeypatch.setattr(board.stages, "get", real_get)
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        deal = deals.get(deal_id)
        assert (deal.stage_id, deal.version) == (ids["Lead"], 1)
