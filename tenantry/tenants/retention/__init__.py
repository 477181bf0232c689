"""Retention rules [TT-retention]: a tenant's owners and admins say how long contacts, companies,
deals and activities are kept; the periodic sweep deletes or anonymises what is due, in committed
batches, and keeps a run history with one audit event per run. The enabled rules are part of
the tenant's record of processing (tenantry.dpa.duties.ropa.register_retention).
"""

from flask import Flask

from tenantry.tenants.retention import models  # noqa: F401  (the tables belong to the schema)


def _record_of_processing(_tenant) -> list[dict[str, str]]:
    from tenantry.tenants.retention import service

    return [{"data": rule.label, "rule": f"{rule.action_label.lower()}d by the daily sweep (tenant's rule)"}
            for rule in service.rules() if rule.enabled]


def init_app(app: Flask) -> None:
    from tenantry.dpa.duties import ropa
    from tenantry.platform import cron
    from tenantry.platform.web import add_tenant_nav
    from tenantry.tenants.retention import sweep, views

    ropa.register_retention(_record_of_processing)

    app.register_blueprint(views.bp)
    add_tenant_nav(app, "retention.index", "Retention", role="admin", order=89)
    cron.register(app, "retention-rules", sweep.run)
