"""/api/v1/reports/sales: the sales report of the UI (crm/reports.py) for an integration (a
BI tool, a weekly summary): the open deals by the month of their expected close date with
their weighted value, and the deals won and lost in each of the workspace's last twelve
months. Counts and sums only, no one's personal data: no read event."""

from __future__ import annotations

from decimal import Decimal

from flask import jsonify, request

from tenantry.tenants import local_time
from tenantry.tenants.crm import overview, reports

from . import openapi
from .common import parse_uuid
from .core import bp, require_scope


def _amounts(values: dict[str, Decimal]) -> dict[str, str]:
    # Exact, as the deals' own values are: rounding is for whoever shows them.
    return {currency: f"{value.normalize():f}" for currency, value in values.items()}


def _forecast_row(row: reports.ForecastRow) -> dict:
    return {"kind": row.kind, "month": row.month.strftime("%Y-%m") if row.month else None, "label": row.label,
            "deals": row.amounts.deals, "values": _amounts(row.amounts.values),
            "weighted": _amounts(row.amounts.weighted)}


def _closed(month: reports.ClosedMonth, *, total: bool = False) -> dict:
    return {**({} if total else {"month": month.month.strftime("%Y-%m")}), "won": month.won.deals,
            "won_values": _amounts(month.won.values), "lost": month.lost, "win_rate": month.win_rate,
            "average_days_to_win": month.average_days_to_win}


@bp.get("/reports/sales")
@require_scope("crm:read")
def sales_report():
    owner_id = parse_uuid(request.args.get("owner_id"), "owner_id", "members")
    now = local_time.now()
    forecast = reports.forecast(now, owner_id)
    closed = reports.closed_by_month(now, owner_id)
    total = overview.summed([row.amounts for row in forecast])
    return jsonify({"time_zone": now.tzinfo.key, "today": now.date().isoformat(),
            "forecast": [_forecast_row(row) for row in forecast],
            "forecast_total": {"deals": total.deals, "values": _amounts(total.values),
                               "weighted": _amounts(total.weighted)},
            "lost_by_reason": [{"reason": row.reason, "reason_id": row.reason_id, "deals": row.deals,
                                "share": row.share}
                               for row in reports.lost_by_reason(now, owner_id)],
            "by_owner": [{"owner_id": row.owner_id, "open": row.open.deals, "open_values": _amounts(row.open.values),
                          "weighted": _amounts(row.open.weighted), "won": row.won.deals,
                          "won_values": _amounts(row.won.values), "lost": row.lost, "win_rate": row.win_rate}
                         for row in reports.by_owner(now)] if owner_id is None else [],
            "closed": [_closed(month) for month in closed],
            "closed_total": _closed(reports.totals(closed), total=True)})


_money = {"type": "object", "additionalProperties": {"type": "string"},
          "description": "Currency (ISO 4217) -> exact decimal amount; currencies are never added together"}
_month = {"type": "string", "pattern": "^\\d{4}-\\d{2}$"}
_rate = {"type": ["integer", "null"], "description": "Per cent of the deals closed that were won; null: none closed"}
_days = {"type": ["integer", "null"], "description": "Average days from a won deal's creation to its win"}
openapi.add_schemas({
    "SalesReport": {"type": "object", "properties": {
        "time_zone": {"type": "string", "description": "The workspace's zone: whose months these are"},
        "today": {"type": "string", "format": "date"},
        "forecast": {"type": "array", "description": "Open deals by expected close: late (before this month), "
                                                     "this month and the five after it, later, undated",
                     "items": {"type": "object", "properties": {
                         "kind": {"enum": ["late", "month", "later", "undated"]},
                         "month": {"anyOf": [_month, {"type": "null"}]}, "label": {"type": "string"},
                         "deals": {"type": "integer"}, "values": _money,
                         "weighted": {**_money, "description": "Each value times its win probability (the deal's own, else its stage's)"}}}},
        "forecast_total": {"type": "object", "properties": {"deals": {"type": "integer"}, "values": _money,
                                                             "weighted": _money}},
        "closed": {"type": "array", "description": "This month and the eleven before it, newest first; a deal "
                                                   "counts in the month it entered a won or lost stage",
                   "items": {"type": "object", "properties": {
                       "month": _month, "won": {"type": "integer"}, "won_values": _money, "lost": {"type": "integer"},
                       "win_rate": _rate, "average_days_to_win": _days}}},
        "lost_by_reason": {"type": "array", "description": "The deals lost in the same months, by the reason given "
                                                           "(most often first; reason null: none given, last)",
                           "items": {"type": "object", "properties": {
                               "reason": {"type": ["string", "null"]},
                               "reason_id": {"type": ["string", "null"], "format": "uuid",
                                             "description": "The lost_reason_id of GET /api/v1/deals (none: null)"},
                               "deals": {"type": "integer"},
                               "share": {"type": "integer", "description": "Per cent of the deals lost"}}}},
        "by_owner": {"type": "array", "description": "Without owner_id: each owner's open deals and the deals they won "
                                                     "and lost in the months of closed (owner_id null: no one's, last); "
                                                     "with it, empty",
                     "items": {"type": "object", "properties": {
                         "owner_id": {"type": ["string", "null"], "format": "uuid"}, "open": {"type": "integer"},
                         "open_values": _money, "weighted": _money, "won": {"type": "integer"}, "won_values": _money,
                         "lost": {"type": "integer"}, "win_rate": _rate}}},
        "closed_total": {"type": "object", "properties": {
            "won": {"type": "integer"}, "won_values": _money, "lost": {"type": "integer"}, "win_rate": _rate,
            "average_days_to_win": _days}}}},
})
openapi.add_paths({
    "/api/v1/reports/sales": {
        "get": openapi.operation(
            "The sales report: the open deals' forecast by month, and the deals won and lost by month",
            scope="crm:read", errors=(422,),
            parameters=[{"name": "owner_id", "in": "query", "schema": {"type": "string", "format": "uuid"},
                         "description": "Only the deals of this member"}],
            responses={"200": {"description": "The report", "content": {"application/json": {
                "schema": openapi.ref("SalesReport")}}}}),
    },
})
