"""A tenant's instance: sign-up, members and settings (the CRM, exports and lifecycle follow)."""

from flask import Flask


def init_app(app: Flask) -> None:
    from tenantry.platform.web import add_tenant_gate
    from tenantry.tenants import cli, views

    app.register_blueprint(views.public)
    app.register_blueprint(views.bp)
    add_tenant_gate(app, views.agreement_gate)
    cli.register()
