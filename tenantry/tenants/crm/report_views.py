"""The sales report page (reports.py), beside the deal list and the board. Routes of the
CRM's blueprint. Any role may read it: it shows counts and sums, no one's personal data."""

from __future__ import annotations

from flask import render_template, request

from tenantry.tenants import local_time

from . import bulk, deals, forms, overview, reports
from .views import bp


@bp.get("/crm/deals/report")
def deal_report():
    owner_id = forms.uuid_or_none(request.args.get("owner"))
    now = local_time.now()
    closed = reports.closed_by_month(now, owner_id)
    forecast = reports.forecast(now, owner_id)
    closed_total = reports.totals(closed)
    owners = deals.members()
    names = dict(owners)
    # The whole team's, by name (no one's last); for one owner, their row is the rest of the page.
    by_owner = sorted(reports.by_owner(now), key=lambda row: (
        row.owner_id is None, names.get(str(row.owner_id), "\uffff").lower())) if owner_id is None else []
    return render_template("crm/report.html", owner_id=owner_id, owners=owners, closed=closed,
                           lost=reports.lost_by_reason(now, owner_id), no_reason=deals.NO_REASON,
                           by_owner=by_owner, owner_names=names, nobody=bulk.NOBODY,
                           # the months of the tables, together
                           won_since=f"won-since-{closed_total.month:%Y-%m}",
                           lost_since=f"lost-since-{closed_total.month:%Y-%m}",
                           closed_total=closed_total, forecast=forecast,
                           forecast_total=overview.summed([row.amounts for row in forecast]), now=now)
