"""The subprocessor registry with tenants' objections [DPA-4.8, DPA-6.1]: public pages and
feeds, the tenant's page with its objection form, and the sweep steps that announce proposals
and engage subprocessors per tenant once its window has closed. The staff pages live in
tenantry/admin/registry.py (admin may import dpa, not the other way)."""

from flask import Flask


def init_app(app: Flask) -> None:
    from tenantry.dpa.registry import models, services, views  # noqa: F401
    from tenantry.platform import cron
    from tenantry.platform.web import add_tenant_nav

    app.register_blueprint(views.public)
    app.register_blueprint(views.bp)
    add_tenant_nav(app, "registry.index", "Subprocessors", order=85)
    cron.register(app, "subprocessors.announce", services.announce)
    cron.register(app, "subprocessors.windows", services.close_windows)


def feature_allowed(tenant_id, feature: str) -> bool:
    """Whether `feature` may run for the tenant (see services.feature_allowed)."""
    from tenantry.dpa.registry import services

    return services.feature_allowed(tenant_id, feature)
