"""Read-only mode of a cancelled workspace: every write is refused except what the owner still
needs before deletion (export, the backup-data request, reactivation, early deletion) and
acknowledging notices; the API is refused the same way. Every page shows the deletion date."""

from __future__ import annotations

from flask import current_app, g, render_template, request

from tenantry.platform.tenancy import TenantStatus, get_current_tenant
from tenantry.platform.web import json_error, wants_json

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Blueprints whose writes stay open: this lifecycle's own pages, notices, and every export
# (the export lane's pages and API live in blueprints named for exports).
OPEN_BLUEPRINTS = ("lifecycle", "notices")


def _still_open(endpoint: str | None) -> bool:
    if not endpoint:
        return False
    blueprint = endpoint.rsplit(".", 1)[0] if "." in endpoint else ""
    exempt = current_app.extensions.get("tenantry.read_only_exempt", set())
    return blueprint in OPEN_BLUEPRINTS or "export" in endpoint or endpoint in exempt


def is_read_only(tenant) -> bool:
    return tenant is not None and tenant.status == TenantStatus.CANCELLED


def tenant_gate(tenant, membership):
    if not is_read_only(tenant) or request.method in SAFE_METHODS or _still_open(request.endpoint):
        return None
    message = (f"This workspace is cancelled and read-only. Everything in it will be deleted on "
               f"{tenant.deletion_due_at:%Y-%m-%d}. You can still export its data.")
    if wants_json():
        return json_error(423, "read_only", message)
    return render_template("tenants/cancel_read_only.html", tenant=tenant), 423


def api_gate(tenant):
    """Called by the API for every write (tenantry.api_write_gates)."""
    if not is_read_only(tenant) or _still_open(request.endpoint):
        return None
    return json_error(423, "read_only", f"The workspace is cancelled and read-only until its deletion on "
                                        f"{tenant.deletion_due_at:%Y-%m-%d}; exports still work.")


def banner_context():
    tenant = get_current_tenant()
    if g.get("membership") is None or not is_read_only(tenant):
        return {}
    from tenantry.tenants.lifecycle import cancellation

    return {"lifecycle_deletion": {"due": tenant.deletion_due_at, "days": cancellation.days_left(tenant)}}
