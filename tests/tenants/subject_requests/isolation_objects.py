"""One data subject request of a tenant, for the isolation suite (tests/test_isolation.py)."""

from tenantry.platform.tenancy import tenant_context
from tenantry.tenants.crm import contacts
from tenantry.tenants.subject_requests import finder, service


def _request(tenant):
    with tenant_context(tenant):
        contacts.create(contacts.ContactData(first_name="Ida", last_name="Izolovaná", emails=["ida@example.com"]))
        return service.open_request("restriction", finder.Terms(email="ida@example.com"), "Isolation",
                                    actor=tenant._test_owner).id


FACTORIES = {"request_id": _request}
