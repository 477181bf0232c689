"""A member whose membership was deactivated (the account review) keeps the deals and
activities they own, named "(deactivated)", and stays in the lists' filters; but nothing new
is given to them: the forms and the bulk bars do not offer them, and the services (so the UI
and the API) refuse them. Editing something else of a record they own keeps them as owner."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from tenantry.platform import clock
from tenantry.platform.db import db
from tenantry.platform.identity.models import Membership, User
from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context
from tenantry.tenants.crm import activities, contacts, deals, stages
from tenantry.tenants.crm.models import Activity, Deal
from tests.identity.support import field_errors, in_app, login_password, new_member, text

from .test_deals_activities import _deal_form


def _world(web_app, acme) -> dict:
    me = new_member(web_app, acme, "member", email="me@acme.example.com")
    olga = new_member(web_app, acme, "member", email="olga@acme.example.com")
    with in_app(web_app):
        db.session.get(User, olga.id).name = "Olga Dvořáková"
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        jana = contacts.create(contacts.ContactData(first_name="Jana")).id
        hers = deals.create(deals.DealData(title="Gates", value=Decimal("10"), currency="CZK",
                                           stage_id=stages.ensure_defaults()[0].id, owner_id=olga.id)).id
        task = activities.create("contact", jana, activities.ActivityData(kind="task", owner_id=olga.id)).id
        db.session.execute(sa.update(Membership).where(Membership.user_id == olga.id)
                           .values(deactivated_at=clock.now()))
    client = web_app.test_client()
    assert login_password(client, me.email).status_code == 302
    return {"me": me, "olga": olga, "jana": jana, "deal": hers, "task": task, "client": client}


def _owner(web_app, model, row_id):
    with in_app(web_app, commit=False), all_tenants():
        return db.session.get(model, row_id).owner_id


def test_nothing_new_is_given_to_a_deactivated_member(web_app, acme):
    w = _world(web_app, acme)
    member, olga = w["client"], str(w["olga"].id)
    new_deal = text(member.get("/t/acme/crm/deals/new"))
    assert f'value="{olga}"' not in new_deal
    contact_page = text(member.get(f"/t/acme/crm/contacts/{w['jana']}"))
    assert f'<option value="{olga}">' not in contact_page  # the timeline's new activity
    for listed in ("/t/acme/crm/deals", "/t/acme/crm/activities"):
        page = text(member.get(listed))
        bar = page[page.index('id="bulk"'):page.index("</form>", page.index('id="bulk"'))]
        assert olga not in bar, listed
        assert f'<option value="{olga}">Olga Dvořáková (deactivated)</option>' in page, listed  # the filter

    refused = member.post("/t/acme/crm/deals/new", data=_deal_form(web_app, acme, owner=olga))
    assert refused.status_code == 422 and field_errors(text(refused), "owner")
    added = member.post(f"/t/acme/crm/contacts/{w['jana']}/activities", data={"kind": "call", "owner": olga})
    assert added.status_code == 422 and field_errors(text(added), "owner")
    bulk = member.post("/t/acme/crm/activities/bulk", data={"ids": [str(w["task"])], "action": "owner",
                                                            "bulk_owner": olga})
    assert bulk.status_code == 422
    assert "The owner must be an active member of this workspace." in text(bulk)


def test_editing_something_else_keeps_a_deactivated_owner(web_app, acme):
    w = _world(web_app, acme)
    member, olga = w["client"], str(w["olga"].id)
    edit = text(member.get(f"/t/acme/crm/deals/{w['deal']}/edit"))
    assert f'<option selected value="{olga}">Olga Dvořáková (deactivated)</option>' in edit
    version = _version(web_app, Deal, w["deal"])
    saved = member.post(f"/t/acme/crm/deals/{w['deal']}/edit", data=_deal_form(
        web_app, acme, title="Gates, second phase", owner=olga, version=version))
    assert saved.status_code == 302, text(saved)
    assert _owner(web_app, Deal, w["deal"]) == w["olga"].id
    saved = member.post(f"/t/acme/crm/activities/{w['task']}/edit", data={
        "kind": "call", "owner": olga, "note": "Now a call", "version": _version(web_app, Activity, w["task"])})
    assert saved.status_code == 302, text(saved)
    assert _owner(web_app, Activity, w["task"]) == w["olga"].id
    # The deal page still names her.
    assert "Olga Dvořáková (deactivated)" in text(member.get(f"/t/acme/crm/deals/{w['deal']}"))


def _version(web_app, model, row_id) -> str:
    with in_app(web_app, commit=False), all_tenants():
        return str(db.session.get(model, row_id).version)
