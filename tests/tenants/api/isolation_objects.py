"""An API client of a tenant, for the isolation suite (tests/test_isolation.py)."""

from tenantry.platform.tenancy import tenant_context
from tenantry.tenants.api import clients


def _api_client(tenant):
    with tenant_context(tenant):
        return clients.create("Isolation sync", ["crm:read"]).client.id


FACTORIES = {"api_client_id": _api_client}
