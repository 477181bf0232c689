"""One company and one contact of a tenant, for the isolation suite (tests/test_isolation.py)."""

from decimal import Decimal

from tenantry.platform.tenancy import tenant_context
from tenantry.tenants.crm import (
    activities,
    companies,
    contacts,
    csv_import,
    custom_fields,
    deals,
    lost_reasons,
    stages,
)


def _company(tenant):
    with tenant_context(tenant):
        return companies.create(companies.CompanyData(name="Isolation s.r.o.", country="CZ",
                                                      company_number="25596641")).id


def _contact(tenant):
    with tenant_context(tenant):
        company = companies.create(companies.CompanyData(name="Employer a.s.", country="CZ"))
        return contacts.create(contacts.ContactData(first_name="Iva", last_name="Izolovaná",
                                                    emails=["iva@example.com"], phones=["+420601234567"],
                                                    company_id=company.id)).id


def _stage(tenant):
    with tenant_context(tenant):
        return stages.ensure_defaults()[0].id


def _lost_reason(tenant):
    with tenant_context(tenant):
        return lost_reasons.ensure_defaults()[0].id


def _deal(tenant):
    with tenant_context(tenant):
        stage = stages.ensure_defaults()[0]
        return deals.create(deals.DealData(title="Isolation renewal", value=Decimal("1000"), currency="EUR",
                                           stage_id=stage.id)).id


def _activity(tenant):
    with tenant_context(tenant):
        company = companies.create(companies.CompanyData(name="Activity a.s.", country="CZ"))
        return activities.create("company", company.id, activities.ActivityData(kind="call", note="Isolated")).id


def _custom_field(tenant):
    with tenant_context(tenant):
        return custom_fields.create(custom_fields.DefinitionData(
            label="Isolation level", key="isolation_level", type="text", options=[], required=False,
            special_category=False)).id


def _import(tenant):
    from datetime import timedelta

    from tenantry.platform import clock
    from tenantry.platform.db import db

    with tenant_context(tenant):
        imp = csv_import.CsvImport(tenant_id=tenant.id, entity="contact", created_by_id=tenant._test_owner.id,
                                   expires_at=clock.now() + timedelta(hours=1))
        db.session.add(imp)
        db.session.flush()
        return imp.id


FACTORIES = {"company_id": _company, "contact_id": _contact, "stage_id": _stage, "reason_id": _lost_reason,
             "deal_id": _deal,
             "activity_id": _activity, "custom_field_id": _custom_field, "import_id": _import}
