"""The processor's duties towards each controller: audits, supervisory authority inspections,
cooperation requests and records of processing. The staff side lives in tenantry/admin/duties.py,
since staff pages belong to the console (imports flow platform <- dpa <- tenants <- admin)."""

from flask import Flask

from tenantry.dpa.duties import models  # noqa: F401  (the tables belong to the schema)


def init_app(app: Flask) -> None:
    from tenantry.dpa.duties import cooperation, ropa, views
    from tenantry.platform import cron
    from tenantry.platform.crypto import rotation
    from tenantry.platform.web import add_tenant_nav

    app.register_blueprint(views.bp)
    add_tenant_nav(app, "duties.records", "Records of processing", role="admin", order=86)
    add_tenant_nav(app, "duties.cooperation_list", "Cooperation", role="admin", order=87)
    add_tenant_nav(app, "duties.inspection_list", "Inspections",
                   role="admin", order=88)
    add_tenant_nav(app, "duties.audit_list", "Audits", role="admin", order=89)
    cron.register(app, "cooperation-deadlines", cooperation.sweep)
    cron.register(app, "records-of-processing", ropa.sweep)
    rotation.register_encrypted_column(models.AuditDocument, "content_key")
