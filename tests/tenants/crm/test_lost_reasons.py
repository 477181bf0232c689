"""Why deals are lost: each workspace's own list of reasons (seeded, then added, renamed and
deleted by admins beside the stages, audited, a bad name refused next to its field, one in use
not deleted); the reason of a lost deal, given on its page or its form and in the API, kept only
while the deal is in a lost stage, and shown on the board; the sales report's count of lost
deals by reason, each leading to its deals; the deal list, its export and the API filtered by
the reason."""

from __future__ import annotations

import html
import re
import uuid
from decimal import Decimal

import pytest

from tenantry.platform import clock
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import board, deals, lost_reasons, stages
from tests.identity.support import audit_events, in_app, new_tenant, text
from tests.tenants.api.conftest import Bearer, new_client, token_for
from tests.tenants.crm.conftest import deals_listed_by, opened_form, signed_in


@pytest.fixture
def world(web_app, acme) -> dict:
    """The defaults seeded; a deal already lost (on the board: no reason), one still open."""
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        pipeline = {s.name: s.id for s in stages.ensure_defaults()}
        reasons = {r.name: r.id for r in lost_reasons.ensure_defaults()}
        made = {}
        for title in ("Gone gates", "Open offer"):
            made[title] = deals.create(deals.DealData(title=title, value=Decimal("100"), currency="CZK",
                                                      stage_id=pipeline["Lead"])).id
        board.move(deals.get(made["Gone gates"]), pipeline["Lost"])
    return {"stages": pipeline, "reasons": reasons, **made}


def _reason_of(web_app, acme, deal_id):
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        return deals.get(deal_id).lost_reason_id


def test_admins_keep_the_list_of_reasons_beside_the_stages(web_app, acme, world):
    admin = signed_in(web_app, acme, "admin")
    page = text(admin.get("/t/acme/crm/stages"))
    assert [name for name in lost_reasons.DEFAULTS if f'value="{name}"' in page] == list(lost_reasons.DEFAULTS)
    assert admin.post("/t/acme/crm/lost-reasons/new", data={"name": "  Went   in-house "}).status_code == 302
    assert audit_events(web_app, "crm.lost-reason.created")[-1]["details"] == {"name": "Went in-house"}
    clash = admin.post("/t/acme/crm/lost-reasons/new", data={"name": "price"})
    assert clash.status_code == 422
    field = text(clash).split('id="reason-new"', 1)[1].split(">", 1)[0]
    assert 'aria-invalid="true"' in field and 'value="price"' in field  # what was typed stays
    assert "already a reason called “price”" in text(clash).split('id="reason-new-err"', 1)[1].split("</p>", 1)[0]
    assert admin.post("/t/acme/crm/lost-reasons/new", data={"name": ""}).status_code == 422
    price = world["reasons"]["Price"]
    assert admin.post(f"/t/acme/crm/lost-reasons/{price}/edit", data={"name": "Too expensive"}).status_code == 302
    assert audit_events(web_app, "crm.lost-reason.updated")[-1]["details"] == {
        "from": {"name": "Price"}, "to": {"name": "Too expensive"}}
    # One a deal gives stays, with the reason why; one none gives goes.
    admin.post(f"/t/acme/crm/deals/{world['Gone gates']}/lost-reason", data={"lost_reason": str(price)})
    refused = admin.post(f"/t/acme/crm/lost-reasons/{price}/delete")
    assert refused.status_code == 422 and "1 lost deal gives “Too expensive”" in text(refused)
    timing = world["reasons"]["Timing"]
    assert admin.post(f"/t/acme/crm/lost-reasons/{timing}/delete").status_code == 302
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        assert [r.name for r in lost_reasons.ordered()] == [
            "Too expensive", "Chose a competitor", "No budget", "No decision", "Went in-house"]
    member = signed_in(web_app, acme, "member")
    assert member.post("/t/acme/crm/lost-reasons/new", data={"name": "X"}).status_code == 403
    assert member.post(f"/t/acme/crm/lost-reasons/{price}/delete").status_code == 403


def test_a_lost_deal_is_given_its_reason_on_its_page(web_app, acme, world):
    member = signed_in(web_app, acme, "member")
    gone, still_open = world["Gone gates"], world["Open offer"]
    page = text(member.get(f"/t/acme/crm/deals/{gone}"))
    assert re.search(r"<dt>Reason lost</dt><dd>Not given", page)
    assert _board_card(member, gone).count('<p class="board-why">Reason lost: not given</p>') == 1
    competitor = world["reasons"]["Chose a competitor"]
    assert member.post(f"/t/acme/crm/deals/{gone}/lost-reason",
                       data={"lost_reason": str(competitor)}).status_code == 302
    assert _reason_of(web_app, acme, gone) == competitor
    assert re.search(r"<dt>Reason lost</dt><dd>Chose a competitor", text(member.get(f"/t/acme/crm/deals/{gone}")))
    assert "Reason lost: Chose a competitor" in _board_card(member, gone)
    assert "Reason lost" not in _board_card(member, still_open)
    event = audit_events(web_app, "crm.deal.updated")[-1]
    assert event["target_id"] == str(gone) and event["details"]["via"] == "deal page"
    # An open deal has no reason, and another workspace's reason is none of this one's.
    assert "Reason lost" not in text(member.get(f"/t/acme/crm/deals/{still_open}"))
    refused = member.post(f"/t/acme/crm/deals/{still_open}/lost-reason", data={"lost_reason": str(competitor)})
    assert refused.status_code == 422 and "Only a lost deal has a reason" in text(refused)
    globex = new_tenant(web_app, "globex", country="CZ")
    with in_app(web_app), tenant_context(db.session.get(Tenant, globex.id)):
        theirs = lost_reasons.ensure_defaults()[0].id
    refused = member.post(f"/t/acme/crm/deals/{gone}/lost-reason", data={"lost_reason": str(theirs)})
    assert refused.status_code == 422 and 'id="lost-reason-err"' in text(refused)
    assert _reason_of(web_app, acme, gone) == competitor
    # Back on the board to an open stage: the reason no longer holds.
    assert member.post(f"/t/acme/crm/deals/{gone}/stage", data={"stage": str(world["stages"]["Proposal"])}
                       ).status_code == 302
    assert _reason_of(web_app, acme, gone) is None
    assert audit_events(web_app, "crm.deal.updated")[-1]["details"]["via"] == "board"


def _board_card(member, deal_id) -> str:
    return text(member.get("/t/acme/crm/deals/board")).split(f'id="deal-{deal_id}"', 1)[1].split("</li>", 1)[0]


def test_the_deal_form_keeps_a_reason_only_for_a_lost_stage(web_app, acme, world):
    member = signed_in(web_app, acme, "member")
    budget = str(world["reasons"]["No budget"])
    path = f"/t/acme/crm/deals/{world['Open offer']}/edit"
    page = text(member.get(path))
    assert '<label for="lost_reason">Reason lost</label>' in page and "kept only in a lost stage" in page
    sent = member.post(path, data={**opened_form(member, path), "stage": str(world["stages"]["Proposal"]),
                                   "lost_reason": budget})
    assert sent.status_code == 302 and _reason_of(web_app, acme, world["Open offer"]) is None
    sent = member.post(path, data={**opened_form(member, path), "stage": str(world["stages"]["Lost"]),
                                   "lost_reason": budget})
    assert sent.status_code == 302 and str(_reason_of(web_app, acme, world["Open offer"])) == budget
    assert f'<option selected value="{budget}">No budget</option>' in text(member.get(path))
    bogus = member.post(path, data={**opened_form(member, path), "lost_reason": str(uuid.uuid4())})
    assert bogus.status_code == 422 and str(_reason_of(web_app, acme, world["Open offer"])) == budget


def test_the_api_reads_and_writes_the_reason_and_lists_them(web_app, acme, world):
    http = web_app.test_client()
    api = Bearer(http, token_for(http, new_client(web_app, acme)))
    listed = api.get("/api/v1/lost-reasons").get_json()["items"]
    assert [r["name"] for r in listed] == list(lost_reasons.DEFAULTS)
    gone = f"/api/v1/deals/{world['Gone gates']}"
    assert api.get(gone).get_json()["lost_reason_id"] is None
    price = str(world["reasons"]["Price"])
    given = api.patch(gone, json={"lost_reason_id": price})
    assert given.status_code == 200 and given.get_json()["lost_reason_id"] == price
    refused = api.patch(f"/api/v1/deals/{world['Open offer']}", json={"lost_reason_id": price})
    assert refused.status_code == 422 and "lost_reason_id" in refused.get_json()["error"]["fields"]
    for bad in ("not-an-id", str(uuid.uuid4())):
        answer = api.patch(gone, json={"lost_reason_id": bad})
        assert answer.status_code == 422 and "lost_reason_id" in answer.get_json()["error"]["fields"], bad
    # Out of the lost stage, the reason goes with it.
    reopened = api.patch(gone, json={"stage_id": str(world["stages"]["Lead"])}).get_json()
    assert reopened["lost_reason_id"] is None
    made = api.post("/api/v1/deals", json={"title": "Lost at once", "value": "5", "currency": "EUR",
                                           "stage_id": str(world["stages"]["Lost"]), "lost_reason_id": price})
    assert made.status_code == 201 and made.get_json()["lost_reason_id"] == price


def test_the_sales_report_counts_the_lost_deals_by_reason(web_app, acme, world):
    member = signed_in(web_app, acme, "member")
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        for title, reason in (("A", "Price"), ("B", "Price"), ("C", "No budget")):
            deal = deals.create(deals.DealData(title=title, value=Decimal("1"), currency="CZK",
                                               stage_id=world["stages"]["Lost"]))
            deals.set_lost_reason(deal, world["reasons"][reason])
    page = text(member.get("/t/acme/crm/deals/report"))
    table = page.split('id="lost"', 1)[1].split("</table>", 1)[0]
    rows = [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)][1:]
    assert rows == ["Price 2 50&nbsp;%", "No budget 1 25&nbsp;%", "Not given 1 25&nbsp;%"]
    # Each count leads to its deals: the list filtered by the reason and the report's months.
    links = [html.unescape(link) for link in re.findall(r'<a href="([^"]+)" aria-label="\d+ lost, ', table)]
    assert len(links) == 3
    listed = [deals_listed_by(member.get(link)) for link in links]
    assert listed == [["A", "B"], ["C"], ["Gone gates"]]
    assert "Lost since " in text(member.get(links[0]))  # the close choice shown as chosen
    http = web_app.test_client()
    api = Bearer(http, token_for(http, new_client(web_app, acme)))
    price, budget = (str(world["reasons"][name]) for name in ("Price", "No budget"))
    assert api.get("/api/v1/reports/sales").get_json()["lost_by_reason"] == [
        {"reason": "Price", "reason_id": price, "deals": 2, "share": 50},
        {"reason": "No budget", "reason_id": budget, "deals": 1, "share": 25},
        {"reason": None, "reason_id": None, "deals": 1, "share": 25}]


def test_the_deal_list_export_and_api_filter_by_the_reason_lost(web_app, acme, world):
    member = signed_in(web_app, acme, "member")
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        deal = deals.create(deals.DealData(title="Too dear", value=Decimal("1"), currency="CZK",
                                           stage_id=world["stages"]["Lost"]))
        deals.set_lost_reason(deal, world["reasons"]["Price"])
    price = str(world["reasons"]["Price"])
    page = member.get(f"/t/acme/crm/deals?reason={price}")
    assert deals_listed_by(page) == ["Too dear"]
    body = text(page)
    assert f'<option value="{price}" selected>Price</option>' in body
    # The export and the bulk form keep the filter (and the pager: test_late_deals).
    assert f'href="/t/acme/crm/deals/export.csv?reason={price}&amp;sort=-value"' in body
    assert f'name="list_reason" value="{price}"' in body
    assert deals_listed_by(member.get("/t/acme/crm/deals?reason=none")) == ["Gone gates"]
    # One that is no choice is no filter.
    assert deals_listed_by(member.get("/t/acme/crm/deals?reason=nonsense")) == ["Gone gates", "Open offer", "Too dear"]
    exported = member.get(f"/t/acme/crm/deals/export.csv?reason={price}").get_data(as_text=True).splitlines()
    assert len(exported) == 2 and exported[1].startswith("Too dear,")
    http = web_app.test_client()
    api = Bearer(http, token_for(http, new_client(web_app, acme)))
    titles = lambda answer: sorted(d["title"] for d in answer.get_json()["items"])  # noqa: E731
    assert titles(api.get(f"/api/v1/deals?lost_reason_id={price}")) == ["Too dear"]
    assert titles(api.get("/api/v1/deals?lost_reason_id=none")) == ["Gone gates"]
    assert titles(api.get(f"/api/v1/deals?lost_reason_id={uuid.uuid4()}")) == []
    refused = api.get("/api/v1/deals?lost_reason_id=price")
    assert refused.status_code == 422 and "lost_reason_id" in refused.get_json()["error"]["fields"]
    year_ago = f"lost-since-{clock.now().year - 1}-01"
    assert titles(api.get(f"/api/v1/deals?close={year_ago}")) == ["Gone gates", "Too dear"]
    assert api.get("/api/v1/deals?close=lost-since-2026-13").status_code == 422


@pytest.mark.parametrize("name", ["Price\x00", "Tab\x0bbed", "x" * 201])
def test_a_name_no_database_or_person_can_use_is_refused_next_to_its_field(web_app, acme, world, name):
    admin = signed_in(web_app, acme, "admin")
    for path, field in (("/t/acme/crm/lost-reasons/new", "reason-new"),
                        (f"/t/acme/crm/lost-reasons/{world['reasons']['Price']}/edit", f"reason-{world['reasons']['Price']}")):
        refused = admin.post(path, data={"name": name})
        assert refused.status_code == 422, path
        assert f'id="{field}-err"' in text(refused)
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        assert [r.name for r in lost_reasons.ordered()] == list(lost_reasons.DEFAULTS)
