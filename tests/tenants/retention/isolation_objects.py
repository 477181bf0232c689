"""One retention rule of a tenant, for the isolation suite (tests/test_isolation.py)."""

from tenantry.platform.tenancy import tenant_context
from tenantry.tenants.retention import service


def _rule(tenant):
    with tenant_context(tenant):
        return service.create(service.RuleData("contact_inactive", 24, "anonymise", enabled=False)).id


FACTORIES = {"retention_rule_id": _rule}
