"""Wires cancellation, read-only mode, expedited deletion and the purge into the app (called
from this package's init_app, beside the export lane's own set-up)."""

from flask import Flask

from tenantry.tenants.lifecycle import cancel_models  # noqa: F401  (the tables belong to the schema)


def init_app(app: Flask) -> None:
    from tenantry.platform import cron
    from tenantry.platform.web import add_tenant_gate, add_tenant_nav
    from tenantry.tenants.lifecycle import cancel_cli, cancel_views, cancellation, purge, read_only

    app.register_blueprint(cancel_views.bp)
    add_tenant_nav(app, "lifecycle.cancel", "Cancel service", role="owner", order=99)
    add_tenant_gate(app, read_only.tenant_gate)
    app.extensions.setdefault("tenantry.api_write_gates", []).append(read_only.api_gate)
    app.context_processor(read_only.banner_context)
    cron.register(app, "lifecycle-reminders", cancellation.send_reminders)
    cron.register(app, "lifecycle-purge", purge.run)
    cancel_cli.register()
