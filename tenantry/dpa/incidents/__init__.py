"""Incidents and the breach register: the DPO logs a breach, notifies the affected tenants within
48 hours and follows up; tenants acknowledge, read and export their entries, and report breaches
of their own. The DPO desk lives in tenantry/admin/incidents.py, since staff pages belong to the
console (imports flow platform <- dpa <- tenants <- admin)."""

from flask import Flask

from tenantry.dpa.incidents import models  # noqa: F401  (the tables belong to the schema)


def init_app(app: Flask) -> None:
    from tenantry.dpa.incidents import service, views
    from tenantry.platform import cron
    from tenantry.platform.crypto import rotation
    from tenantry.platform.web import add_tenant_nav

    app.register_blueprint(views.bp)
    add_tenant_nav(app, "incidents.index", "Incidents", order=84)
    cron.register(app, "incident-reminders", service.remind)
    cron.register(app, "incident-deadlines", service.flag_overdue)
    # A tenant's own report is sealed under that tenant's data key (models.seal_report), in a
    # register nobody may edit (the app role may only insert): a key rotation leaves it on its
    # version, which stays decrypt-only while the report is there.
    rotation.register_pinned_column(models.Incident, "sealed_report", what="incident reports",
                                    tenant_column="reported_by_tenant_id")
