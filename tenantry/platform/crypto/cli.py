"""`flask tenantry keys ...`: rotate a tenant's data key, follow it, re-wrap every key."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from tenantry.platform import jobs, tenancy
from tenantry.platform.crypto import keyring, rewrap, rotation
from tenantry.platform.crypto.providers import KeyProviderError, KmsKeyProvider, LocalKeyProvider
from tenantry.platform.db import db

keys_cli = AppGroup("keys", help="Tenant keys: rotation, re-encryption, re-wrapping.")


def _tenant(slug: str) -> tenancy.Tenant:
    tenant = tenancy.get_by_slug(slug)
    if tenant is None:
        raise click.ClickException(f"no tenant {slug!r}")
    return tenant


def _echo_status(tenant: tenancy.Tenant) -> None:
    for row in keyring.versions(tenant.id):
        when = f" retired {row.retired_at:%Y-%m-%d %H:%M}" if row.retired_at else ""
        click.echo(f"data key v{row.version}: {row.status} ({row.provider}){when}")
    current = rotation.current(tenant.id)
    if current is not None:
        click.echo(
            f"rotation to v{current.to_version}: {current.status}, {current.rows_done}/{current.rows_total} rows "
            f"({current.percent}%), {current.values_reencrypted} values re-encrypted"
        )


@keys_cli.command("rotate")
@click.argument("slug")
def rotate_command(slug: str) -> None:
    """Make a new data key version active now and re-encrypt the tenant's values onto it."""
    tenant = _tenant(slug)
    started = rotation.rotate(tenant)
    version = started.to_version
    db.session.commit()
    click.echo(f"{slug}: data key v{version} is active; re-encrypting on the maintenance queue")
    # Without Redis the job runs here, now; with Redis a worker picks it up.
    jobs.drain()
    _echo_status(_tenant(slug))


@keys_cli.command("resume")
@click.argument("slug")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=rotation.BATCH_SIZE, show_default=True)
def resume_command(slug: str, batch_size: int) -> None:
    """Finish the tenant's running re-encryption in this process (after a crash)."""
    tenant = _tenant(slug)
    outcome = rotation.resume(tenant, batch_size=batch_size)
    db.session.commit()
    click.echo(f"{slug}: {outcome or 'no rotation'}")
    _echo_status(_tenant(slug))


@keys_cli.command("status")
@click.argument("slug")
def status_command(slug: str) -> None:
    """The tenant's data key versions and the progress of its last rotation."""
    _echo_status(_tenant(slug))


@keys_cli.command("rewrap")
@click.option("--from-master-key", "from_master_key", type=click.Path(dir_okay=False, path_type=Path),
              help="The old master key file the keys are wrapped under now.")
@click.option("--from-kms-key", "from_kms_key", help="The old KMS key id the keys are wrapped under now.")
def rewrap_command(from_master_key: Path | None, from_kms_key: str | None) -> None:
    """Re-wrap every tenant key and platform key under the configured provider's key."""
    if from_master_key and from_kms_key:
        raise click.UsageError("give --from-master-key or --from-kms-key, not both")
    target = current_app.extensions["tenantry.key_provider"]
    source = target
    try:
        if from_master_key:
            if not from_master_key.exists():
                raise click.ClickException(f"{from_master_key} does not exist")
            source = LocalKeyProvider(from_master_key)
        elif from_kms_key:
            settings = current_app.extensions["tenantry.settings"]
            source = KmsKeyProvider(from_kms_key, settings.aws_region,
                                    client=getattr(getattr(target, "current", target), "client", None))
        counts = rewrap.rewrap_all(source, target)
    except KeyProviderError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"re-wrapped {counts['tenant_keys']} tenant keys and {counts['platform_keys']} platform keys "
        f"under {target.name}; {counts['skipped']} were already under it"
    )
