"""The agreement and the processor's duties: versions and acceptances, the subprocessor registry
(registry/), audits, inspections, cooperation and records of processing (duties/), and
incidents with the breach register (incidents/)."""

from flask import Flask


def init_app(app: Flask) -> None:
    from tenantry.dpa import duties, incidents, models, registry, special_categories, views  # noqa: F401

    app.register_blueprint(views.bp)
    app.add_template_filter(_in_tenant_terms, "terms")
    registry.init_app(app)
    duties.init_app(app)
    incidents.init_app(app)


def _in_tenant_terms(text: str, jurisdiction: str | None = None) -> str:
    """`{{ "[[Data subject]] requests"|terms }}`: a page's words in the current tenant's law
    [DPA-1.terms] (GDPR outside a tenant)."""
    from tenantry.dpa import terms
    from tenantry.platform.tenancy import get_current_tenant

    tenant = get_current_tenant()
    return terms.render_terms(text, jurisdiction or getattr(tenant, "jurisdiction", None) or "gdpr")
