"""A deal's own win probability, over its stage's: set on the deal form ("40 %" taken, a bad
value refused next to its field with nothing saved, blank for the stage's) and in the API
(the same checks, 4xx), shown on the deal page, counted by the weighted sums of the board, the
dashboard and the sales report, ignored while the deal is won or lost and back when it opens
again, versioned like the deal's other columns, and kept in range by the database."""

from __future__ import annotations

import html
from decimal import Decimal

import pytest
import sqlalchemy as sa

from tenantry.platform import audit
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import board, deals, overview, reports, stages
from tenantry.tenants.crm.models import Deal
from tenantry.tenants.local_time import now as local_now
from tests.identity.support import field_errors, in_app, text
from tests.tenants.api.conftest import Bearer, new_client, token_for
from tests.tenants.crm.conftest import opened_form, signed_in


@pytest.fixture
def world(web_app, acme) -> dict:
    """Two deals of 1,000 CZK in Qualified (25 %)."""
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        pipeline = {s.name: s.id for s in stages.ensure_defaults()}
        made = {title: deals.create(deals.DealData(title=title, value=Decimal("1000"), currency="CZK",
                                                   stage_id=pipeline["Qualified"])).id
                for title in ("Sure thing", "Usual")}
    return {"stages": pipeline, **made}


def _probability(web_app, acme, deal_id):
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        return deals.get(deal_id).probability


def _weighted(web_app, acme) -> dict[str, Decimal]:
    """What the board's Qualified column, the dashboard's pipeline and the report's forecast weigh."""
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        pipeline = stages.ordered()
        qualified = next(s for s in pipeline if s.name == "Qualified")
        column = next(c for c in board.columns() if c.stage.id == qualified.id)
        dashboard = next(t for t in overview.open_pipeline() if t.name == "Qualified")
        forecast = overview.summed([row.amounts for row in reports.forecast(local_now())])
        return {"board": column.total.weighted["CZK"], "dashboard": dashboard.weighted["CZK"],
                "report": forecast.weighted["CZK"]}


def test_a_deal_s_own_probability_is_set_on_its_form_and_weighs_its_value(web_app, acme, world):
    member = signed_in(web_app, acme, "member")
    sure = world["Sure thing"]
    form = opened_form(member, f"/t/acme/crm/deals/{sure}/edit")
    assert form["probability"] == ""  # the stage's
    page = html.unescape(text(member.get(f"/t/acme/crm/deals/{sure}/edit")))
    assert "Blank: its stage's (Lead 10\u00a0%, Qualified 25\u00a0%, Proposal 50\u00a0%, Negotiation 75\u00a0%)" in page
    assert member.post(f"/t/acme/crm/deals/{sure}/edit", data={**form, "probability": "40 %"}).status_code == 302
    assert _probability(web_app, acme, sure) == 40
    shown = text(member.get(f"/t/acme/crm/deals/{sure}"))
    assert ("(this deal's own 40\u00a0% win probability, over the stage's 25\u00a0%: 400.00 CZK weighted)"
            in html.unescape(shown))
    card = text(member.get("/t/acme/crm/deals/board")).split(f'id="deal-{sure}"', 1)[1].split("</li>", 1)[0]
    assert '<p class="board-why">Own win probability: 40&nbsp;%</p>' in card
    # 1,000 at 40 % and 1,000 at the stage's 25 %, the same everywhere a forecast is weighed.
    assert _weighted(web_app, acme) == dict.fromkeys(("board", "dashboard", "report"), Decimal("650"))
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        (event,) = db.session.scalars(sa.select(audit.AuditEvent).where(
            audit.AuditEvent.action == "crm.deal.updated", audit.AuditEvent.target_id == str(sure))).all()
        # Only what changed: not the value, which the form sends as typed (1000) and the database
        # gives back to its scale (1000.000).
        assert audit.changes_of(event) == {"probability": (None, 40)}
    # Blank again: the stage's.
    form = opened_form(member, f"/t/acme/crm/deals/{sure}/edit")
    assert form["probability"] == "40"
    assert member.post(f"/t/acme/crm/deals/{sure}/edit", data={**form, "probability": ""}).status_code == 302
    assert _probability(web_app, acme, sure) is None
    assert "(25&nbsp;% win probability: 250.00 CZK weighted)" in text(member.get(f"/t/acme/crm/deals/{sure}"))


@pytest.mark.parametrize("given", ["abc", "101", "-5", "12.5", "40 %%"])
def test_a_bad_probability_is_refused_next_to_its_field_and_nothing_is_saved(web_app, acme, world, given):
    member = signed_in(web_app, acme, "member")
    sure = world["Sure thing"]
    form = opened_form(member, f"/t/acme/crm/deals/{sure}/edit")
    refused = member.post(f"/t/acme/crm/deals/{sure}/edit", data={**form, "title": "Renamed", "probability": given})
    assert refused.status_code == 422
    assert [html.unescape(e) for e in field_errors(text(refused), "probability")] == [
        "Give a whole per cent from 0 to 100, or leave it blank for the stage's."]
    assert 'value="Renamed"' in text(refused)  # what was typed is kept
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        deal = deals.get(sure)
        assert (deal.reveal("title"), deal.probability) == ("Sure thing", None)


def test_a_won_or_lost_deal_counts_its_outcome_and_its_own_probability_returns_when_it_opens(web_app, acme, world):
    sure = world["Sure thing"]
    http = web_app.test_client()
    api = Bearer(http, token_for(http, new_client(web_app, acme)))
    path = f"/api/v1/deals/{sure}"
    set_ = api.patch(path, json={"probability": 90})
    assert set_.status_code == 200
    assert (set_.get_json()["probability"], set_.get_json()["win_probability"]) == (90, 90)
    for outcome, counted in (("Won", 100), ("Lost", 0)):
        moved = api.patch(path, json={"stage_id": str(world["stages"][outcome])}).get_json()
        assert (moved["probability"], moved["win_probability"]) == (90, counted), outcome
    reopened = api.patch(path, json={"stage_id": str(world["stages"]["Proposal"])}).get_json()
    assert (reopened["probability"], reopened["win_probability"]) == (90, 90)
    cleared = api.patch(path, json={"probability": None}).get_json()
    assert (cleared["probability"], cleared["win_probability"]) == (None, 50)
    made = api.post("/api/v1/deals", json={"title": "New", "value": "10", "currency": "EUR", "probability": 0})
    assert made.status_code == 201 and made.get_json()["probability"] == 0
    listed = {d["title"]: d["win_probability"] for d in api.get("/api/v1/deals").get_json()["items"]}
    assert listed == {"Sure thing": 50, "Usual": 25, "New": 0}


@pytest.mark.parametrize(("given", "status"), [(101, 422), (-1, 422), (12.5, 422), ("40", 400), (True, 400)])
def test_the_api_refuses_a_bad_probability_with_a_json_error(web_app, acme, world, given, status):
    http = web_app.test_client()
    api = Bearer(http, token_for(http, new_client(web_app, acme)))
    for answer in (api.patch(f"/api/v1/deals/{world['Usual']}", json={"probability": given}),
                   api.post("/api/v1/deals", json={"title": "X", "value": "1", "currency": "EUR",
                                                   "probability": given})):
        assert answer.status_code == status, answer.get_json()
        assert "probability" in answer.get_json()["error"]["fields"]
    assert _probability(web_app, acme, world["Usual"]) is None
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Deal)) == 2


def test_the_database_keeps_a_deal_s_probability_between_0_and_100(web_app, acme, world):
    for probability in (101, -1):
        with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
            with pytest.raises(sa.exc.IntegrityError):
                db.session.execute(sa.update(Deal).where(Deal.id == world["Usual"]).values(probability=probability))
