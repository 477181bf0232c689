"""Helpers of the data subject request tests: a workspace with one person spread over contacts,
activities, deals and other records' notes, and the web steps of a request."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from decimal import Decimal

from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import activities, companies, contacts, custom_fields, deals, stages
from tests.identity.support import in_app, login_password, new_member

EMAIL = "jana.novakova@example.com"
PHONE = "+420601234567"


@dataclass
class Seeded:
    jana: uuid.UUID
    jana_activity: uuid.UUID
    deal: uuid.UUID
    colleague: uuid.UUID
    company: uuid.UUID
    company_activity: uuid.UUID
    other_deal: uuid.UUID
    field: uuid.UUID


def seed(app, tenant) -> Seeded:
    """Jana Nováková's contact (with an activity, a custom value and a deal), and mentions of her
    in a colleague's notes, a company's notes, a company activity and another deal's title."""
    with in_app(app), tenant_context(db.session.get(Tenant, tenant.id)):
        company = companies.create(companies.CompanyData(
            name="Železárny a.s.", country="CZ", notes=f"Main contact: JANA NOVAKOVA ({EMAIL.upper()})."))
        jana = contacts.create(contacts.ContactData(
            first_name="Jana", last_name="Nováková", emails=[EMAIL], phones=[PHONE], company_id=company.id,
            position="CFO", notes="Prefers calls", tags=["vip"]))
        definition = custom_fields.create(custom_fields.DefinitionData(
            label="Birthday", key="birthday", type="text", options=[], required=False, special_category=False))
        with db.session.no_autoflush:  # the value is encrypted after the row is added
            custom_fields.save(jana, {definition.id: "12 May"}, only=[definition])
        colleague = contacts.create(contacts.ContactData(
            first_name="Petr", last_name="Svoboda", emails=["petr@example.com"],
            notes="Works with Nováková Jana; write to jana.novakova@example.com for invoices."))
        jana_activity = activities.create("contact", jana.id, activities.ActivityData(
            kind="call", note="Called Jana about the renewal"))
        company_activity = activities.create("company", company.id, activities.ActivityData(
            kind="meeting", note="Meeting with Jana Nováková and Petr"))
        stage = stages.ensure_defaults()[0]
        deal = deals.create(deals.DealData(title="Renewal 2026", value=Decimal("1000"), currency="EUR",
                                           stage_id=stage.id, contact_id=jana.id))
        other_deal = deals.create(deals.DealData(title="Upsell for Jana Nováková", value=Decimal("5"),
                                                 currency="EUR", stage_id=stage.id, company_id=company.id))
        return Seeded(jana.id, jana_activity.id, deal.id, colleague.id, company.id, company_activity.id,
                      other_deal.id, definition.id)


def client_as(app, tenant, role: str):
    person = new_member(app, tenant, role)
    client = app.test_client()
    assert login_password(client, person.email).status_code == 302
    client.person = person
    return client


def open_request(client, kind: str, **terms) -> str:
    response = client.post("/t/acme/subject-requests/new", data={"kind": kind, "details": "By letter", **terms})
    assert response.status_code == 302, response.get_data(as_text=True)
    match = re.search(r"/subject-requests/([0-9a-f-]{36})$", response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


def url(request_id: str, action: str = "") -> str:
    return f"/t/acme/subject-requests/{request_id}" + (f"/{action}" if action else "")


def relogin(client) -> None:
    """After the clock moved on: the session ended (idle and absolute limits); sign in again."""
    assert login_password(client, client.person.email).status_code == 302
