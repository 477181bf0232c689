"""What the CRM's lists and their buttons say: an empty list says why, once; a change returns to
the row it was made on; a delete's confirmation names what goes with it."""

from __future__ import annotations

from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import activities, contacts
from tests.identity.support import in_app, text


def _contact_with_activity(web_app, acme, *, done: bool) -> tuple[str, str]:
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        person = contacts.create(contacts.ContactData(first_name="Jana", last_name="Nováková"))
        db.session.flush()
        activity = activities.create("contact", person.id, activities.ActivityData(kind="call", note="Ring"))
        if done:
            activities.complete(activity)
        return str(person.id), str(activity.id)


def test_the_default_activity_list_of_a_workspace_without_any_says_how_to_add_one(member):
    html = text(member.get("/t/acme/crm/activities"))
    assert "No activities yet: add one from a contact, company or deal." in html
    assert "No activity matches." not in html and "Clear filters" not in html


def test_the_default_activity_list_with_all_done_says_so_and_offers_them_all(web_app, member, acme):
    _contact_with_activity(web_app, acme, done=True)
    html = text(member.get("/t/acme/crm/activities"))
    assert "Nothing open: every activity is done." in html
    assert '<a href="/t/acme/crm/activities?state=all">Show all activities</a>' in html
    assert "No activities yet" not in html
    filtered = text(member.get("/t/acme/crm/activities?kind=meeting"))
    assert "No activity matches." in filtered and "Clear filters" in filtered


def test_a_new_deal_starts_in_the_workspace_country_s_currency(web_app, member):
    from tests.identity.support import new_tenant
    from tests.tenants.crm.conftest import signed_in

    assert _currency(text(member.get("/t/acme/crm/deals/new"))) == "CZK"  # acme is in CZ
    elsewhere = new_tenant(web_app, "fabrik", country="DE")
    assert _currency(text(signed_in(web_app, elsewhere, "member").get("/t/fabrik/crm/deals/new"))) == "EUR"
    deal = member.post("/t/acme/crm/deals/new", data={"title": "", "currency": "USD"})
    assert _currency(text(deal)) == "USD"  # what was sent is kept


def _currency(html: str) -> str:
    import re

    tag = re.search(r'<input[^>]*name="currency"[^>]*>', html).group(0)
    return re.search(r'value="([^"]*)"', tag).group(1)
