"""The workspace dashboard's CRM panel: the activities coming due (which, in what order, with
their subject; everyone's here, the member's own in test_reminders.py), the open pipeline by
stage and currency, "Mark done" from the dashboard, roles, and the read it records in the
audit trail."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from tenantry.platform import clock
from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context
from tenantry.tenants import local_time
from tenantry.tenants.crm import activities, companies, contacts, deals, stages
from tenantry.tenants.crm.models import Activity
from tests.identity.support import in_app, new_tenant, text

from .conftest import listed_reads, signed_in


def _seed(web_app, tenant_id):
    """A contact, a company and a deal, each with activities due at various times."""
    with in_app(web_app), tenant_context(db.session.get(Tenant, tenant_id)):
        today = local_time.today()
        jana = contacts.create(contacts.ContactData(first_name="Jana", last_name="Nováková"))
        hidden = contacts.create(contacts.ContactData(first_name="Rita", last_name="Restricted"))
        firm = companies.create(companies.CompanyData(name="Kovárna Novák s.r.o.", country="CZ"))
        lead, qualified, *_rest = stages.ensure_defaults()
        won = next(s for s in stages.ordered() if s.is_won)
        gates = deals.create(deals.DealData(title="Forged gates", value=Decimal("125000.50"), currency="CZK",
                                            stage_id=qualified.id))
        deals.create(deals.DealData(title="Railings", value=Decimal("4800"), currency="EUR", stage_id=qualified.id))
        deals.create(deals.DealData(title="Repair", value=Decimal("1000"), currency="CZK", stage_id=qualified.id))
        deals.create(deals.DealData(title="Fence", value=Decimal("18000"), currency="CZK", stage_id=lead.id))
        deals.create(deals.DealData(title="Closed one", value=Decimal("999"), currency="CZK", stage_id=won.id))

        def add(subject, subject_id, kind, days, note):
            return activities.create(subject, subject_id, activities.ActivityData(
                kind=kind, due_on=today + timedelta(days=days) if days is not None else None, note=note)).id

        ids = {
            "overdue": add("deal", gates.id, "task", -2, "Send the revised quote"),
            "today": add("contact", jana.id, "call", 0, "Call about the offer"),
            "week": add("company", firm.id, "email", 7, "Follow-up e-mail"),
            "later": add("contact", jana.id, "meeting", 8, "Too far ahead"),
            "undated": add("contact", jana.id, "task", None, "No date"),
            "done": add("contact", jana.id, "call", -1, "Already done"),
            "restricted": add("contact", hidden.id, "call", 0, "Of a restricted contact"),
        }
        activities.complete(db.session.get(Activity, ids["done"]))
        hidden.restricted_at = clock.now()
        db.session.commit()
        return ids, {"jana": jana.id, "firm": firm.id, "gates": gates.id}


EVERYONE = "/t/acme/?due=all"  # the panel's "Everyone's" (its default is the member's own)


def _due_items(html: str) -> list[str]:
    section = html.split('id="dash-due"', 1)[1].split("</section>", 1)[0]
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", item)).strip()
            for item in re.findall(r"<li>(.*?)</li>", section, re.S)]


@pytest.mark.obligation("DSR-restrict")
def test_the_dashboard_lists_open_activities_due_within_a_week_overdue_first(web_app, member, acme):
    ids, subjects = _seed(web_app, acme.id)
    html = text(member.get(EVERYONE))
    items = _due_items(html)
    assert len(items) == 3, items
    assert items[0].startswith("Task Overdue") and "Forged gates — Send the revised quote" in items[0]
    assert items[1].startswith("Call today") and "Jana Nováková — Call about the offer" in items[1]
    assert items[2].startswith("E-mail") and "Kovárna Novák s.r.o. — Follow-up e-mail" in items[2]
    for left_out in ("Too far ahead", "No date", "Already done", "Of a restricted contact", "Rita"):
        assert left_out not in html
    # Each item leads to its subject's timeline.
    assert f'href="/t/acme/crm/deals/{subjects["gates"]}#timeline"' in html
    assert f'href="/t/acme/crm/contacts/{subjects["jana"]}#timeline"' in html
    assert f'href="/t/acme/crm/companies/{subjects["firm"]}#timeline"' in html


def test_the_open_pipeline_sums_each_stage_per_currency_and_leaves_out_won_and_lost(web_app, member, acme):
    _seed(web_app, acme.id)
    html = text(member.get(EVERYONE))
    section = html.split('id="dash-pipeline"', 1)[1].split("</section>", 1)[0]
    rows = {re.sub(r"<[^>]+>", "", name).strip(): re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", rest)).strip()
            for name, rest in re.findall(r'<th scope="row">(.*?)</th>(.*?)</tr>', section, re.S)}
    # Each stage with its win probability; the weighted forecast counts that share of each
    # stage's value, rounded half up only where shown (25 % of 126,000.50 is 31,500.125).
    assert rows == {"Lead 10&nbsp;%": "1 18,000.00 CZK",
                    "Qualified 25&nbsp;%": "3 126,000.50 CZK 4,800.00 EUR",
                    "Proposal 50&nbsp;%": "0 —", "Negotiation 75&nbsp;%": "0 —",
                    "Total": "4 144,000.50 CZK 4,800.00 EUR",
                    "Weighted": "33,300.13 CZK 1,200.00 EUR"}  # 1,800 + 31,500.125; 25 % of 4,800
    table, won = section.split('id="dash-won"', 1)
    assert "999" not in table
    assert "<strong>1 deal</strong>" in won and "999.00 CZK" in won  # won, this month
    assert re.search(r"<strong>4</strong> open deals", html)


def test_mark_done_on_the_dashboard_comes_back_to_it(web_app, member, acme):
    ids, _subjects = _seed(web_app, acme.id)
    html = text(member.get(EVERYONE))
    assert html.count(">Mark done</button>") == 3
    assert html.count('<input type="hidden" name="due" value="all">') == 3 + 2 + 1  # done, tomorrow, the e-mail
    response = member.post(f"/t/acme/crm/activities/{ids['today']}/done",
                           data={"done": "1", "back": "dashboard", "due": "all"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/t/acme/?due=all")
    page = text(member.get(EVERYONE))
    assert "Activity marked as done." in page and "Call about the offer" not in page
    # Any other value of back is not a place to go: the subject's timeline, as before.
    response = member.post(f"/t/acme/crm/activities/{ids['week']}/done",
                           data={"done": "1", "back": "https://evil.example/"})
    assert response.status_code == 302 and "/crm/companies/" in response.headers["Location"]


def test_a_viewer_sees_the_panel_without_buttons(web_app, acme):
    _seed(web_app, acme.id)
    viewer = signed_in(web_app, acme, "viewer")
    html = text(viewer.get(EVERYONE))
    assert len(_due_items(html)) == 3
    assert "Mark done" not in html and "New deal" not in html


def test_another_workspace_sees_none_of_it(web_app, member, acme):
    _seed(web_app, acme.id)
    client = signed_in(web_app, new_tenant(web_app, "globex"), "member")
    html = text(client.get("/t/globex/?due=all"))
    assert _due_items(html) == [] and "Nothing due in the next 7 days." in html
    assert "No open deals." in html and "Forged gates" not in html and "Nováková" not in html


def test_only_the_ten_due_soonest_are_shown_and_the_rest_counted(web_app, member, acme):
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        today = local_time.today()
        jana = contacts.create(contacts.ContactData(first_name="Jana", last_name="Nováková"))
        for n in range(12):
            activities.create("contact", jana.id, activities.ActivityData(
                kind="task", due_on=today + timedelta(days=n % 7), note=f"Task number {n:02d}"))
        db.session.commit()
    html = text(member.get(EVERYONE))
    assert len(_due_items(html)) == 10
    assert 'The 10 due soonest of <a href="/t/acme/crm/activities?state=week">12</a>.' in html


@pytest.mark.obligation("DPA-B.monitoring")
def test_what_the_panel_shows_is_recorded_as_reads(web_app, member, acme):
    ids, subjects = _seed(web_app, acme.id)
    member.get(EVERYONE)
    read = {action: (sorted(d["ids"]), d.get("dashboard"), d.get("via"))
            for action, d in listed_reads(web_app, acme.id).items()}
    assert read == {
        "crm.activity.listed": (sorted(str(ids[k]) for k in ("overdue", "today", "week")), True, "web"),
        "crm.contact.listed": ([str(subjects["jana"])], True, "web"),
        "crm.company.listed": ([str(subjects["firm"])], True, "web"),
        "crm.deal.listed": ([str(subjects["gates"])], True, "web"),
    }


def test_the_panel_passes_the_accessibility_checks_with_items_in_it(web_app, member, acme):
    from tests.test_accessibility import _problems

    _seed(web_app, acme.id)
    response = member.get(EVERYONE)
    assert len(_due_items(text(response))) == 3
    assert _problems(response) == []


def test_tomorrow_moves_an_activity_due_by_today_to_tomorrow_audited(web_app, member, acme):
    ids, _subjects = _seed(web_app, acme.id)
    html = text(member.get(EVERYONE))
    assert html.count(">Tomorrow</button>") == 2  # the overdue one and today's, not next week's
    assert f'action="/t/acme/crm/activities/{ids["week"]}/tomorrow"' not in html
    moved = member.post(f"/t/acme/crm/activities/{ids['overdue']}/tomorrow", data={"due": "all"})
    assert moved.status_code == 302 and moved.headers["Location"].endswith("/t/acme/?due=all")
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        tomorrow = local_time.today() + timedelta(days=1)
    assert f"Activity moved to tomorrow ({tomorrow.isoformat()})." in text(member.get(EVERYONE))
    with in_app(web_app, commit=False), all_tenants():
        assert db.session.get(Activity, ids["overdue"]).due_on == tomorrow
        event = db.session.execute(sa.select(AuditEvent).where(AuditEvent.action == "crm.activity.updated",
                                                                AuditEvent.target_id == str(ids["overdue"]))).scalar_one()
        assert event.details == {"via": "dashboard", "fields": ["due_on"]}
    # A viewer cannot; an activity of a restricted contact cannot be moved either.
    viewer = signed_in(web_app, acme, "viewer")
    assert viewer.post(f"/t/acme/crm/activities/{ids['today']}/tomorrow").status_code == 403
    assert member.post(f"/t/acme/crm/activities/{ids['restricted']}/tomorrow").status_code == 409
