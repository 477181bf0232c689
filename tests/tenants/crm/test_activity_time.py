"""An activity's time of day: set on the timeline's form and the edit page (HH:MM, on the
workspace's clock), shown with the date wherever the date is, ordered within its day after the
activities of the whole day, exported, and audited as a change. A time without a date, or one
that is no time, is an error next to its field, with nothing saved."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, time

import sqlalchemy as sa

from tenantry.platform import audit
from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import activities, contacts
from tenantry.tenants.crm.models import Activity
from tests.identity.support import field_errors, in_app, text

DAY = date(2030, 1, 15)


def _jana(app, tenant_id):
    with in_app(app), tenant_context(db.session.get(Tenant, tenant_id)):
        return contacts.create(contacts.ContactData(first_name="Jana", last_name="Nováková")).id


def _activities(app, tenant_id) -> list[tuple]:
    with in_app(app, commit=False), tenant_context(db.session.get(Tenant, tenant_id)):
        return [(a.due_on, a.due_time, a.reveal("note")) for a in
                db.session.scalars(sa.select(Activity).order_by(Activity.created_at))]


def test_a_time_is_set_shown_edited_and_audited(web_app, member, acme):
    jana = _jana(web_app, acme.id)
    page = f"/t/acme/crm/contacts/{jana}"
    form = text(member.get(page))
    assert '<label for="due_time">Time</label>' in form and 'type="time"' in form
    added = member.post(f"{page}/activities", data={"kind": "meeting", "due_on": "2030-01-15", "due_time": "14:30",
                                                    "note": "Meet at the fair"})
    assert added.status_code == 302
    assert _activities(web_app, acme.id) == [(DAY, time(14, 30), "Meet at the fair")]
    timeline = text(member.get(page))
    assert 'due <time datetime="2030-01-15T14:30">2030-01-15 14:30</time>' in timeline

    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        activity = db.session.scalars(sa.select(Activity)).one()
        activity_id, version = activity.id, activity.version
    edit = f"/t/acme/crm/activities/{activity_id}/edit"
    assert 'value="14:30"' in text(member.get(edit))
    # Seconds, as some browsers send them, are dropped.
    saved = member.post(edit, data={"kind": "meeting", "due_on": "2030-01-15", "due_time": "9:05:00",
                                    "note": "Meet at the fair", "version": str(version)})
    assert saved.status_code == 302
    assert _activities(web_app, acme.id) == [(DAY, time(9, 5), "Meet at the fair")]
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "crm.activity.updated")).one()
        assert audit.changes_of(event) == {"due_time": ("14:30:00", "09:05:00")}
    # Emptied: the whole day again. (One edit is one new version: one UPDATE, not one for the
    # columns and another for the sealed note.)
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        assert activities.get(activity_id).version == version + 1
    version += 1
    assert member.post(edit, data={"kind": "meeting", "due_on": "2030-01-15", "due_time": "", "note": "Meet",
                                   "version": str(version)}).status_code == 302
    assert _activities(web_app, acme.id) == [(DAY, None, "Meet")]


def test_a_time_without_a_date_or_no_time_at_all_is_refused_next_to_it(web_app, member, acme):
    jana = _jana(web_app, acme.id)
    page = f"/t/acme/crm/contacts/{jana}"
    for sent, message in (
            ({"due_on": "", "due_time": "14:30"}, "Give the due date too, or leave the time empty."),
            ({"due_on": "2030-01-15", "due_time": "25:00"}, "Enter a time as HH:MM, for example 14:30."),
            ({"due_on": "2030-01-15", "due_time": "half past two"}, "Enter a time as HH:MM, for example 14:30.")):
        refused = member.post(f"{page}/activities", data={"kind": "call", "note": "Call back", **sent})
        assert refused.status_code == 422
        html = text(refused)
        assert field_errors(html, "due_time") == [message], sent
        assert re.search(r'<input[^>]*aria-invalid="true"[^>]*id="due_time"', html), sent
        assert f'value="{sent["due_time"]}"' in html  # what was typed stays, to be corrected
    assert _activities(web_app, acme.id) == []


def test_within_a_day_the_whole_days_come_first_then_by_time_everywhere(web_app, member, acme):
    jana = _jana(web_app, acme.id)
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        for note, at in (("At two", time(14, 0)), ("All day", None), ("At nine", time(9, 0))):
            activities.create("contact", jana, activities.ActivityData(kind="call", due_on=DAY, due_time=at,
                                                                       note=note))
    listed = text(member.get("/t/acme/crm/activities?state=open&sort=due"))
    order = [n for n in re.findall(r"All day|At nine|At two", listed)]
    assert order == ["All day", "At nine", "At two"]
    assert '<time datetime="2030-01-15T09:00">2030-01-15 09:00</time>' in listed
    exported = member.get("/t/acme/crm/activities/export.csv?state=open")
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    assert sorted((r["Note"], r["Due date"], r["Due time"]) for r in rows) == [
        ("All day", "2030-01-15", ""), ("At nine", "2030-01-15", "09:00"), ("At two", "2030-01-15", "14:00")]
