"""`flask tenantry import-export SLUG FILE` and `flask tenantry backups list|restore`."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from tenantry.dpa import special_categories
from tenantry.platform import tenancy
from tenantry.platform.cli import tenantry_cli
from tenantry.platform.db import db
from tenantry.platform.identity.models import Membership, Role, User

from . import backups, import_export

backups_cli = AppGroup("backups", help="The daily backups of a tenant.")


def _tenant(slug: str) -> tenancy.Tenant:
    tenant = tenancy.get_by_slug(slug)
    if tenant is None:
        raise click.ClickException(f"no tenant {slug!r}")
    return tenant


def _report(result: import_export.Imported) -> None:
    click.echo(" ".join(f"{name}={count}" for name, count in result.counts.items()))
    if result.members_skipped:
        click.echo(f"{result.members_skipped} member(s) have no account here and were not added.")


@click.command("import-export")
@click.argument("slug")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--with-members", is_flag=True,
              help="Also make the archive's members (existing accounts, matched by e-mail) members here.")
def import_export_command(slug: str, file: Path, with_members: bool) -> None:
    """Import an export ZIP (as downloaded) into the new, empty tenant SLUG."""
    tenant = _tenant(slug)
    try:
        result = import_export.import_archive(tenant, file, with_members=with_members)
    except import_export.ImportRefused as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"Imported {file.name} into {slug} (new ids; the source's audit trail stays in the file).")
    _report(result)


@backups_cli.command("list")
@click.argument("slug")
def list_command(slug: str) -> None:
    """The backups of SLUG that can be restored, newest first."""
    tenant = _tenant(slug)
    rows = backups.available(tenant)
    if not rows:
        click.echo(f"{slug} has no backups.")
    for b in rows:
        rows_total = sum((b.row_counts or {}).values())
        click.echo(f"{b.day.isoformat()}  {b.id}  {b.size_bytes or 0} bytes  {rows_total} rows  "
                   f"taken {b.finished_at:%Y-%m-%d %H:%M} UTC")
    db.session.rollback()


@backups_cli.command("restore")
@click.argument("slug")
@click.argument("backup")
@click.option("--into", "into", required=True, help="Slug of the NEW tenant to create and restore into.")
def restore_command(slug: str, backup: str, into: str) -> None:
    """Restore BACKUP (its id or day, YYYY-MM-DD) of SLUG into a new tenant --into, with its members."""
    from tenantry.tenants import signup

    source = _tenant(slug)
    chosen = backups.find(source, backup)
    if chosen is None:
        raise click.ClickException(f"{slug} has no backup {backup!r} (see `backups list {slug}`)")
    backup_id, day = chosen.id, chosen.day
    if tenancy.get_by_slug(into) is not None:
        raise click.ClickException(f"tenant {into!r} exists already: restore creates a new tenant")
    owner = _an_owner(source)
    with tempfile.TemporaryFile() as plain:
        with tenancy.tenant_context(source):
            backups.copy_plain(backup_id, plain)
        plain.seek(0)
        try:
            target = signup.create_tenant(slug=into, name=source.name, country=source.country,
                                          jurisdiction=source.jurisdiction, owner=owner)
            _carry_agreement(source, target)
            result = import_export.import_archive(target, plain, with_members=True)
        except (import_export.ImportRefused, signup.SignupError) as exc:
            db.session.rollback()
            raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"Restored the backup of {slug} of {day.isoformat()} into the new tenant {into}.")
    _report(result)


def _carry_agreement(source: tenancy.Tenant, target: tenancy.Tenant) -> None:
    """A restore is the same controller's workspace: its active special-category agreement
    holds for the copy (a revoked one does not, and the import then refuses such fields)."""
    with tenancy.tenant_context(source):
        agreement = special_categories.active(source.id)
    if agreement is not None:
        with tenancy.tenant_context(target):
            special_categories.carry(agreement, target.id)


def _an_owner(tenant: tenancy.Tenant) -> User:
    """The longest-standing owner of the source owns the restored tenant (and accepts its
    agreement on first visit); the other members follow from the backup."""
    with tenancy.tenant_context(tenant):
        owner = db.session.execute(
            sa.select(User).join(Membership, Membership.user_id == User.id)
            .where(Membership.tenant_id == tenant.id, Membership.role == Role.OWNER.value)
            .order_by(Membership.created_at)).scalars().first()
    if owner is None:
        raise click.ClickException(f"{tenant.slug} has no owner to own the restored tenant")
    return owner


def register() -> None:
    if "import-export" not in tenantry_cli.commands:
        tenantry_cli.add_command(import_export_command)
    if "backups" not in tenantry_cli.commands:
        tenantry_cli.add_command(backups_cli)
