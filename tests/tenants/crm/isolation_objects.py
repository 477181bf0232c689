"""One company and one contact of a tenant, for the isolation suite (tests/test_isolation.py)."""

from tenantry.platform.tenancy import tenant_context
from tenantry.tenants.crm import companies, contacts


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


FACTORIES = {"company_id": _company, "contact_id": _contact}
