"""The sales report (/crm/deals/report): the open deals by the month of their expected close
date with their weighted value, and the deals won and lost in each of the last twelve of the
workspace's months with the win rate and the days a won deal took; by owner; for every role,
showing no one's personal data and recording no read."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import deals, reports, stages
from tests.identity.support import audit_events, in_app, new_member, text
from tests.tenants.api.conftest import Bearer, new_client, token_for
from tests.tenants.crm.conftest import deals_listed_by, signed_in

PRAGUE = ZoneInfo("Europe/Prague")
NOW = datetime(2027, 3, 15, 12, 0, tzinfo=PRAGUE)


def _rows(html: str, table_id: str) -> dict[str, str]:
    table = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    def key(head: str) -> str:  # a month by its <time datetime="YYYY-MM">, any other row by its text
        month = re.search(r'<time datetime="([\d-]+)">', head)
        return month[1] if month else " ".join(re.sub(r"<[^>]+>", " ", head).split())

    return {key(head): " ".join(re.sub(r"<[^>]+>", " ", rest).split())
            for head, rest in re.findall(r'<th scope="row">(.*?)</th>(.*?)</tr>', table, re.S)}


@pytest.fixture
def world(web_app, acme, time_machine) -> dict:
    """At NOW: open deals expected before this month, in it, in the next, in the sixth month,
    later and never, one of them Olga's; deals won and lost over the past months."""
    olga = new_member(web_app, acme, "member", email="olga@acme.example.com")
    made = {}

    def deal(title, value, currency, stage, *, close=None, at=NOW, created=None, owner=None):
        time_machine.move_to(at, tick=False)
        with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
            row = deals.create(deals.DealData(title=title, value=Decimal(value), currency=currency,
                                              stage_id=stages.ensure_defaults()[stage].id, expected_close=close,
                                              owner_id=owner))
            if created is not None:
                row.created_at = created
            made[title] = row.id

    lead, qualified, proposal, won, lost = 0, 1, 2, 4, 5
    deal("Late fence", "18000", "CZK", lead, close=date(2027, 2, 20))  # 10 %
    deal("March windows", "250000.50", "CZK", proposal, close=date(2027, 3, 31), owner=olga.id)  # 50 %
    deal("April doors", "1200", "EUR", qualified, close=date(2027, 4, 1))  # 25 %
    deal("August roof", "480000", "CZK", proposal, close=date(2027, 8, 31))
    deal("September gate", "7000", "CZK", proposal, close=date(2027, 9, 1))
    deal("Undated", "100", "CZK", lead)
    # Won at 00:30 on 1 March in Prague: 28 February in UTC, March here; created 20 days before.
    first_of_march = datetime(2027, 3, 1, 0, 30, tzinfo=PRAGUE)
    deal("March win", "999", "CZK", won, at=first_of_march, created=first_of_march - timedelta(days=20),
         owner=olga.id)
    deal("February win", "12000", "EUR", won, at=datetime(2027, 2, 10, 9, 0, tzinfo=PRAGUE),
         created=datetime(2027, 1, 1, 9, 0, tzinfo=PRAGUE))
    deal("February loss", "5000", "CZK", lost, at=datetime(2027, 2, 11, 9, 0, tzinfo=PRAGUE))
    deal("Old win", "1", "CZK", won, at=datetime(2026, 3, 31, 9, 0, tzinfo=PRAGUE))  # 13 months back: out
    time_machine.move_to(NOW, tick=False)
    return {"olga": olga, **made}


def test_the_forecast_groups_open_deals_by_the_month_they_should_close(web_app, acme, world):
    page = text(signed_in(web_app, acme, "viewer").get("/t/acme/crm/deals/report"))
    assert "<title>Sales report · Tenantry</title>" in page
    assert _rows(page, "forecast") == {
        "Before Mar 2027 late": "1 18,000.00 CZK 1,800.00 CZK",
        "Mar 2027": "1 250,000.50 CZK 125,000.25 CZK",
        "Apr 2027": "1 1,200.00 EUR 300.00 EUR",
        "May 2027": "0 — —", "Jun 2027": "0 — —", "Jul 2027": "0 — —",
        "Aug 2027": "1 480,000.00 CZK 240,000.00 CZK",
        "Later": "1 7,000.00 CZK 3,500.00 CZK",
        "No date": "1 100.00 CZK 10.00 CZK",
        "All open": "6 755,100.50 CZK 1,200.00 EUR 370,310.25 CZK 300.00 EUR",
    }


def test_won_and_lost_count_in_the_workspaces_month_they_closed(web_app, acme, world):
    page = text(signed_in(web_app, acme, "member").get("/t/acme/crm/deals/report"))
    rows = _rows(page, "closed")
    assert list(rows)[:3] == ["2027-03", "2027-02", "2027-01"] and len(rows) == 13  # twelve months and All
    assert rows["2027-03"] == "1 999.00 CZK 0 100 % 20"
    assert rows["2027-02"] == "1 12,000.00 EUR 1 50 % 40"
    assert rows["2027-01"] == "0 — 0 — —"
    assert "2026-03" not in rows and rows["2026-04"] == "0 — 0 — —"
    assert rows["All"] == "2 999.00 CZK 12,000.00 EUR 1 67 % 30"


def test_the_report_of_one_owner(web_app, acme, world):
    page = text(signed_in(web_app, acme, "member").get("/t/acme/crm/deals/report",
                                                       query_string={"owner": str(world["olga"].id)}))
    assert _rows(page, "forecast")["All open"] == "1 250,000.50 CZK 125,000.25 CZK"
    assert _rows(page, "closed")["All"] == "1 999.00 CZK 0 100 % 20"
    assert f'<option value="{world["olga"].id}" selected>' in page


def test_it_names_no_deal_and_records_no_read(web_app, acme, world):
    page = text(signed_in(web_app, acme, "viewer").get("/t/acme/crm/deals/report"))
    for title in ("Late fence", "March windows", "March win"):
        assert title not in page
    assert audit_events(web_app, "crm.deal.listed") == []
    # Reached from the deal list, the board and the dashboard.
    member = signed_in(web_app, acme, "member")
    for path in ("/t/acme/crm/deals", "/t/acme/crm/deals/board", "/t/acme/"):
        assert 'href="/t/acme/crm/deals/report' in text(member.get(path)), path


def test_months_are_counted_in_the_calendar_not_in_days():
    assert reports.month_start(date(2027, 3, 31), -1) == date(2027, 2, 1)
    assert reports.month_start(date(2027, 1, 15), -1) == date(2026, 12, 1)
    assert reports.month_start(date(2026, 12, 1), 1) == date(2027, 1, 1)
    assert reports.month_start(date(2027, 3, 15), -11) == date(2026, 4, 1)


def test_a_quiet_workspace_gets_an_empty_report_not_an_error(web_app, acme):
    page = signed_in(web_app, acme, "member").get("/t/acme/crm/deals/report", query_string={"owner": "not-a-uuid"})
    assert page.status_code == 200
    assert _rows(text(page), "closed")["All"] == "0 — 0 — —"
    assert _rows(text(page), "forecast")["All open"] == "0 — —"


def test_a_months_count_leads_to_its_deals_in_the_list_and_the_api(web_app, acme, world):
    member = signed_in(web_app, acme, "member")
    page = text(member.get("/t/acme/crm/deals/report"))
    assert 'href="/t/acme/crm/deals?close=won-2027-03"' in page and 'href="/t/acme/crm/deals?close=lost-2027-02"' in page
    won = text(member.get("/t/acme/crm/deals?close=won-2027-03"))
    assert "March win" in won and "February win" not in won and "Late fence" not in won
    assert '<option value="won-2027-03" selected>Won in March 2027</option>' in won
    assert 'close=won-2027-03' in won.split("Export CSV")[0].rsplit("<a", 1)[1]  # the export keeps it
    lost = text(member.get("/t/acme/crm/deals?close=lost-2027-02"))
    assert "February loss" in lost and "February win" not in lost
    # The month is the workspace's: the 00:30 win of 1 March is not February's (in UTC it was).
    assert "March win" not in text(member.get("/t/acme/crm/deals?close=won-2027-02"))
    # A forecast month's count: its open deals expected to close then.
    assert 'href="/t/acme/crm/deals?close=expected-2027-04"' in page
    expected = text(member.get("/t/acme/crm/deals?close=expected-2027-04"))
    assert "April doors" in expected and "March windows" not in expected and "August roof" not in expected
    assert '<option value="expected-2027-04" selected>Open, expected to close in April 2027</option>' in expected
    # No such month: the filter is dropped, not an error.
    everything = member.get("/t/acme/crm/deals?close=won-2027-13")
    assert everything.status_code == 200 and "Late fence" in text(everything)

    http = web_app.test_client()
    api = Bearer(http, token_for(http, new_client(web_app, acme)))
    listed = api.get("/api/v1/deals", query_string={"close": "won-2027-02"})
    assert [d["id"] for d in listed.get_json()["items"]] == [str(world["February win"])]
    refused = api.get("/api/v1/deals", query_string={"close": "won-2027-13"})
    assert refused.status_code == 422 and "close" in refused.get_json()["error"]["fields"]


def test_the_api_gives_the_same_report_with_exact_amounts(web_app, acme, world):
    http = web_app.test_client()
    api = Bearer(http, token_for(http, new_client(web_app, acme, scopes="crm:read")))
    answer = api.get("/api/v1/reports/sales")
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert (body["time_zone"], body["today"]) == ("Europe/Prague", "2027-03-15")
    assert [(r["kind"], r["month"], r["deals"]) for r in body["forecast"]] == [
        ("late", None, 1), ("month", "2027-03", 1), ("month", "2027-04", 1), ("month", "2027-05", 0),
        ("month", "2027-06", 0), ("month", "2027-07", 0), ("month", "2027-08", 1), ("later", None, 1),
        ("undated", None, 1)]
    assert body["forecast"][1]["values"] == {"CZK": "250000.5"} and body["forecast"][1]["weighted"] == {"CZK": "125000.25"}
    assert body["forecast_total"] == {"deals": 6, "values": {"CZK": "755100.5", "EUR": "1200"},
                                      "weighted": {"CZK": "370310.25", "EUR": "300"}}
    assert body["closed"][0] == {"month": "2027-03", "won": 1, "won_values": {"CZK": "999"}, "lost": 0,
                                 "win_rate": 100, "average_days_to_win": 20}
    assert len(body["closed"]) == 12 and body["closed"][-1]["month"] == "2026-04"
    assert body["closed_total"] == {"won": 2, "won_values": {"CZK": "999", "EUR": "12000"}, "lost": 1,
                                    "win_rate": 67, "average_days_to_win": 30}
    olga = api.get("/api/v1/reports/sales", query_string={"owner_id": str(world["olga"].id)}).get_json()
    assert olga["forecast_total"]["deals"] == 1 and olga["closed_total"]["won"] == 1
    refused = api.get("/api/v1/reports/sales", query_string={"owner_id": "olga"})
    assert refused.status_code == 422 and "owner_id" in refused.get_json()["error"]["fields"]
    assert audit_events(web_app, "crm.deal.listed") == []
    schema = http.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/reports/sales" in schema["paths"] and "SalesReport" in schema["components"]["schemas"]


def test_by_owner_each_owner_s_open_won_and_lost_deals_lead_to_them(web_app, acme, world):
    member = signed_in(web_app, acme, "member")
    page = text(member.get("/t/acme/crm/deals/report"))
    rows = _rows(page, "owners")
    olga = next(name for name in rows if name != "Nobody")
    assert rows == {olga: "1 250,000.50 CZK 125,000.25 CZK 1 999.00 CZK 0 100 %",
                    "Nobody": "5 505,100.00 CZK 1,200.00 EUR 245,310.00 CZK 300.00 EUR 1 12,000.00 EUR 1 50 %"}
    assert list(rows) == [olga, "Nobody"]  # no one's last
    table = page.split('id="owners"', 1)[1].split("</table>", 1)[0]
    links = dict(re.findall(r'<a href="([^"]+)" aria-label="[^"]*(the report of their deals|the board|: the deals)"',
                            table))
    # Olga's name, her open deals (the board) and her win; no one's open deals, win and loss.
    assert len(links) == 6 and any("board?owner=nobody" in href for href in links)
    won = next(href for href in links if "close=won-since" in href and str(world["olga"].id) in href)
    assert "Won since April 2026" in text(member.get(won.replace("&amp;", "&")))
    nobody_lost = next(href for href in links if "close=lost-since" in href)
    assert "owner=nobody" in nobody_lost
    assert deals_listed_by(member.get(nobody_lost.replace("&amp;", "&"))) == ["February loss"]
    # One owner's report is that owner's: no table of owners.
    assert 'id="owners"' not in text(member.get("/t/acme/crm/deals/report",
                                                 query_string={"owner": str(world["olga"].id)}))
    http = web_app.test_client()
    api = Bearer(http, token_for(http, new_client(web_app, acme, scopes="crm:read")))
    assert api.get("/api/v1/reports/sales").get_json()["by_owner"] == [
        {"owner_id": str(world["olga"].id), "open": 1, "open_values": {"CZK": "250000.5"},
         "weighted": {"CZK": "125000.25"}, "won": 1, "won_values": {"CZK": "999"}, "lost": 0, "win_rate": 100},
        {"owner_id": None, "open": 5, "open_values": {"CZK": "505100", "EUR": "1200"},
         "weighted": {"CZK": "245310", "EUR": "300"}, "won": 1, "won_values": {"EUR": "12000"}, "lost": 1,
         "win_rate": 50}]
