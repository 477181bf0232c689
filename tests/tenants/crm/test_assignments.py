"""A member is e-mailed (over SMTP) when someone else gives them activities or deals: one
e-mail per change however many records it moved, naming who assigned how many and linking to
the member's own lists, never a contact, deal or note. Nothing for what one gives oneself, for
a change that is refused, for an owner that did not change, or once the member turned the
e-mails off (the API's side: tests/tenants/api/test_activity_owner.py)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
import sqlalchemy as sa

from tenantry.platform.db import db
from tenantry.platform.identity.models import User
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import contacts, deal_merge, deals, stages
from tenantry.tenants.crm.models import Activity
from tests.identity.support import NO_LIMIT, in_app, login_password, new_member, text

from .test_deals_activities import _deal_form


@pytest.fixture
def web_app(make_app, smtp_server):
    return make_app(WTF_CSRF_ENABLED=False, TENANTRY_RATELIMIT_LOGIN=NO_LIMIT, **smtp_server.config())


def _world(web_app, acme) -> dict:
    olga = new_member(web_app, acme, "member", email="olga@acme.example.com")
    me = new_member(web_app, acme, "member", email="me@acme.example.com")
    with in_app(web_app):
        db.session.get(User, olga.id).name = "Olga Dvořáková"
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        jana = contacts.create(contacts.ContactData(first_name="Jana", last_name="Nováková")).id
    client = web_app.test_client()
    assert login_password(client, olga.email).status_code == 302
    return {"olga": olga, "me": me, "jana": jana, "client": client}


def _mail_to(smtp_server, address: str) -> list:
    return [m.message for m in smtp_server.messages if address in m.rcpt_tos]


def test_a_member_is_told_once_per_change_of_what_someone_else_gave_them(web_app, acme, smtp_server):
    w = _world(web_app, acme)
    olga, me, page = w["client"], w["me"], f"/t/acme/crm/contacts/{w['jana']}"

    # Olga's own activity: no one is told.
    assert olga.post(f"{page}/activities", data={"kind": "call", "owner": str(w["olga"].id),
                                                 "note": "Call Jana back"}).status_code == 302
    assert smtp_server.messages == []

    # One for me: one e-mail, naming Olga and linking to my open activities.
    assert olga.post(f"{page}/activities", data={"kind": "task", "owner": str(me.id),
                                                 "note": "Send Jana the contract"}).status_code == 302
    [told] = _mail_to(smtp_server, me.email)
    assert told["Subject"] == "Acme: Olga Dvořáková assigned you 1 activity"
    body = told.get_content()
    assert "Olga Dvořáková assigned you 1 activity in Acme." in body
    assert re.search(rf"^https?://\S+/t/acme/crm/activities\?owner={me.id}&state=open\r?$", body, re.M), body
    for secret in ("Jana", "Nováková", "contract", "Call"):
        assert secret not in told["Subject"] + body, secret

    # Three more, and a deal, given at once from the lists: one e-mail each change, counted.
    for n in range(3):
        olga.post(f"{page}/activities", data={"kind": "call", "owner": str(w["olga"].id), "note": f"Call {n}"})
    activity_list = text(olga.get("/t/acme/crm/activities?owner=" + str(w["olga"].id)))
    ids = re.findall(r'name="ids" value="([0-9a-f-]{36})"', activity_list)
    assert len(ids) == 4
    smtp_server.messages.clear()
    assert olga.post("/t/acme/crm/activities/bulk", data={"ids": ids, "action": "owner",
                                                          "bulk_owner": str(me.id)}).status_code == 302
    assert [m["Subject"] for m in _mail_to(smtp_server, me.email)] == [
        "Acme: Olga Dvořáková assigned you 4 activities"]
    created = olga.post("/t/acme/crm/deals/new", data=_deal_form(web_app, acme, owner=str(me.id)))
    assert created.status_code == 302
    deal_mail = _mail_to(smtp_server, me.email)[-1]
    assert deal_mail["Subject"] == "Acme: Olga Dvořáková assigned you 1 deal"
    assert f"/t/acme/crm/deals?owner={me.id}" in deal_mail.get_content()
    assert "Renewal" not in deal_mail.get_content()

    # Given again to the same member: no change, no e-mail; a refused form: nothing at all.
    smtp_server.messages.clear()
    olga.post("/t/acme/crm/activities/bulk", data={"ids": ids, "action": "owner", "bulk_owner": str(me.id)})
    refused = olga.post("/t/acme/crm/deals/new", data=_deal_form(web_app, acme, owner=str(me.id), value="lots"))
    assert refused.status_code == 422
    assert smtp_server.messages == []


def test_no_email_once_the_member_turned_them_off(web_app, acme, smtp_server):
    w = _world(web_app, acme)
    mine = web_app.test_client()
    assert login_password(mine, w["me"].email).status_code == 302
    assert mine.post("/t/acme/crm/reminders", data={"enabled": "0"}).status_code == 302
    page = f"/t/acme/crm/contacts/{w['jana']}"
    assert w["client"].post(f"{page}/activities", data={"kind": "task", "owner": str(w["me"].id)}).status_code == 302
    assert _mail_to(smtp_server, w["me"].email) == []
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        assert db.session.scalars(sa.select(Activity.owner_id)).all() == [w["me"].id]  # given all the same


def test_a_merge_tells_no_one_of_a_deal_they_had_already(web_app, acme, smtp_server):
    """The kept deal had no owner and takes the other's: that owner had the deal already (as the
    other one), so nobody is told they were given it."""
    w = _world(web_app, acme)
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        stage_id = stages.ensure_defaults()[0].id

        def deal(title, owner_id):
            return deals.create(deals.DealData(title=title, value=Decimal("100"), currency="CZK",
                                               stage_id=stage_id, owner_id=owner_id))

        keep, other = deal("Gates", None), deal("Gates (copy)", w["me"].id)
        deal_merge.merge(keep, other, actor=db.session.get(User, w["olga"].id))
        assert keep.owner_id == w["me"].id
    assert _mail_to(smtp_server, w["me"].email) == []


def test_two_members_of_one_name_are_told_apart_by_their_e_mail(web_app, acme):
    from tests import factories

    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        tenant = db.session.get(Tenant, acme.id)
        for email, name in (("jan@acme.example", "Jan Novák"), ("jan.n@acme.example", "jan novák"),
                            ("eva@acme.example", "Eva Malá")):
            factories.add_member(tenant, factories.make_user(email, name=name), "member")
        db.session.flush()
        labels = sorted(label for _id, label in deals.assignable())
    assert "Eva Malá" in labels
    assert "Jan Novák (jan@acme.example)" in labels and "jan novák (jan.n@acme.example)" in labels
