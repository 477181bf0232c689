"""A pipeline stage's win probability: seeded with the defaults, set by admins next to each
stage (audited from/to, a bad value refused next to its field with nothing saved), 100 in a
won stage and 0 in a lost one, and the weighted values it gives on the board and the deal page
(the dashboard's forecast: test_dashboard.py); a stage holding deals keeps its outcome, and
stage names differ in more than case."""

from __future__ import annotations

import html
import re
from decimal import Decimal

import pytest
import sqlalchemy as sa

from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import deals, stages
from tenantry.tenants.crm.models import Deal, PipelineStage
from tests.identity.support import audit_events, field_errors, in_app, text


def _pipeline(web_app, tenant) -> dict[str, tuple]:
    """name -> (id, outcome, probability) of each stage, seeding the defaults."""
    with in_app(web_app), tenant_context(db.session.get(Tenant, tenant.id)):
        return {s.name: (s.id, stages.outcome(s), s.probability) for s in stages.ensure_defaults()}


def _stage_row(html: str, stage_id) -> str:
    start = html.index(f'action="/t/acme/crm/stages/{stage_id}/edit"')
    return html[start:html.index("</li>", start)]


def test_new_workspaces_start_with_a_probability_per_stage(web_app, admin, acme):
    assert {name: p for name, (_, _, p) in _pipeline(web_app, acme).items()} == {
        "Lead": 10, "Qualified": 25, "Proposal": 50, "Negotiation": 75, "Won": 100, "Lost": 0}
    page = text(admin.get("/t/acme/crm/stages"))
    proposal = _pipeline(web_app, acme)["Proposal"][0]
    row = _stage_row(page, proposal)
    assert f'<label for="probability-{proposal}">Win %</label>' in row and 'value="50"' in row
    # The new stage's form starts at an even chance.
    assert re.search(r'<input[^>]*id="new-probability"[^>]*value="50"', page)


def test_admins_set_a_stage_s_probability_and_the_change_is_audited_from_and_to(web_app, admin, acme):
    pipeline = _pipeline(web_app, acme)
    proposal, won, lost = pipeline["Proposal"][0], pipeline["Won"][0], pipeline["Lost"][0]
    sent = admin.post(f"/t/acme/crm/stages/{proposal}/edit", data={"name": "Proposal", "outcome": "", "probability": "40 %"})
    assert sent.status_code == 302
    assert _pipeline(web_app, acme)["Proposal"][2] == 40
    (event,) = audit_events(web_app, "crm.stage.updated")
    assert event["target_id"] == str(proposal)
    assert event["details"] == {"from": {"probability": 50}, "to": {"probability": 40}}
    # The same values again: nothing written, nothing audited.
    again = admin.post(f"/t/acme/crm/stages/{proposal}/edit", data={"name": "Proposal", "outcome": "", "probability": "40"})
    assert again.status_code == 302 and len(audit_events(web_app, "crm.stage.updated")) == 1
    assert "Nothing to save" in text(admin.get("/t/acme/crm/stages"))
    # An outcome is certain: a won stage counts 100 % and a lost one 0 %, whatever is sent...
    assert admin.post(f"/t/acme/crm/stages/{won}/edit", data={"name": "Won", "outcome": "won", "probability": "30"}).status_code == 302
    assert _pipeline(web_app, acme)["Won"][1:] == ("won", 100)
    # ... and a lost stage that opens again takes the probability given.
    assert admin.post(f"/t/acme/crm/stages/{lost}/edit", data={"name": "Parked", "outcome": "", "probability": "5"}).status_code == 302
    assert _pipeline(web_app, acme)["Parked"][1:] == ("open", 5)
    assert audit_events(web_app, "crm.stage.updated")[-1]["details"] == {
        "from": {"name": "Lost", "outcome": "lost", "probability": 0}, "to": {"name": "Parked", "outcome": "open", "probability": 5}}
    # A new stage is created with its own.
    assert admin.post("/t/acme/crm/stages/new", data={"new-name": "Contract sent", "new-outcome": "",
                                                      "new-probability": "90"}).status_code == 302
    assert _pipeline(web_app, acme)["Contract sent"][1:] == ("open", 90)
    (created,) = audit_events(web_app, "crm.stage.created")
    assert created["details"] == {"name": "Contract sent", "outcome": "open", "probability": 90}


@pytest.mark.parametrize("given", ["", "abc", "101", "-5", "12.5", "1000"])
def test_a_bad_probability_is_refused_next_to_its_field_keeping_what_was_typed(web_app, admin, acme, given):
    proposal = _pipeline(web_app, acme)["Proposal"][0]
    refused = admin.post(f"/t/acme/crm/stages/{proposal}/edit",
                         data={"name": "Proposal sent", "outcome": "", "probability": given})
    assert refused.status_code == 422
    row = _stage_row(text(refused), proposal)
    assert re.search(r'<input[^>]*name="probability"[^>]*aria-invalid="true"', row)
    assert f'aria-describedby="stage-{proposal}-err"' in row
    assert "from 0 to 100 %" in text(refused).split(f'id="stage-{proposal}-err"', 1)[1].split("</p>", 1)[0]
    assert 'value="Proposal sent"' in row and f'value="{given}"' in row  # nothing typed is lost
    assert _pipeline(web_app, acme)["Proposal"] == (proposal, "open", 50)  # nothing saved
    assert audit_events(web_app, "crm.stage.updated") == []

    new = admin.post("/t/acme/crm/stages/new", data={"new-name": "Demo", "new-outcome": "", "new-probability": given})
    assert new.status_code == 422
    assert field_errors(text(new), "new-probability") == [stages.PROBABILITY_NEEDED]
    assert "Demo" not in _pipeline(web_app, acme)


def test_the_board_and_the_deal_page_show_the_weighted_value(web_app, member, acme):
    pipeline = _pipeline(web_app, acme)
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        fence = deals.create(deals.DealData(title="Plot", value=Decimal("18000"), currency="CZK",
                                            stage_id=pipeline["Lead"][0])).id
        deals.create(deals.DealData(title="Brána", value=Decimal("1001"), currency="CZK", stage_id=pipeline["Lead"][0]))
        deals.create(deals.DealData(title="Hotovo", value=Decimal("999"), currency="CZK", stage_id=pipeline["Won"][0]))
    board = text(member.get("/t/acme/crm/deals/board"))
    lead = board[board.index(f'id="stage-{pipeline["Lead"][0]}"'):board.index(f'id="stage-{pipeline["Qualified"][0]}"')]
    weighted = re.sub(r"<[^>]+>|\s+", " ", lead.split('class="board-weighted">', 1)[1].split("</p>", 1)[0]).split()
    assert " ".join(weighted) == "10 % weighted: 1,900.10 CZK".replace(" % ", "&nbsp;% ")
    won = board[board.index(f'id="stage-{pipeline["Won"][0]}"'):]
    assert "board-weighted" not in won.split("</header>", 1)[0]  # certain: nothing to weigh
    deal_page = text(member.get(f"/t/acme/crm/deals/{fence}"))
    assert "(10&nbsp;% win probability: 1,800.00 CZK weighted)" in deal_page


def test_the_database_keeps_a_won_stage_at_100_and_a_lost_one_at_0(web_app, acme):
    pipeline = _pipeline(web_app, acme)
    for name, probability in (("Won", 50), ("Lost", 10), ("Lead", 101)):
        with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
            with pytest.raises(sa.exc.IntegrityError):
                db.session.execute(sa.update(PipelineStage).where(PipelineStage.id == pipeline[name][0])
                                   .values(probability=probability))


def test_a_stage_holding_deals_keeps_its_outcome_and_names_differ_in_more_than_case(web_app, admin, acme):
    pipeline = _pipeline(web_app, acme)
    lost = pipeline["Lost"][0]
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        deal = deals.create(deals.DealData(title="Okna", value=Decimal("10"), currency="CZK", stage_id=lost)).id
    refused = admin.post(f"/t/acme/crm/stages/{lost}/edit", data={"name": "Parked", "outcome": "", "probability": "5"})
    assert refused.status_code == 422
    assert "holds 1 deal: move it to another stage before changing its outcome" in html.unescape(text(refused))
    assert _pipeline(web_app, acme)["Lost"][1:] == ("lost", 0) and "Parked" not in _pipeline(web_app, acme)
    # A new name alone is no new outcome.
    assert admin.post(f"/t/acme/crm/stages/{lost}/edit", data={"name": "Prohráno", "outcome": "lost"}).status_code == 302
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        db.session.delete(db.session.get(Deal, deal))
    assert admin.post(f"/t/acme/crm/stages/{lost}/edit",
                      data={"name": "Parked", "outcome": "", "probability": "5"}).status_code == 302
    # "ČEKÁNÍ", "Čekání" and "čekání" are one name, also where the database lowercases ASCII only.
    assert admin.post("/t/acme/crm/stages/new", data={"new-name": "Čekání", "new-outcome": "",
                                                      "new-probability": "20"}).status_code == 302
    twin = admin.post("/t/acme/crm/stages/new", data={"new-name": "čekání", "new-outcome": "", "new-probability": "20"})
    assert twin.status_code == 422 and "There is already a stage called" in html.unescape(text(twin))
