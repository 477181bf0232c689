"""`flask tenantry tenants cancel|reactivate|expedite SLUG`: staff acting on an owner's
written request, which --reference names (ticket or letter)."""

from __future__ import annotations

import click

from tenantry.platform import clock
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, TenantStatus, all_tenants, get_by_slug
from tenantry.tenants.cli import tenants_cli
from tenantry.tenants.lifecycle import cancellation, deletion_requests


def _tenant(slug: str) -> Tenant:
    with all_tenants():
        tenant = get_by_slug(slug.strip().lower())
    if tenant is None or tenant.status == TenantStatus.DELETED:
        raise click.ClickException(f"no tenant {slug!r}")
    return tenant


def _fail(exc: Exception):
    db.session.rollback()
    raise click.ClickException(str(exc)) from exc


@click.command("cancel")
@click.argument("slug")
@click.option("--reference", required=True, help="The owner's written request: ticket number or letter reference.")
def cancel_command(slug: str, reference: str) -> None:
    """Cancel a tenant on its owner's written request: read-only at once, deleted in 80 days."""
    tenant = _tenant(slug)
    try:
        cancellation.cancel(tenant, channel="staff", reference=reference)
    except cancellation.LifecycleError as exc:
        _fail(exc)
    due, days = tenant.deletion_due_at, cancellation.days_left(tenant)
    db.session.commit()
    click.echo(f"Tenant {slug} cancelled; read-only now; deletion due {due:%Y-%m-%d %H:%M} UTC ({days} days). "
               "Owners were e-mailed.")


@click.command("reactivate")
@click.argument("slug")
@click.option("--reference", required=True, help="The owner's written request.")
def reactivate_command(slug: str, reference: str) -> None:
    """Reactivate a cancelled tenant before its deletion, on its owner's written request."""
    tenant = _tenant(slug)
    try:
        cancellation.reactivate(tenant, actor=None)
    except cancellation.LifecycleError as exc:
        _fail(exc)
    db.session.commit()
    click.echo(f"Tenant {slug} is active again ({reference}). Owners were e-mailed.")


@click.command("expedite")
@click.argument("slug")
@click.option("--reference", required=True, help="The owner's written request for deletion.")
def expedite_command(slug: str, reference: str) -> None:
    """File an owner's written request for early deletion: at most 5 working days ahead."""
    tenant = _tenant(slug)
    try:
        row = deletion_requests.request_deletion(tenant, actor=None, reference=reference, by_staff=True)
    except cancellation.LifecycleError as exc:
        _fail(exc)
    when = row.scheduled_for
    db.session.commit()
    click.echo(f"Tenant {slug}: deletion scheduled for {when:%Y-%m-%d %H:%M} UTC "
               f"(requested {clock.now():%Y-%m-%d %H:%M} UTC). Owners were e-mailed.")


def register() -> None:
    for command in (cancel_command, reactivate_command, expedite_command):
        if command.name not in tenants_cli.commands:
            tenants_cli.add_command(command)
