"""The operator's console for staff (platform admin, DPO, support)."""

from flask import Flask


def init_app(app: Flask) -> None:
    from tenantry.admin import duties, incidents, notices, registry, views

    app.register_blueprint(views.bp)
    app.register_blueprint(incidents.bp)
    app.register_blueprint(registry.bp)
    app.register_blueprint(duties.bp)
    app.register_blueprint(notices.bp)
