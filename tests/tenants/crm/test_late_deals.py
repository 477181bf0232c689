"""Deals past their expected close date and still open ("late"): the deal list's "Close date"
filter (kept by the pager, the CSV export and a bulk change), an "overdue" mark on the rows (as on the board), and
the dashboard's count linking to them. Won and lost deals are never late."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal

from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants import local_time
from tenantry.tenants.crm import deals, stages
from tests.identity.support import in_app, text
from tests.tenants.crm.conftest import listed_deals


def _seed(web_app, acme) -> dict[str, str]:
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        today = local_time.today()
        pipeline = stages.ensure_defaults()
        lead = pipeline[0].id
        won = next(s for s in pipeline if s.is_won).id
        lost = next(s for s in pipeline if s.is_lost).id
        made = {}
        for title, stage_id, days in (("Gates", lead, -10), ("Railings", lead, -1), ("Fence", lead, 0),
                                      ("Roof", lead, 30), ("Undated", lead, None), ("Won one", won, -3),
                                      ("Lost one", lost, -3)):
            made[title] = str(deals.create(deals.DealData(
                title=title, value=Decimal("100"), currency="CZK", stage_id=stage_id,
                expected_close=None if days is None else today + timedelta(days=days))).id)
        return made


def test_the_list_filters_the_late_deals_and_marks_them(web_app, member, acme):
    _seed(web_app, acme)
    everything = text(member.get("/t/acme/crm/deals?sort=close"))
    assert '<label for="close">Close date</label>' in everything
    assert everything.count('<span class="badge badge-warn">overdue</span>') == 2  # Gates, Railings
    late = text(member.get("/t/acme/crm/deals?close=late&sort=close"))
    assert listed_deals(late) == ["Gates", "Railings"]
    assert '<option value="late" selected>Passed, still open</option>' in late
    assert "2 deals." in late
    # The export link carries the filter, and the export holds what the list shows.
    export = re.search(r'href="(/t/acme/crm/deals/export\.csv[^"]*)"', late).group(1).replace("&amp;", "&")
    assert "close=late" in export
    rows = list(csv.reader(io.StringIO(member.get(export).get_data(as_text=True).lstrip("\ufeff"))))
    assert sorted(r[0] for r in rows[1:]) == ["Gates", "Railings"]
    # An unknown value is no filter.
    assert len(listed_deals(text(member.get("/t/acme/crm/deals?close=soon")))) == 7


def test_the_pager_and_a_bulk_change_keep_the_filter(web_app, member, acme, monkeypatch):
    made = _seed(web_app, acme)
    monkeypatch.setattr(deals, "PAGE_SIZE", 1)
    first = text(member.get("/t/acme/crm/deals?close=late&sort=close"))
    assert 'href="/t/acme/crm/deals?page=2&amp;close=late&amp;sort=close" rel="next"' in first
    assert '<input type="hidden" name="list_close" value="late">' in first
    moved = member.post("/t/acme/crm/deals/bulk", data={
        "ids": [made["Gates"]], "action": "owner", "bulk_owner": "nobody", "list_close": "late", "list_sort": "close"})
    assert moved.status_code == 302 and "close=late" in moved.headers["Location"]


def test_the_dashboard_counts_the_late_deals_and_links_to_them(web_app, member, acme):
    _seed(web_app, acme)
    html = text(member.get("/t/acme/"))
    section = html.split('id="dash-pipeline"', 1)[1].split("</section>", 1)[0]
    assert ('<a href="/t/acme/crm/deals?close=late&amp;sort=close">2 open deals past their expected close date</a>'
            in section)
