"""The operator's console for staff (platform admin, DPO, support)."""

from flask import Flask


def init_app(app: Flask) -> None:
    from tenantry.admin import duties, incidents, notices, registry, views

    app.register_blueprint(views.bp)
    app.register_blueprint(incidents.bp)
    app.register_blueprint(registry.bp)
    app.register_blueprint(duties.bp)
    app.register_blueprint(notices.bp)
    from tenantry.admin import jobs_health, staff, tenants

    views.init_app(app)  # the console's navigation, role by role
    app.register_blueprint(tenants.bp)
    app.register_blueprint(staff.bp)
    app.register_blueprint(jobs_health.bp)
