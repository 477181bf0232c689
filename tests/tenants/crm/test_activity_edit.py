"""Editing an activity in the web UI: the form comes filled in, a bad date is an error next to
its field with nothing saved, a good edit is saved with its changes in the audit trail and
returns to the timeline; viewers cannot, and a restricted contact's timeline is not changed."""

from __future__ import annotations

from datetime import date

from tenantry.platform import clock
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import activities, contacts
from tests.identity.support import audit_events, field_errors, in_app, text

from .conftest import signed_in


def _one(app, tenant_id, **data) -> tuple:
    with in_app(app), tenant_context(db.session.get(Tenant, tenant_id)):
        jana = contacts.create(contacts.ContactData(first_name="Jana", last_name="Nováková"))
        db.session.flush()
        activity = activities.create("contact", jana.id, activities.ActivityData(
            kind="call", due_on=date(2030, 1, 15), note="Call about the offer", **data))
        return jana.id, activity.id


def _state(app, tenant_id, activity_id):
    with in_app(app, commit=False), tenant_context(db.session.get(Tenant, tenant_id)):
        a = activities.get(activity_id)
        return a.kind, a.due_on, a.reveal("note")


def test_the_form_comes_filled_in_and_a_good_edit_is_saved(web_app, member, acme):
    jana, activity = _one(web_app, acme.id)
    html = text(member.get(f"/t/acme/crm/activities/{activity}/edit"))
    assert '<option selected value="call">' in html and 'value="2030-01-15"' in html
    assert "Call about the offer</textarea>" in html and "Jana Nováková" in html
    saved = member.post(f"/t/acme/crm/activities/{activity}/edit",
                        data={"kind": "meeting", "due_on": "2030-02-01", "note": "Meet at the fair"})
    assert saved.status_code == 302 and saved.headers["Location"] == f"/t/acme/crm/contacts/{jana}#timeline"
    assert _state(web_app, acme.id, activity) == ("meeting", date(2030, 2, 1), "Meet at the fair")
    [event] = audit_events(web_app, "crm.activity.updated")
    assert event["target_id"] == str(activity)
    timeline = text(member.get(f"/t/acme/crm/contacts/{jana}"))
    assert f"/t/acme/crm/activities/{activity}/edit" in timeline and "Meet at the fair" in timeline


def test_a_bad_date_is_shown_next_to_its_field_and_nothing_is_saved(web_app, member, acme):
    _jana, activity = _one(web_app, acme.id)
    sent = member.post(f"/t/acme/crm/activities/{activity}/edit",
                       data={"kind": "task", "due_on": "30. 1. 2030", "note": "Changed"})
    assert sent.status_code == 422
    assert field_errors(text(sent), "due_on") == ["Enter a date as YYYY-MM-DD, for example 2025-06-30."]
    assert 'value="30. 1. 2030"' in text(sent)
    assert _state(web_app, acme.id, activity) == ("call", date(2030, 1, 15), "Call about the offer")
    bad_kind = member.post(f"/t/acme/crm/activities/{activity}/edit", data={"kind": "lunch", "due_on": ""})
    assert bad_kind.status_code == 422 and field_errors(text(bad_kind), "kind")


def test_viewers_cannot_and_a_restricted_contacts_timeline_stays(web_app, member, acme):
    jana, activity = _one(web_app, acme.id)
    viewer = signed_in(web_app, acme, "viewer")
    assert viewer.get(f"/t/acme/crm/activities/{activity}/edit").status_code == 403
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        contacts.get(jana).restricted_at = clock.now()
    assert member.get(f"/t/acme/crm/activities/{activity}/edit").status_code == 409
    refused = member.post(f"/t/acme/crm/activities/{activity}/edit", data={"kind": "task", "note": "x"})
    assert refused.status_code == 409
    assert member.post(f"/t/acme/crm/activities/{activity}/done", data={"done": "1"}).status_code == 409
    assert member.post(f"/t/acme/crm/activities/{activity}/delete").status_code == 409
    assert _state(web_app, acme.id, activity)[2] == "Call about the offer"
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        assert activities.get(activity).done is False
    # The timeline is shown, as the contact is, without a way to change it.
    timeline = text(member.get(f"/t/acme/crm/contacts/{jana}"))
    assert "Call about the offer" in timeline
    assert "/edit" not in timeline and "Mark done" not in timeline and "Add activity" not in timeline
