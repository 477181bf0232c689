"""Open deals with nothing planned: the deal list's "Next activity" column (the earliest open
activity's due date, "undated", or "none planned") and its filter of the open deals with no open
activity (kept by the pager, the CSV export and a bulk change), a mark on their board cards, and
the dashboard's count linking to them. Won and lost deals need no next step. The API's side:
tests/tenants/api/test_list_filters.py."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import timedelta
from decimal import Decimal

from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants import local_time
from tenantry.tenants.crm import activities, deals, stages
from tests.identity.support import in_app, text
from tests.tenants.crm.conftest import listed_deals


def _seed(web_app, acme) -> dict[str, str]:
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        today = local_time.today()
        pipeline = stages.ensure_defaults()
        won = next(s for s in pipeline if s.is_won)
        made = {}
        for title, stage in (("Gates", pipeline[0]), ("Railings", pipeline[1]), ("Fence", pipeline[0]),
                             ("Roof", pipeline[2]), ("Won one", won)):
            made[title] = deals.create(deals.DealData(title=title, value=Decimal("100"), currency="CZK",
                                                      stage_id=stage.id)).id

        def add(title, **data):
            return activities.create("deal", made[title], activities.ActivityData(kind="task", **data))

        add("Gates", due_on=today + timedelta(days=1))
        add("Gates", due_on=today + timedelta(days=5))
        add("Railings")  # open, undated
        activities.complete(add("Fence", due_on=today - timedelta(days=2)))  # done: nothing planned now
        return {title: str(deal_id) for title, deal_id in made.items()}


def _row(html: str, title: str) -> str:
    return html.split(f">{title}</a>", 1)[1].split("</tr>", 1)[0]


def test_the_list_shows_each_deals_next_activity_and_filters_those_with_none(web_app, member, acme):
    ids = _seed(web_app, acme)
    listed = text(member.get("/t/acme/crm/deals?sort=newest"))
    assert '<th scope="col" role="columnheader">Next activity</th>' in listed
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        tomorrow = (local_time.today() + timedelta(days=1)).isoformat()
    assert f'data-label="Next activity"><time datetime="{tomorrow}">{tomorrow}</time></td>' in _row(listed, "Gates")
    assert 'data-label="Next activity">undated' in _row(listed, "Railings")
    for idle in ("Fence", "Roof"):
        assert '<span class="badge badge-warn">none planned</span>' in _row(listed, idle), idle
    assert 'data-label="Next activity">—' in _row(listed, "Won one")

    idle = text(member.get("/t/acme/crm/deals?next=none&sort=newest"))
    assert listed_deals(idle) == ["Roof", "Fence"]
    assert '<option value="none" selected>None planned, still open</option>' in idle
    export = re.search(r'href="(/t/acme/crm/deals/export\.csv[^"]*)"', idle).group(1).replace("&amp;", "&")
    assert "next=none" in export
    rows = list(csv.reader(io.StringIO(member.get(export).get_data(as_text=True).lstrip("\ufeff"))))
    assert sorted(r[0] for r in rows[1:]) == ["Fence", "Roof"]

    # A bulk change from the filtered list comes back to it.
    moved = member.post("/t/acme/crm/deals/bulk", data={"ids": [ids["Roof"]], "action": "owner",
                                                        "bulk_owner": "nobody", "list_next": "none"})
    assert moved.status_code == 302 and "next=none" in moved.headers["Location"]

    # Something planned for the fence: it leaves the filter.
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        activities.create("deal", uuid.UUID(ids["Fence"]), activities.ActivityData(kind="call"))
    assert listed_deals(text(member.get("/t/acme/crm/deals?next=none"))) == ["Roof"]


def test_the_board_marks_and_the_dashboard_counts_the_deals_with_nothing_planned(web_app, member, acme):
    ids = _seed(web_app, acme)
    board = text(member.get("/t/acme/crm/deals/board"))
    marked = [title for title, deal_id in ids.items()
              if "no next activity" in board.split(f'id="deal-{deal_id}"', 1)[1].split("</li>", 1)[0]]
    assert marked == ["Fence", "Roof"]
    dashboard = text(member.get("/t/acme/"))
    assert '<a href="/t/acme/crm/deals?next=none">2 open deals with no activity planned</a>' in dashboard
