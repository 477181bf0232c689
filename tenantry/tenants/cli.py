"""`flask tenantry tenants ...`: tenants created by the operator."""

from __future__ import annotations

import click
import holidays
from flask.cli import AppGroup

from tenantry.platform.cli import tenantry_cli
from tenantry.platform.db import db
from tenantry.platform.identity import login, tokens
from tenantry.platform.identity.cli import checked_email
from tenantry.platform.identity.models import User
from tenantry.platform.tenancy import Jurisdiction
from tenantry.tenants import signup
from tenantry.tenants.forms import RESERVED_SLUGS, SLUG_RE

tenants_cli = AppGroup("tenants", help="Create and manage tenants.")


@tenants_cli.command("create")
@click.argument("slug")
@click.option("--name", required=True)
@click.option("--owner-email", required=True)
@click.option("--country", default="CZ", show_default=True)
@click.option("--jurisdiction", type=click.Choice([j.value for j in Jurisdiction]), default="gdpr", show_default=True)
def create(slug: str, name: str, owner_email: str, country: str, jurisdiction: str) -> None:
    """Create a tenant and print its owner's set-up link; the owner accepts the agreement on first visit."""
    slug = slug.strip().lower()
    if not SLUG_RE.match(slug) or slug in RESERVED_SLUGS:
        raise click.BadParameter("3–63 lower-case letters, digits and hyphens, not a reserved word", param_hint="SLUG")
    country = country.upper()
    if country not in holidays.list_supported_countries():
        raise click.BadParameter(f"unknown country code {country!r}", param_hint="--country")
    email = checked_email(owner_email)
    owner = login.find("user", email)
    if owner is None:
        owner = User(email=email)
        db.session.add(owner)
        db.session.flush()
    try:
        tenant = signup.create_tenant(slug=slug, name=name, country=country, jurisdiction=jurisdiction, owner=owner)
    except signup.SignupError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    link = tokens.issue_setup_link(owner) if owner.password_hash is None else None
    db.session.commit()
    click.echo(f"Tenant {tenant.slug} ({tenant.name}) created with owner {email}.")
    if link:
        click.echo("Owner's one-time set-up link (valid 72 hours):")
        click.echo(link)
    else:
        click.echo(f"{email} already has an account: they sign in and accept the agreement at /t/{tenant.slug}/.")


def register() -> None:
    if "tenants" not in tenantry_cli.commands:
        tenantry_cli.add_command(tenants_cli)
