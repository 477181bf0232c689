"""The pipeline board: a column per stage in the tenant's order with its deals, count and sums
per currency; search and owner filters; the cap per column; moving a deal (audited, back to
the same board, refused next to the card when the stage is gone); roles; the reads recorded."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

import pytest
import sqlalchemy as sa

from tenantry.platform import audit, clock
from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context
from tenantry.tenants.crm import board, companies, contacts, deals, stages
from tenantry.tenants.crm.models import Deal, PipelineStage
from tests.identity.support import audit_events, in_app, new_member, new_tenant, text

from .conftest import listed_reads, signed_in


def _world(web_app, tenant, owner_id: uuid.UUID | None = None) -> dict:
    """Deals in Lead, Qualified and Won; one of a restricted contact; one owned by `owner_id`."""
    with in_app(web_app), tenant_context(db.session.get(Tenant, tenant.id)):
        lead, qualified, *_middle, won, _lost = stages.ensure_defaults()
        jana = contacts.create(contacts.ContactData(first_name="Jana", last_name="Nováková"))
        hidden = contacts.create(contacts.ContactData(first_name="Skrytá", last_name="Osoba"))
        glass = companies.create(companies.CompanyData(name="Sklárna Bor", country="CZ"))

        def deal(title, value, currency, stage, **links):
            return deals.create(deals.DealData(title=title, value=Decimal(value), currency=currency,
                                               stage_id=stage.id, **links)).id

        ids = {
            "windows": deal("Okna pro showroom", "250000", "CZK", qualified, contact_id=jana.id, company_id=glass.id,
                            expected_close=clock.now().date().replace(year=2020), owner_id=owner_id),
            "doors": deal("Dveře", "1200", "EUR", qualified),
            "secret": deal("Tajná zakázka", "5000", "CZK", qualified, contact_id=hidden.id),
            "fence": deal("Plot", "18000", "CZK", lead),
            "closed": deal("Hotovo", "999", "CZK", won, expected_close=clock.now().date().replace(year=2020)),
            "stages": {s.name: s.id for s in stages.ordered()},
        }
        hidden.restricted_at = clock.now()
        return ids


def _column(html: str, stage_id) -> str:
    start = html.index(f'id="stage-{stage_id}"')
    end = html.find('<section class="board-column', start)
    return html[start:end if end > 0 else len(html)]


def _titles(column_html: str) -> list[str]:
    return re.findall(r'class="board-title" href="[^"]+">([^<]+)</a>', column_html)


def test_each_stage_is_a_column_in_pipeline_order_with_its_deals_count_and_sums(web_app, member, acme):
    ids = _world(web_app, acme)
    html = text(member.get("/t/acme/crm/deals/board"))
    order = [m for m in re.findall(r'<h2 id="stage-[^"]+-h">([^<]+)', html)]
    assert [name.strip() for name in order] == ["Lead", "Qualified", "Proposal", "Negotiation", "Won", "Lost"]
    qualified = _column(html, ids["stages"]["Qualified"])
    # Most valuable first, by the number (currencies are never converted).
    assert _titles(qualified) == ["Okna pro showroom", "Tajná zakázka", "Dveře"]
    assert "3 deals" in qualified and "CZK" in qualified and "EUR" in qualified
    assert re.search(r"255[\s\u00a0,.]?000", qualified), "the CZK sum of the column"
    assert "Sklárna Bor · Jana Nováková" in qualified
    # A restricted contact's name is not shown [DSR-restrict]; the deal itself is.
    assert "Skrytá" not in html and "Restricted contact" in qualified
    assert "overdue" in qualified  # an open deal past its close date
    assert "overdue" not in _column(html, ids["stages"]["Won"])
    assert "No deals." in _column(html, ids["stages"]["Proposal"])
    assert 'class="board-column is-won"' in html and 'class="board-column is-lost"' in html


@pytest.mark.obligation("DSR-restrict")
def test_the_board_records_what_it_shows_and_nothing_of_a_restricted_contact(web_app, member, acme):
    ids = _world(web_app, acme)
    member.get("/t/acme/crm/deals/board")
    reads = listed_reads(web_app, acme.id)
    shown = {str(ids[k]) for k in ("windows", "doors", "secret", "fence", "closed")}
    assert set(reads["crm.deal.listed"]["ids"]) == shown and reads["crm.deal.listed"]["board"] is True
    with in_app(web_app, commit=False), all_tenants():
        jana = db.session.scalar(sa.select(Deal.contact_id).where(Deal.id == ids["windows"]))
    assert reads["crm.contact.listed"]["ids"] == [str(jana)]
    assert len(reads["crm.company.listed"]["ids"]) == 1


def test_search_and_owner_narrow_the_cards_and_the_sums(web_app, member, acme):
    owner = new_member(web_app, acme, "member")
    ids = _world(web_app, acme, owner_id=owner.id)
    found = text(member.get("/t/acme/crm/deals/board", query_string={"q": "sklárna"}))
    assert _titles(found) == ["Okna pro showroom"]
    assert "1 deal<" in _column(found, ids["stages"]["Qualified"]).replace("\n", "")
    assert "No deals match." in _column(found, ids["stages"]["Lead"])
    mine = text(member.get("/t/acme/crm/deals/board", query_string={"owner": str(owner.id)}))
    assert _titles(mine) == ["Okna pro showroom"]
    assert f'<option value="{owner.id}" selected>' in mine
    # The view switch, both ways, and the forms keep the query.
    assert f"/t/acme/crm/deals?owner={owner.id}" in mine
    assert f"/t/acme/crm/deals/board?owner={owner.id}" in text(member.get(f"/t/acme/crm/deals?owner={owner.id}"))
    assert f'name="board_owner" value="{owner.id}"' in mine
    # No one's: the rest, and a move keeps the choice.
    nobody = text(member.get("/t/acme/crm/deals/board", query_string={"owner": "nobody"}))
    assert "Okna pro showroom" not in _titles(nobody) and len(_titles(nobody)) == len(_titles(text(
        member.get("/t/acme/crm/deals/board")))) - 1
    assert '<option value="nobody" selected>Nobody</option>' in nobody
    assert 'name="board_owner" value="nobody"' in nobody and "/t/acme/crm/deals?owner=nobody" in nobody
    moved = member.post(f"/t/acme/crm/deals/{ids['fence']}/stage",
                        data={"stage": str(ids["stages"]["Qualified"]), "board_owner": "nobody"})
    assert moved.status_code == 302
    assert moved.headers["Location"].endswith(
        f"/crm/deals/board?moved={ids['fence']}&owner=nobody#stage-{ids['stages']['Qualified']}")


def test_a_full_column_links_to_the_rest_in_the_list(web_app, member, acme, monkeypatch):
    ids = _world(web_app, acme)
    monkeypatch.setattr(board, "CARDS_PER_STAGE", 1)
    html = text(member.get("/t/acme/crm/deals/board"))
    qualified = _column(html, ids["stages"]["Qualified"])
    assert _titles(qualified) == ["Okna pro showroom"] and "3 deals" in qualified
    assert f'href="/t/acme/crm/deals?stage={ids["stages"]["Qualified"]}">2 more in the list</a>' in qualified
    assert "more in the list" not in _column(html, ids["stages"]["Lead"])


def test_moving_a_deal_changes_its_stage_audited_and_returns_to_the_same_board(web_app, member, acme):
    ids = _world(web_app, acme)
    proposal = ids["stages"]["Proposal"]
    answer = member.post(f"/t/acme/crm/deals/{ids['fence']}/stage",
                         data={"stage": str(proposal), "board_q": "plot"})
    assert answer.status_code == 302
    assert answer.headers["Location"].endswith(f"/t/acme/crm/deals/board?moved={ids['fence']}&q=plot#stage-{proposal}")
    html = text(member.get("/t/acme/crm/deals/board?q=plot"))
    assert "“Plot” moved to Proposal." in html
    assert _titles(_column(html, proposal)) == ["Plot"]
    with in_app(web_app, commit=False), all_tenants():
        assert db.session.get(Deal, ids["fence"]).stage_id == proposal
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "crm.deal.updated")
                                   .order_by(AuditEvent.id.desc())).first()
        assert event.target_id == str(ids["fence"]) and event.details["via"] == "board"
        assert audit.changes_of(event) == {"stage_id": (str(ids["stages"]["Lead"]), str(proposal))}


def test_moving_to_the_stage_it_is_in_writes_nothing(web_app, member, acme):
    ids = _world(web_app, acme)
    before = len(audit_events(web_app, "crm.deal.updated"))
    answer = member.post(f"/t/acme/crm/deals/{ids['fence']}/stage", data={"stage": str(ids["stages"]["Lead"])},
                         follow_redirects=True)
    assert "“Plot” is in Lead already." in text(answer)
    assert len(audit_events(web_app, "crm.deal.updated")) == before


def test_the_deal_page_moves_its_deal_and_shows_a_refusal_next_to_its_stage(web_app, member, acme):
    ids = _world(web_app, acme)
    page = text(member.get(f"/t/acme/crm/deals/{ids['fence']}"))
    form = page[page.index('class="row stage-move"'):page.index("</form>", page.index('class="row stage-move"'))]
    assert f'<option value="{ids["stages"]["Lead"]}" selected>Lead</option>' in form and 'name="back" value="deal"' in form
    answer = member.post(f"/t/acme/crm/deals/{ids['fence']}/stage",
                         data={"stage": str(ids["stages"]["Won"]), "back": "deal"}, follow_redirects=True)
    assert answer.request.path == f"/t/acme/crm/deals/{ids['fence']}"
    assert "“Plot” moved to Won." in text(answer) and '<span class="badge badge-ok">won</span>' in text(answer)
    refused = member.post(f"/t/acme/crm/deals/{ids['fence']}/stage", data={"stage": str(uuid.uuid4()), "back": "deal"})
    assert refused.status_code == 422
    html = text(refused)
    assert '<h1>Plot</h1>' in html and 'aria-describedby="move-stage-err"' in html
    assert '<p class="error" id="move-stage-err">That stage is no longer' in html
    with in_app(web_app, commit=False), all_tenants():
        assert db.session.get(Deal, ids["fence"]).stage_id == ids["stages"]["Won"]


@pytest.mark.parametrize("stage", ["", "not-a-uuid", "gone", "other-tenant"])
def test_a_stage_that_is_not_this_pipelines_is_refused_next_to_the_card(web_app, member, acme, stage):
    ids = _world(web_app, acme)
    if stage == "gone":
        stage = str(uuid.uuid4())
    elif stage == "other-tenant":
        other = new_tenant(web_app, "other", country="CZ")
        with in_app(web_app), tenant_context(db.session.get(Tenant, other.id)):
            stage = str(stages.ensure_defaults()[0].id)
    before = len(audit_events(web_app, "crm.deal.updated"))
    answer = member.post(f"/t/acme/crm/deals/{ids['fence']}/stage", data={"stage": stage, "board_q": "plot"})
    assert answer.status_code == 422
    html = text(answer)
    card = html[html.index(f'id="deal-{ids["fence"]}"'):]
    card = card[:card.index("</li>")]
    assert 'aria-invalid="true"' in card and f'aria-describedby="move-{ids["fence"]}-err"' in card
    assert re.search(rf'<p class="error" id="move-{ids["fence"]}-err">(Choose a stage|That stage is no longer)', card)
    assert 'value="plot"' in html  # the board it was sent from
    with in_app(web_app, commit=False), all_tenants():
        assert db.session.get(Deal, ids["fence"]).stage_id == ids["stages"]["Lead"]
    assert len(audit_events(web_app, "crm.deal.updated")) == before


def test_a_viewer_sees_the_board_without_moves_and_cannot_move(web_app, acme):
    member = signed_in(web_app, acme, "member")
    ids = _world(web_app, acme)
    viewer = signed_in(web_app, acme, "viewer")
    html = text(viewer.get("/t/acme/crm/deals/board"))
    assert "Plot" in html and "board-move" not in html and "New deal" not in html
    assert "stage-move" not in text(viewer.get(f"/t/acme/crm/deals/{ids['fence']}"))
    assert 'class="board-move"' in text(member.get("/t/acme/crm/deals/board"))
    assert viewer.post(f"/t/acme/crm/deals/{ids['fence']}/stage",
                       data={"stage": str(ids["stages"]["Won"])}).status_code == 403


def test_another_tenants_deal_is_not_found(web_app, member, acme):
    _world(web_app, acme)
    other = new_tenant(web_app, "other", country="CZ")
    theirs = _world(web_app, other)
    assert member.post(f"/t/acme/crm/deals/{theirs['fence']}/stage",
                       data={"stage": str(theirs["stages"]["Won"])}).status_code == 404
    with in_app(web_app, commit=False), all_tenants():
        assert db.session.get(Deal, theirs["fence"]).stage_id == theirs["stages"]["Lead"]
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PipelineStage)) == 12


def test_a_column_adds_a_deal_in_its_stage(web_app, member, acme):
    ids = _world(web_app, acme)
    proposal = ids["stages"]["Proposal"]
    column = _column(text(member.get("/t/acme/crm/deals/board")), proposal)
    assert f'href="/t/acme/crm/deals/new?stage={proposal}">Add a deal<span class="visually-hidden"> in Proposal' in column
    form = text(member.get(f"/t/acme/crm/deals/new?stage={proposal}"))
    assert f'<option selected value="{proposal}">Proposal</option>' in form


def test_a_full_column_shows_each_currency_s_largest_deals_not_only_the_largest_numbers(web_app, member, acme):
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        lead = stages.ensure_defaults()[0]
        for i in range(board.CARDS_PER_STAGE):
            deals.create(deals.DealData(title=f"Malá zakázka {i}", value=Decimal(100000 + i), currency="HUF",
                                        stage_id=lead.id))
        deals.create(deals.DealData(title="Velká zakázka", value=Decimal("50000"), currency="EUR", stage_id=lead.id))
        lead_id = lead.id
    column = _column(text(member.get("/t/acme/crm/deals/board")), lead_id)
    titles = _titles(column)
    assert len(titles) == board.CARDS_PER_STAGE and titles[:2] == ["Velká zakázka", "Malá zakázka 19"]
    assert "1 more in the list" in column and "Malá zakázka 0" not in titles  # the smallest HUF one waits
