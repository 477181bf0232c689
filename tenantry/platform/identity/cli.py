"""Operator commands for accounts: staff creation and the first staff account of `make run`."""

from __future__ import annotations

import os

import click
import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email

from tenantry.platform import audit
from tenantry.platform.cli import tenantry_cli
from tenantry.platform.db import db
from tenantry.platform.identity import login, tokens
from tenantry.platform.identity.models import StaffRole, StaffUser


def checked_email(value: str) -> str:
    try:
        return validate_email(value, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise click.BadParameter(str(exc)) from exc


def create_staff(email: str, role: str) -> tuple[StaffUser, str]:
    staff = StaffUser(email=email, role=role)
    db.session.add(staff)
    db.session.flush()
    link = tokens.issue_setup_link(staff)
    audit.record("staff.created", actor_type="system", target_type="staff", target_id=staff.id,
                 details={"role": role})
    db.session.commit()
    return staff, link


def register() -> None:
    if "create-staff" in tenantry_cli.commands:
        return

    @tenantry_cli.command("create-staff")
    @click.argument("email")
    @click.option("--role", required=True, type=click.Choice([r.value for r in StaffRole]))
    def create_staff_command(email: str, role: str) -> None:
        """Create a staff account and print its one-time set-up link."""
        email = checked_email(email)
        if login.find("staff", email) is not None:
            raise click.ClickException(f"a staff account for {email} already exists")
        _, link = create_staff(email, role)
        click.echo(f"Staff account {email} ({role}) created. One-time set-up link (valid 72 hours):")
        click.echo(link)

    @tenantry_cli.command("staff-reset-link")
    @click.argument("email")
    def staff_reset_link(email: str) -> None:
        """Print a one-time link (valid 1 hour) for a staff member to choose a new password: the
        sign-in after it still asks for their two-factor code. Earlier links stop working."""
        staff = login.find("staff", checked_email(email))
        if staff is None or not staff.active:
            raise click.ClickException(f"no active staff account for {email}")
        link = tokens.issue_setup_link(staff, purpose=tokens.RESET, hours=1)
        audit.record("staff.reset_link_issued", actor_type="system", target_type="staff", target_id=staff.id)
        db.session.commit()
        click.echo(f"One-time link for {staff.email} to choose a new password (valid 1 hour):")
        click.echo(link)

    @tenantry_cli.command("bootstrap-staff")
    @click.option("--email", default=lambda: os.environ.get("TENANTRY_BOOTSTRAP_STAFF_EMAIL", "admin@example.com"),
                  show_default="admin@example.com")
    def bootstrap_staff(email: str) -> None:
        """Make sure a first platform admin exists; print its set-up link while it has no password."""
        email = checked_email(email)
        first = db.session.execute(
            sa.select(StaffUser).where(StaffUser.role == StaffRole.PLATFORM_ADMIN).order_by(StaffUser.created_at)
        ).scalars().first()
        if first is None:
            _, link = create_staff(email, StaffRole.PLATFORM_ADMIN.value)
        elif first.password_hash is None:
            link = tokens.issue_setup_link(first)
            db.session.commit()
            email = first.email
        else:
            click.echo("Staff accounts are set up; staff sign in at /admin/login.")
            return
        click.echo("")
        click.echo(f"  First staff account: {email} (platform-admin)")
        click.echo(f"  One-time set-up link: {link}")
        click.echo("")
