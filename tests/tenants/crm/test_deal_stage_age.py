"""How long a deal has been in its stage, and when a won or lost one closed: set when the deal
is created or moves to another stage (the edit form, the board, a bulk change, the API), not
by other edits; shown on the deal page and the board's cards; the dashboard counts the deals
won this month (on the workspace's clock) with their value per currency. The API's side:
tests/tenants/api/test_deal_stage_changed.py."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tenantry.platform import clock
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import deals, stages
from tests.identity.support import in_app, text
from tests.tenants.crm.conftest import signed_in

T0 = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)  # 10:00 in Prague


def _deal(web_app, acme, title, *, stage=0, currency="CZK", value="1000") -> str:
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        pipeline = stages.ensure_defaults()
        chosen = pipeline[stage] if isinstance(stage, int) else next(s for s in pipeline if getattr(s, stage))
        return str(deals.create(deals.DealData(title=title, value=Decimal(value), currency=currency,
                                               stage_id=chosen.id)).id)


def _stage(web_app, acme, which):
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        pipeline = stages.ensure_defaults()
        return str((pipeline[which] if isinstance(which, int) else next(s for s in pipeline if getattr(s, which))).id)


def _entered(web_app, acme, deal_id) -> datetime:
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        return clock.aware(deals.get(uuid.UUID(deal_id)).stage_changed_at).astimezone(UTC)


def test_a_move_restarts_the_clock_and_other_edits_do_not(web_app, acme, time_machine):
    time_machine.move_to(T0, tick=False)
    gates = _deal(web_app, acme, "Gates")
    assert _entered(web_app, acme, gates) == T0

    time_machine.move_to(T0 + timedelta(days=12), tick=False)
    member = signed_in(web_app, acme, "member")  # twelve days idle ended the first session
    board = text(member.get("/t/acme/crm/deals/board"))
    card = board.split(f'id="deal-{gates}"', 1)[1].split("</li>", 1)[0]
    assert '<p class="board-age">12 days in this stage</p>' in card
    page = text(member.get(f"/t/acme/crm/deals/{gates}"))
    assert "<dt>In this stage since</dt>" in page and "2026-11-18 10:00 CET" in page and "(12 days)" in page

    # A bulk change of the owner, and the title edited: still in the same stage since T0.
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        deal = deals.get(uuid.UUID(gates))
        deals.set_column(deal, "owner_id", None, actor=None, via="bulk")
        deals.update(deal, deals.DealData(title="Forged gates", value=deal.value, currency=deal.currency,
                                          stage_id=deal.stage_id))
    assert _entered(web_app, acme, gates) == T0

    moved = member.post(f"/t/acme/crm/deals/{gates}/stage", data={"stage": _stage(web_app, acme, 1)})
    assert moved.status_code == 302
    assert _entered(web_app, acme, gates) == T0 + timedelta(days=12)
    card = text(member.get("/t/acme/crm/deals/board")).split(f'id="deal-{gates}"', 1)[1].split("</li>", 1)[0]
    assert "board-age" not in card  # moved today
    assert "(today)" in text(member.get(f"/t/acme/crm/deals/{gates}"))


def test_the_dashboard_counts_the_deals_won_this_month(web_app, acme, time_machine):
    time_machine.move_to(T0 - timedelta(days=20), tick=False)  # 29 October
    _deal(web_app, acme, "Won in October", stage="is_won", value="999")
    time_machine.move_to(T0, tick=False)
    member = signed_in(web_app, acme, "member")
    assert "Won in November: none yet." in text(member.get("/t/acme/"))
    _deal(web_app, acme, "Railings", stage="is_won", value="1200")
    _deal(web_app, acme, "Fence", stage="is_won", value="300", currency="EUR")
    _deal(web_app, acme, "Lost one", stage="is_lost")
    moving = _deal(web_app, acme, "Roof")
    assert member.post(f"/t/acme/crm/deals/{moving}/stage",
                       data={"stage": _stage(web_app, acme, "is_won")}).status_code == 302
    html = text(member.get("/t/acme/"))
    won = html.split('id="dash-won"', 1)[1].split("</p>", 1)[0]
    assert "<strong>3 deals</strong>" in won and "2,200.00 CZK" in won and "300.00 EUR" in won
    page = text(member.get(f"/t/acme/crm/deals/{moving}"))
    assert "<dt>Closed</dt>" in page and "(today)" not in page
    # The count leads to the list of exactly those deals.
    assert '<a href="/t/acme/crm/deals?close=won-this-month"><strong>3 deals</strong></a>' in won
    listed = text(member.get("/t/acme/crm/deals?close=won-this-month"))
    body = listed[listed.index("<tbody"):listed.index("</tbody>")]
    assert sorted(re.findall(r'<a href="/t/acme/crm/deals/[0-9a-f-]{36}">([^<]+)</a>', body)) == [
        "Fence", "Railings", "Roof"]
    assert '<option value="won-this-month" selected>Won this month</option>' in listed
