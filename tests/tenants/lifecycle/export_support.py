"""Shared by the export and backup tests: a tenant with a little of everything, and reading
archives back."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import date, time
from decimal import Decimal

from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import activities, companies, contacts, custom_fields, deals, stages
from tests import factories


def seed(tenant: Tenant, *, note: str = "Called about the renewal", contacts_n: int = 3) -> None:
    with tenant_context(tenant):
        company = companies.create(companies.CompanyData(name="Nováková s.r.o.", country="CZ",
                                                         company_number="25596641", notes="=HYPERLINK(\"x\")"))
        made = []
        for i in range(contacts_n):
            made.append(contacts.create(contacts.ContactData(
                first_name="Jana", last_name=f"Nováková{i}", emails=[f"jana{i}@example.com"],
                phones=["+420601234567"], company_id=company.id, tags=["vip"], notes="+1 call back")))
        # A custom field with a value on every contact, one of them a formula to defuse in the CSV.
        tier = custom_fields.create(custom_fields.DefinitionData(
            label="Customer tier", key="tier", type="text", options=[], required=False, special_category=False))
        for i, contact in enumerate(made):
            custom_fields.save(contact, {tier.id: f"{('Gold', '=Silver')[i % 2]} {i}"}, only=[tier])
        stage = stages.ensure_defaults()[0]
        deal = deals.create(deals.DealData(title="Renewal for Jana", value=Decimal("1200.500"), currency="EUR",
                                           stage_id=stage.id, contact_id=made[0].id,
                                           owner_id=tenant._test_owner.id if hasattr(tenant, "_test_owner") else None))
        activities.create("contact", made[0].id, activities.ActivityData(kind="call", note=note))
        activities.create("deal", deal.id, activities.ActivityData(kind="task", note="-send offer",
                                                                   due_on=date(2027, 1, 15), due_time=time(9, 30),
                                                                   owner_id=deal.owner_id))
        db.session.flush()


def make_seeded_tenant(slug: str, **kw) -> Tenant:
    tenant = factories.make_tenant(slug)
    seed(tenant, **kw)
    return tenant


def open_zip(data: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(data))


def entity(zf: zipfile.ZipFile, name: str) -> list[dict]:
    return json.loads(zf.read(f"{name}.json"))


CRM = ("pipeline_stages", "lost_reasons", "companies", "contacts", "custom_fields", "custom_field_values", "deals",
       "activities")
REFS = ("id", "company_id", "contact_id", "deal_id", "stage_id", "field_id", "lost_reason_id")


def normalised(rows: list[dict], ids: dict[str, str] | None = None) -> list[dict]:
    """Rows with ids mapped through `ids` (old -> new) and owner ids dropped, sorted: what an
    import must reproduce exactly."""
    out = []
    for row in rows:
        row = dict(row)
        for key in REFS:
            if row.get(key) is not None and ids is not None:
                row[key] = ids[row[key]]
        out.append(row)
    return sorted(out, key=lambda r: r["id"])
