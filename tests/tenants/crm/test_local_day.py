"""The CRM's "today" is the workspace's own date, in the time zone of its country: what is due,
overdue or late turns at local midnight, the morning e-mail goes between 06:00 and noon on each
workspace's clock, and the times on the record pages are local, with UTC on hover."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from tenantry.platform import clock
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants import local_time
from tenantry.tenants.crm import activities, contacts, deals, reminders, stages
from tests.identity.support import in_app, new_member, new_tenant, text
from tests.tenants.crm.conftest import signed_in

PRAGUE, NEW_YORK = ZoneInfo("Europe/Prague"), ZoneInfo("America/New_York")


@pytest.fixture
def web_app(make_app, smtp_server):
    return make_app(WTF_CSRF_ENABLED=False, **smtp_server.config())


def _last_2330_utc() -> datetime:
    """The latest 23:30 UTC before now: the UTC date's last half hour, when it is already the
    next day in Prague (00:30 in winter, 01:30 in summer)."""
    now = clock.now()
    at = datetime.combine(now.date(), time(23, 30), UTC)
    return at if at <= now else at - timedelta(days=1)


def test_what_is_due_turns_at_the_workspaces_midnight_not_at_utcs(web_app, acme, time_machine):
    moment = _last_2330_utc()
    time_machine.move_to(moment, tick=False)
    member = signed_in(web_app, acme, "member")
    utc_day, prague_day = moment.date(), moment.astimezone(PRAGUE).date()
    assert prague_day == utc_day + timedelta(days=1)
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        assert local_time.today() == prague_day and local_time.zone_of().key == "Europe/Prague"
        jana = contacts.create(contacts.ContactData(first_name="Jana", last_name="Nováková"))
        for note, day in (("Due on the Prague date", prague_day), ("Due on the UTC date", utc_day)):
            activities.create("contact", jana.id, activities.ActivityData(kind="call", due_on=day, note=note))
        deals.create(deals.DealData(title="Closing on the UTC date", value=Decimal("10"), currency="CZK",
                                    stage_id=stages.ensure_defaults()[0].id, expected_close=utc_day))

    dashboard = text(member.get("/t/acme/?due=all"))
    today_item = dashboard.split("Due on the Prague date")[0].rsplit("<li>", 1)[1]
    assert "today" in today_item and "Overdue" not in today_item
    yesterday_item = dashboard.split("Due on the UTC date")[0].rsplit("<li>", 1)[1]
    assert "yesterday" in yesterday_item and "Overdue" in yesterday_item
    assert "1 open deal past its expected close date" in dashboard

    overdue = text(member.get("/t/acme/crm/activities?state=overdue"))
    assert "Due on the UTC date" in overdue and "Due on the Prague date" not in overdue
    due = text(member.get("/t/acme/crm/activities?state=due"))
    assert "Due on the UTC date" in due and "Due on the Prague date" in due
    assert "Closing on the UTC date" in text(member.get("/t/acme/crm/deals?close=late"))

    # An hour earlier it was still the UTC date in Prague too: the same activity was due today.
    time_machine.move_to(moment - timedelta(hours=2), tick=False)
    assert "Due on the UTC date" not in text(member.get("/t/acme/crm/activities?state=overdue"))
    assert "Closing on the UTC date" not in text(member.get("/t/acme/crm/deals?close=late"))
    assert "open deal past" not in text(member.get("/t/acme/?due=all"))


def test_the_morning_email_goes_at_six_on_each_workspaces_clock(web_app, acme):
    prague_morning = datetime.combine(clock.now().astimezone(PRAGUE).date(), time(6, 30), PRAGUE)
    globex = new_tenant(web_app, "globex", country="US")
    for tenant in (acme, globex):
        person = new_member(web_app, tenant, "member")
        with in_app(web_app), tenant_context(db.session.get(Tenant, tenant.id)):
            someone = contacts.create(contacts.ContactData(first_name="Karel", last_name="Dvořák"))
            activities.create("contact", someone.id, activities.ActivityData(
                kind="call", due_on=prague_morning.date() - timedelta(days=1), owner_id=person.id))

    def sweep(at: datetime) -> int:
        with in_app(web_app):
            return reminders.sweep(at)

    assert sweep(prague_morning - timedelta(hours=1)) == 0  # 05:30 in Prague
    assert sweep(prague_morning) == 1  # 06:30 in Prague is the night before in New York
    new_york_morning = datetime.combine(prague_morning.astimezone(NEW_YORK).date(), time(6, 0), NEW_YORK)
    assert sweep(new_york_morning - timedelta(minutes=1)) == 0
    assert sweep(new_york_morning) == 1  # globex's, once its day has begun
    assert sweep(new_york_morning + timedelta(hours=3)) == 0  # each has had its day's
    # A morning the sweep missed is skipped, not sent in the afternoon: the next day's first
    # sweep is at 06:00 in New York, 12:00 in Prague.
    assert sweep(new_york_morning + timedelta(days=1)) == 1  # globex's only
    assert sweep(new_york_morning + timedelta(days=1, hours=2)) == 0


def test_record_pages_show_local_times_with_utc_on_hover(web_app, acme, time_machine):
    moment = datetime(2026, 7, 1, 22, 15, tzinfo=UTC)  # summer: 00:15 on 2 July in Prague
    time_machine.move_to(moment, tick=False)
    member = signed_in(web_app, acme, "member")
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        jana = contacts.create(contacts.ContactData(first_name="Jana", last_name="Nováková")).id
        activities.create("contact", jana, activities.ActivityData(kind="task", note="Send the offer"))
    page = text(member.get(f"/t/acme/crm/contacts/{jana}"))
    shown = '<time datetime="2026-07-01T22:15:00+00:00" title="2026-07-01 22:15 UTC">2026-07-02 00:15 CEST</time>'
    assert f"<dt>Updated</dt><dd>{shown}</dd>" in page
    assert f"recorded {shown}" in page
    assert not re.search(r"\d\d:\d\d UTC</", page)
