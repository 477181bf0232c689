"""A tenant's instance: sign-up, members and settings (the CRM, exports and lifecycle follow)."""

from flask import Flask


def init_app(app: Flask) -> None:
    from tenantry.platform.web import add_tenant_gate, add_tenant_nav
    from tenantry.tenants import anomalies, api, cli, crm, local_time, notices, views
    from tenantry.tenants.forms import country_name

    app.add_template_filter(country_name, "country")  # the company page and the console's tenant page
    app.add_template_filter(local_time.shown, "local")  # a stored time on the workspace's clock
    app.add_template_filter(local_time.days_ago, "days_ago")
    app.register_blueprint(views.public)
    app.register_blueprint(views.bp)
    app.register_blueprint(notices.bp)
    crm.init_app(app)  # the Contacts (10) and Companies (11) pages and their nav entries
    from tenantry.tenants import lifecycle

    lifecycle.init_app(app)  # export and backups (nav 88); cancellation, read-only mode and purge (nav 99)
    api.init_app(app)  # /oauth/token, /api/v1 and the API clients page (nav 93)
    anomalies.init_app(app)  # anomaly rules (after-commit jobs) and Settings > Alerts
    from tenantry.tenants import retention

    retention.init_app(app)  # Settings > Retention (nav 89) and the retention sweep step
    add_tenant_gate(app, views.agreement_gate)
    add_tenant_nav(app, "tenant.dashboard", "Dashboard", order=0)
    add_tenant_nav(app, "notices.index", "Notices", order=80)
    add_tenant_nav(app, "tenant.members_view", "Members", order=90)
    add_tenant_nav(app, "tenant.security_settings", "Security", role="admin", order=91)
    add_tenant_nav(app, "tenant.workspace_settings", "Workspace", role="admin", order=91)
    add_tenant_nav(app, "tenant.agreement", "Agreement", order=92)
    from tenantry.tenants import audit_views

    audit_views.init_app(app)  # Audit trail (nav 95), Account review (nav 96) and its monthly sweep

    @app.context_processor
    def _notice_banner():
        from flask import g

        if g.get("membership") is None:
            return {}
        return {"notices_awaiting": notices.awaiting_acknowledgement()}
    from tenantry.tenants import support_grants

    support_grants.init_app(app)  # Settings > Support access (nav 94); staff enter only under a grant
    from tenantry.tenants import subject_requests

    subject_requests.init_app(app)  # Data subject requests (nav 85), for owners and admins
    cli.register()
