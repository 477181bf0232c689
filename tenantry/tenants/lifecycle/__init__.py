"""A tenant's lifecycle: full exports, daily backups and importing an export (this package's
export, backups, import_export and archive modules); cancellation and purge live beside them."""

from flask import Flask

from tenantry.tenants.lifecycle import export_models  # noqa: F401  (the tables belong to the schema)


def init_app(app: Flask) -> None:
    from tenantry.platform import cron
    from tenantry.platform.web import add_tenant_nav
    from tenantry.tenants.lifecycle import backups, cli, export, views

    app.register_blueprint(views.bp)
    add_tenant_nav(app, "exports.index", "Export", role="admin", order=88)
    cron.register(app, "exports", export.sweep)
    cron.register(app, "backups", backups.nightly)
    cli.register()
    from tenantry.tenants.lifecycle import cancel_setup

    cancel_setup.init_app(app)  # cancellation, read-only mode, expedited deletion, day-80 purge
