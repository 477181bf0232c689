"""An activity with a time of day is overdue from the minute after it, on the workspace's
clock, not only from the next day; one of the whole day still from the next day. The same rule
in the activity list's filter and badges, the timeline, the dashboard, the deal list's next
activity, the CSV export and the API's state=overdue."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from tenantry.platform import clock
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import activities, contacts, deals, stages
from tests.identity.support import in_app, text
from tests.tenants.api.conftest import Bearer, new_client, token_for
from tests.tenants.crm.conftest import signed_in

PRAGUE = ZoneInfo("Europe/Prague")
NOTES = ("At nine", "At 9:45", "All day today", "All day yesterday", "Done at eight")


@pytest.fixture
def morning(web_app, acme, time_machine) -> dict:
    """09:30 in Prague on the latest such morning: a contact with activities at 09:00 and 09:45
    today, one of the whole of today, one of yesterday and one done that was due at 08:00; a
    deal whose next step was at 09:00 and one whose is at 09:45."""
    now = clock.now().astimezone(PRAGUE)
    at = datetime.combine(now.date(), time(9, 30), PRAGUE)
    at = at if at <= now else at - timedelta(days=1)
    time_machine.move_to(at, tick=False)
    today = at.date()
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        jana = contacts.create(contacts.ContactData(first_name="Jana", last_name="Nováková"))
        for note, day, hour, done in ((NOTES[0], today, time(9), False), (NOTES[1], today, time(9, 45), False),
                                      (NOTES[2], today, None, False), (NOTES[3], today - timedelta(days=1), None, False),
                                      (NOTES[4], today, time(8), True)):
            made = activities.create("contact", jana.id, activities.ActivityData(
                kind="call", due_on=day, due_time=hour, note=note))
            if done:
                made.done, made.done_at = True, clock.now()
        lead = stages.ensure_defaults()[0]
        ids = {"jana": jana.id}
        for title, hour in (("Late step", time(9)), ("Coming step", time(9, 45))):
            deal = deals.create(deals.DealData(title=title, value=Decimal("10"), currency="CZK", stage_id=lead.id))
            activities.create("deal", deal.id, activities.ActivityData(kind="task", due_on=today, due_time=hour,
                                                                       note=f"{title} task"))
            ids[title] = deal.id
    return {"at": at, **ids}


def _page(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return text(response)


def _overdue_notes(html: str) -> set[str]:
    """The notes whose item (a <li> or <tr>) carries the Overdue badge."""
    found = set()
    for note in (*NOTES, "Late step task", "Coming step task"):
        if note not in html:
            continue
        item = html.split(note)[0].rsplit("<li", 1)[-1].rsplit("<tr", 1)[-1] + html.split(note, 1)[1].split("</li>")[0]
        if ">Overdue<" in item.split("</tr>")[0]:
            found.add(note)
    return found


def test_the_pages_mark_a_timed_activity_overdue_once_its_minute_has_passed(web_app, acme, morning, time_machine):
    member = signed_in(web_app, acme, "member")
    overdue = _page(member, "/t/acme/crm/activities?state=overdue")
    assert {note for note in (*NOTES, "Late step task", "Coming step task") if note in overdue} == {
        "At nine", "All day yesterday", "Late step task"}
    due = _page(member, "/t/acme/crm/activities?state=due")
    assert _overdue_notes(due) == {"At nine", "All day yesterday", "Late step task"}
    assert all(note in due for note in NOTES[:4])
    timeline = _page(member, f"/t/acme/crm/contacts/{morning['jana']}")
    assert _overdue_notes(timeline) == {"At nine", "All day yesterday"}
    dashboard = _page(member, "/t/acme/?due=all")
    assert _overdue_notes(dashboard) == {"At nine", "All day yesterday", "Late step task"}
    deal_list = _page(member, "/t/acme/crm/deals")
    late_row = deal_list.split("Late step</a>")[1].split("</tr>")[0]
    coming_row = deal_list.split("Coming step</a>")[1].split("</tr>")[0]
    assert ">Overdue<" in late_row and ">Overdue<" not in coming_row
    exported = _page(member, "/t/acme/crm/activities/export.csv?state=overdue")
    assert "At nine" in exported and "All day yesterday" in exported and "At 9:45" not in exported

    # 09:45:30 is still the minute of 09:45; at 09:46 that one is overdue too. The whole day
    # stays due today.
    time_machine.move_to(morning["at"] + timedelta(minutes=15, seconds=30), tick=False)
    assert "At 9:45" not in _page(member, "/t/acme/crm/activities?state=overdue")
    time_machine.move_to(morning["at"] + timedelta(minutes=16), tick=False)
    overdue = _page(member, "/t/acme/crm/activities?state=overdue")
    assert "At 9:45" in overdue and "Coming step task" in overdue and "All day today" not in overdue


def test_the_api_s_overdue_state_follows_the_same_clock(web_app, acme, morning):
    http = web_app.test_client()
    api = Bearer(http, token_for(http, new_client(web_app, acme)))
    listed = api.get("/api/v1/activities", query_string={"state": "overdue"})
    assert listed.status_code == 200, listed.get_json()
    assert {(a["due_time"], a["contact_id"] is not None) for a in listed.get_json()["items"]} == {
        ("09:00", True), (None, True), ("09:00", False)}
