"""`flask tenantry api-clients create|list|revoke`: API clients from the command line."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from tenantry.platform.cli import tenantry_cli
from tenantry.platform.db import db
from tenantry.platform.tenancy import TenantStatus, get_by_slug, tenant_context

from . import clients

api_clients_cli = AppGroup("api-clients", help="Create, list and revoke a tenant's API clients.")


def _tenant(slug: str):
    tenant = get_by_slug(slug)
    if tenant is None or tenant.status == TenantStatus.DELETED:
        raise click.BadParameter(f"no tenant {slug!r}", param_hint="SLUG")
    return tenant


@api_clients_cli.command("create")
@click.argument("slug")
@click.option("--name", required=True)
@click.option("--scopes", required=True, help='Space-separated, e.g. "crm:read crm:write export".')
@click.option("--json", "as_json", is_flag=True, help="Print {client_id, client_secret} as JSON.")
def create(slug: str, name: str, scopes: str, as_json: bool) -> None:
    """Create a client; its secret is printed once."""
    tenant = _tenant(slug)
    with tenant_context(tenant):
        try:
            created = clients.create(name, scopes)
        except clients.ClientError as exc:
            db.session.rollback()
            raise click.ClickException(str(exc)) from exc
        client_id, scope_list = created.client.client_id, created.client.scope_list
    db.session.commit()
    if as_json:
        click.echo(json.dumps({"client_id": client_id, "client_secret": created.client_secret,
                               "scopes": scope_list}))
    else:
        click.echo(f"Client {client_id} ({name}) created for {slug} with scopes {' '.join(scope_list)}.")
        click.echo(f"Secret (shown once): {created.client_secret}")


@api_clients_cli.command("list")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True)
def list_(slug: str, as_json: bool) -> None:
    """The tenant's clients, revoked ones included."""
    tenant = _tenant(slug)
    with tenant_context(tenant):
        rows = [{"client_id": c.client_id, "name": c.name, "scopes": c.scope_list,
                 "created_at": c.created_at.isoformat(),
                 "last_used_at": c.last_used_at.isoformat() if c.last_used_at else None,
                 "revoked_at": c.revoked_at.isoformat() if c.revoked_at else None} for c in clients.listing()]
    if as_json:
        click.echo(json.dumps(rows))
        return
    for row in rows:
        state = f"revoked {row['revoked_at']}" if row["revoked_at"] else "active"
        click.echo(f"{row['client_id']}  {row['name']}  [{' '.join(row['scopes'])}]  {state}")
    if not rows:
        click.echo("No API clients.")


@api_clients_cli.command("revoke")
@click.argument("slug")
@click.argument("client_id")
def revoke(slug: str, client_id: str) -> None:
    """Revoke a client: its tokens stop working at once."""
    tenant = _tenant(slug)
    with tenant_context(tenant):
        client = clients.by_client_id(client_id)
        if client is None:
            raise click.BadParameter(f"no client {client_id!r} in {slug}", param_hint="CLIENT_ID")
        changed = clients.revoke(client)
    db.session.commit()
    click.echo(f"Client {client_id} revoked." if changed else f"Client {client_id} was already revoked.")


def register() -> None:
    if "api-clients" not in tenantry_cli.commands:
        tenantry_cli.add_command(api_clients_cli)
