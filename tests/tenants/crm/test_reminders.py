"""A member's own activities due: the dashboard shows them first (everyone's a click away), and
a morning e-mail, sent over SMTP once a day, says how many are due today or overdue without
naming anyone. A member turns it off and on again on the dashboard, audited; a deactivated
member, a cancelled workspace and an activity of a restricted contact get no e-mail."""

from __future__ import annotations

import re
import threading
from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
import time_machine

from tenantry.platform import clock, notify
from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.identity.models import Membership, User
from tenantry.platform.tenancy import Tenant, TenantStatus, all_tenants, tenant_context
from tenantry.tenants.crm import activities, contacts, deals, reminders, stages
from tenantry.tenants.crm.models import Activity, ActivityReminder
from tests import factories
from tests.identity.support import NO_LIMIT, in_app, login_password, new_member, new_tenant, text


@pytest.fixture
def web_app(make_app, smtp_server):
    return make_app(WTF_CSRF_ENABLED=False, TENANTRY_RATELIMIT_LOGIN=NO_LIMIT, **smtp_server.config())


LATE = " and 1 deal past its expected close date"


PRAGUE = ZoneInfo("Europe/Prague")  # acme's clock: its country is CZ (local_time)


def _today():
    return clock.now().astimezone(PRAGUE).date()


def _morning(day=None, hour=7):
    return datetime.combine(day or _today(), time(hour), PRAGUE)


def _world(web_app, acme) -> dict:
    """Three members with activities due at various times (Olga's include one of a restricted
    contact) and deals: mine past its close date, Olga's won or closing later."""
    me = new_member(web_app, acme, "member", email="me@acme.example.com")
    olga = new_member(web_app, acme, "member", email="olga@acme.example.com")
    idle = new_member(web_app, acme, "member", email="idle@acme.example.com")
    today = _today()
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        jana = contacts.create(contacts.ContactData(first_name="Jana", last_name="Nováková"))
        rita = contacts.create(contacts.ContactData(first_name="Rita", last_name="Restricted"))
        lead = deals.create(deals.DealData(title="Forged gates", value=Decimal("1000"), currency="CZK",
                                           stage_id=_first_stage(), owner_id=me.id,
                                           expected_close=today - timedelta(days=5)))  # late
        won = next(s for s in stages.ordered() if s.is_won)
        for title, stage_id, days in (("Won already", won.id, -5), ("Closing later", _first_stage(), 5)):
            deals.create(deals.DealData(title=title, value=Decimal("1"), currency="CZK", stage_id=stage_id,
                                        owner_id=olga.id, expected_close=today + timedelta(days=days)))

        def add(owner, days, note, subject=("contact", jana.id)):
            return activities.create(*subject, activities.ActivityData(
                kind="task", due_on=None if days is None else today + timedelta(days=days), note=note,
                owner_id=owner.id)).id

        ids = {
            "mine-overdue": add(me, -3, "Send the revised quote", ("deal", lead.id)),
            "mine-today": add(me, 0, "Call Jana about the offer"),
            "mine-tomorrow": add(me, 1, "Prepare the meeting"),
            "mine-undated": add(me, None, "Some day"),
            "mine-done": add(me, -1, "Already done"),
            "olga-today": add(olga, 0, "Olga's call"),
            "olga-restricted": add(olga, -1, "Of a restricted contact", ("contact", rita.id)),
            "idle-today": add(idle, 0, "Idle's task"),
            "nobody-today": None,
        }
        ids["nobody-today"] = activities.create("contact", jana.id, activities.ActivityData(
            kind="call", due_on=today, note="Nobody's")).id
        activities.complete(db.session.get(Activity, ids["mine-done"]))
        rita.restricted_at = clock.now()
        db.session.commit()
    client = web_app.test_client()
    assert login_password(client, me.email).status_code == 302
    return {"me": me, "olga": olga, "idle": idle, "ids": ids, "client": client}


def _first_stage():
    return stages.ensure_defaults()[0].id


def _due_notes(html: str) -> list[str]:
    section = html.split('id="dash-due"', 1)[1].split("</section>", 1)[0]
    return re.findall(r'<span class="muted"> — (.*?)</span>', section)


def _sweep(web_app, as_of) -> int:
    with in_app(web_app):
        return reminders.sweep(as_of)


def _notices(web_app) -> list[notify.Notification]:
    with in_app(web_app, commit=False), all_tenants():
        found = db.session.execute(sa.select(notify.Notification).where(notify.Notification.kind == reminders.KIND)
                                   .order_by(notify.Notification.to_email)).scalars().all()
        for note in found:
            db.session.expunge(note)
        return found


def test_the_dashboard_shows_ones_own_activities_due_and_everyones_on_request(web_app, acme):
    w = _world(web_app, acme)
    member = w["client"]
    html = text(member.get("/t/acme/"))
    assert _due_notes(html) == ["Send the revised quote", "Call Jana about the offer", "Prepare the meeting"]
    assert '<a href="/t/acme/" aria-current="page">Yours</a>' in html
    assert f'href="/t/acme/crm/activities?state=open&amp;owner={w["me"].id}">All your open activities' in html

    everyone = text(member.get("/t/acme/?due=all"))
    notes = _due_notes(everyone)
    assert "Olga&#39;s call" in notes and "Nobody&#39;s" in notes and "Send the revised quote" in notes
    assert "Of a restricted contact" not in everyone and "Already done" not in everyone
    assert '<a href="/t/acme/?due=all" aria-current="page">Everyone\'s</a>' in everyone
    assert 'href="/t/acme/crm/activities?state=open">All open activities' in everyone

    # A member with nothing of their own due is told so, and pointed at everyone's.
    other = web_app.test_client()
    assert login_password(other, new_member(web_app, acme, "viewer").email).status_code == 302
    empty = text(other.get("/t/acme/"))
    assert _due_notes(empty) == []
    assert "Nothing assigned to you is due in the next 7 days." in empty
    assert '<a href="/t/acme/?due=all">See everyone\'s (6)</a>' in empty


def test_a_member_turns_the_morning_email_off_and_on_from_the_dashboard_audited(web_app, acme):
    w = _world(web_app, acme)
    member = w["client"]
    page = text(member.get("/t/acme/"))
    assert "Stop these e-mails" in page
    off = member.post("/t/acme/crm/reminders", data={"enabled": "0", "due": "all"})
    assert off.status_code == 302 and off.headers["Location"].endswith("/t/acme/?due=all")
    page = text(member.get("/t/acme/?due=all"))
    assert "You will no longer get e-mails about what is assigned to you." in page and "Send me these e-mails" in page
    assert _sweep(web_app, _morning()) == 2  # Olga and the idle member; not me
    assert [n.to_email for n in _notices(web_app)] == ["idle@acme.example.com", "olga@acme.example.com"]

    # Posting the same choice again changes nothing and records nothing.
    member.post("/t/acme/crm/reminders", data={"enabled": "0"})
    assert member.post("/t/acme/crm/reminders", data={"enabled": "1"}).headers["Location"].endswith("/t/acme/")
    with in_app(web_app, commit=False), all_tenants():
        changes = db.session.execute(sa.select(AuditEvent.actor_id, AuditEvent.details).where(
            AuditEvent.tenant_id == acme.id, AuditEvent.action == "crm.reminders.changed")
            .order_by(AuditEvent.seq)).all()
        assert changes == [(str(w["me"].id), {"enabled": False}), (str(w["me"].id), {"enabled": True})]
        assert db.session.get(ActivityReminder, (acme.id, w["me"].id)).enabled is True
    assert _sweep(web_app, _morning()) == 0  # the day's e-mails have gone
    assert _sweep(web_app, _morning(_today() + timedelta(days=1))) == 3  # and mine again


@pytest.mark.obligation("DSR-restrict")
def test_the_morning_email_counts_ones_own_due_names_no_one_and_comes_once_a_day(web_app, acme, smtp_server):
    w = _world(web_app, acme)
    assert _sweep(web_app, _morning(hour=5)) == 0  # before the working day
    assert smtp_server.messages == []

    assert _sweep(web_app, _morning()) == 3
    by_to = {m.rcpt_tos[0]: m.message for m in smtp_server.messages}
    assert set(by_to) == {"me@acme.example.com", "olga@acme.example.com", "idle@acme.example.com"}
    mine = by_to["me@acme.example.com"]
    assert mine["Subject"] == "Acme: 2 activities due (1 overdue and 1 due today)" + LATE
    body = mine.get_content()
    assert "Assigned to you in Acme: 2 activities due (1 overdue and 1 due today)" + LATE + "." in body
    link, deal_link = (f"/t/acme/crm/activities?owner={w['me'].id}&state=due",
                       f"/t/acme/crm/deals?owner={w['me'].id}&close=late")
    for path in (link, deal_link):
        assert re.search(rf"^https?://[^/\s]+{re.escape(path)}\r?$", body, re.M), body
    # Olga's activity of a restricted contact is not counted.
    assert by_to["olga@acme.example.com"]["Subject"] == "Acme: 1 activity due today"
    for message in by_to.values():
        sent = message["Subject"] + message.get_content()
        for name in ("Jana", "Nov", "Rita", "Restricted", "Forged", "revised quote", "offer", "Olga's call",
                     "Idle's task"):
            assert name not in sent, name

    # The link lists exactly what the e-mail counted.
    listed = text(w["client"].get(link))
    assert "Send the revised quote" in listed and "Call Jana about the offer" in listed
    assert "Prepare the meeting" not in listed and "Olga" not in listed and "Already done" not in listed
    listed = text(w["client"].get(deal_link))
    assert "Forged gates" in listed and "Won already" not in listed and "Closing later" not in listed

    # Once a day: the same day again sends nothing, the next day sends again (what is due then).
    assert _sweep(web_app, _morning(hour=11)) == 0
    assert len(smtp_server.messages) == 3
    assert _sweep(web_app, _morning(_today() + timedelta(days=1))) == 3
    tomorrow = {m.rcpt_tos[0]: m.message["Subject"] for m in smtp_server.messages[3:]}
    assert tomorrow["me@acme.example.com"] == "Acme: 3 activities due (2 overdue and 1 due today)" + LATE
    assert tomorrow["olga@acme.example.com"] == "Acme: 1 activity overdue"


def test_no_email_once_all_is_done_nor_to_a_deactivated_member_nor_from_a_cancelled_workspace(web_app, acme):
    w = _world(web_app, acme)
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        for key in ("mine-overdue", "mine-today"):
            activities.complete(db.session.get(Activity, w["ids"][key]))
        db.session.execute(sa.update(Membership).where(Membership.user_id == w["idle"].id)
                           .values(deactivated_at=clock.now()))
    assert _sweep(web_app, _morning()) == 2
    assert [(n.to_email, n.subject) for n in _notices(web_app)] == [
        ("me@acme.example.com", "Acme: 1 deal past its expected close date"),  # the late deal only
        ("olga@acme.example.com", "Acme: 1 activity due today")]

    with in_app(web_app), all_tenants():
        db.session.get(Tenant, acme.id).status = TenantStatus.CANCELLED
    assert _sweep(web_app, _morning(_today() + timedelta(days=1))) == 0


def test_each_workspace_counts_its_own(web_app, acme):
    w = _world(web_app, acme)
    globex = new_tenant(web_app, "globex")
    with in_app(web_app), tenant_context(db.session.get(Tenant, globex.id)):
        factories.add_member(db.session.get(Tenant, globex.id), db.session.get(User, w["me"].id), "member")
        someone = contacts.create(contacts.ContactData(first_name="Karel", last_name="Globex"))
        activities.create("contact", someone.id, activities.ActivityData(
            kind="call", due_on=_today(), owner_id=w["me"].id))
    assert _sweep(web_app, _morning()) == 4
    mine = sorted(n.subject for n in _notices(web_app) if n.to_email == "me@acme.example.com")
    assert mine == ["Acme: 2 activities due (1 overdue and 1 due today)" + LATE, "Globex: 1 activity due today"]


def test_a_day_claimed_is_not_claimed_again(web_app, acme):
    """Whether the member's row is new or was there (sent the day before), today's e-mail is
    claimed once: a sweep run again, or beside another, finds the day taken."""
    w = _world(web_app, acme)
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        db.session.add(ActivityReminder(user_id=w["olga"].id, last_sent_on=_today() - timedelta(days=1)))
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        claimed = []
        for _ in range(2):
            claimed.append([reminders._claim(ActivityReminder, _today(), ActivityReminder.user_id == who.id,
                                             user_id=who.id) for who in (w["me"], w["olga"])])
            db.session.commit()
        assert claimed == [[True, True], [False, False]]


def test_a_workspace_is_looked_at_once_a_day(web_app, acme, monkeypatch):
    """After the day's e-mails went, a sweep (every minute) does not count the activities again."""
    _world(web_app, acme)
    assert _sweep(web_app, _morning()) == 3
    looked = []
    monkeypatch.setattr(reminders, "due_counts", lambda now: looked.append(now.date()) or {})
    assert _sweep(web_app, _morning(hour=9)) == 0 and looked == []
    assert _sweep(web_app, _morning(_today() + timedelta(days=1))) == 0 and looked == [_today() + timedelta(days=1)]


@pytest.mark.postgres_only
def test_sweeps_running_at_once_send_each_email_once(web_app, acme, smtp_server):
    """Four sweeps started together: each member's row, new or there from the day before, is
    claimed by one of them (row locks, and a savepoint for a row two try to insert)."""
    w = _world(web_app, acme)
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        db.session.add(ActivityReminder(user_id=w["olga"].id, last_sent_on=_today() - timedelta(days=1)))
    barrier, errors, sent = threading.Barrier(4), [], []

    def sweep() -> None:
        try:
            with web_app.app_context():
                barrier.wait()
                sent.append(reminders.sweep(_morning()))
                db.session.remove()
        except Exception as exc:  # noqa: BLE001  (reported by the assertion below)
            errors.append(exc)

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and sum(sent) == 3, (errors, sent)
    assert sorted(n.to_email for n in _notices(web_app)) == [
        "idle@acme.example.com", "me@acme.example.com", "olga@acme.example.com"]
    assert len(smtp_server.messages) == 3


def test_the_morning_email_counts_as_overdue_what_was_due_earlier_that_morning(web_app, acme, smtp_server):
    """As the pages count it (overdue.py): a 07:30 call is overdue in the e-mail of 08:00."""
    me = new_member(web_app, acme, "member", email="early@acme.example.com")
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        jana = contacts.create(contacts.ContactData(first_name="Jana"))
        for at, note in ((time(7, 30), "Early call"), (time(10, 0), "Later call"), (None, "Some time today")):
            activities.create("contact", jana.id, activities.ActivityData(
                kind="call", due_on=_today(), due_time=at, note=note, owner_id=me.id))
    assert _sweep(web_app, _morning(hour=8)) == 1
    (sent,) = [m.message for m in smtp_server.messages]
    assert sent["Subject"] == "Acme: 3 activities due (1 overdue and 2 due today)"
    # The activity list's "Overdue" at that minute shows the one the e-mail counted so.
    client = web_app.test_client()
    with time_machine.travel(_morning(hour=8), tick=False):
        assert login_password(client, me.email).status_code == 302
        listed = text(client.get("/t/acme/crm/activities", query_string={"state": "overdue"}))
    assert "Early call" in listed and "Later call" not in listed and "Some time today" not in listed
