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
        line = f"data key v{row.version}: {row.status} ({row.provider})"
        if row.status == keyring.RETIRED and row.retired_at:
            line += f" {row.retired_at:%Y-%m-%d %H:%M}"
        why = keyring.explain(row.status, row.in_use)
        if why:
            line += f": {why}"
        if row.status == keyring.DECRYPT_ONLY and row.in_use_checked_at:
            line += f" (counted {row.in_use_checked_at:%Y-%m-%d %H:%M})"
        click.echo(line)
    current = rotation.current(tenant.id)
    if current is not None:
        click.echo(
            f"rotation to v{current.to_version}: {current.status}, {current.rows_done}/{current.rows_total} rows "
            f"({current.percent}%), {current.values_reencrypted} values re-encrypted"
        )
        if current.error and current.status in (rotation.RUNNING, rotation.FAILED):
            click.echo(f"rotation to v{current.to_version} stopped at: {current.error}")


def _echo_progress(row: rotation.KeyRotation) -> None:
    if row.status == rotation.RUNNING and not row.error:
        click.echo(f"rotation to v{row.to_version}: {row.rows_done}/{row.rows_total} rows ({row.percent}%)")


def _stopped(slug: str, status: str, error: str | None) -> click.ClickException:
    """What an operator reads when re-encryption stops short, and what to do about it."""
    if status == rotation.FAILED:
        advice = ("That value does not decrypt, so it cannot be moved to the new key: re-encryption stopped at its "
                  "batch, and the older key versions stay in use. Restore the value (e.g. from a backup) or clear "
                  f"it, then run `flask tenantry keys resume {slug}`; it goes on from there.")
    else:
        quiet = int(rotation.STALE_AFTER.total_seconds() // 60)
        advice = (f"The rotation is still running: the sweep retries it after {quiet} quiet minutes, or run "
                  f"`flask tenantry keys resume {slug}` once that answers again.")
    return click.ClickException(f"{slug}: re-encryption stopped at {error or 'an error (see the log)'}\n{advice}")


@keys_cli.command("rotate")
@click.argument("slug")
def rotate_command(slug: str) -> None:
    """Make a new data key version active now and re-encrypt the tenant's values onto it."""
    tenant = _tenant(slug)
    try:
        started = rotation.rotate(tenant)
        tenant_id, started_id, version = tenant.id, started.id, started.to_version
        db.session.commit()
    except KeyProviderError as exc:
        db.session.rollback()
        raise click.ClickException(f"{slug}: no new key version: {exc}") from exc
    click.echo(f"{slug}: data key v{version} is active; re-encrypting on the maintenance queue")
    # Without Redis the job runs here, now (its progress shown as it goes); with Redis a worker
    # picks it up. An inline job's exception only reaches the log: its outcome is on the row.
    with rotation.reporting(_echo_progress):
        jobs.drain()
    db.session.remove()
    _echo_status(_tenant(slug))
    now = rotation.current(tenant_id)
    if now is None or now.id != started_id or now.status not in (rotation.RUNNING, rotation.FAILED):
        return
    if now.error or not current_app.extensions["tenantry.settings"].redis_url:
        raise _stopped(slug, now.status, now.error)
    click.echo(f"{slug}: a worker re-encrypts; follow it with `flask tenantry keys status {slug}`")


@keys_cli.command("resume")
@click.argument("slug")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=rotation.BATCH_SIZE, show_default=True)
def resume_command(slug: str, batch_size: int) -> None:
    """Finish the tenant's running or failed re-encryption in this process (after a crash, or
    once the value it stopped at is restored)."""
    tenant = _tenant(slug)
    try:
        with rotation.reporting(_echo_progress):
            outcome = rotation.resume(tenant, batch_size=batch_size)
        db.session.commit()
    except rotation.RotationFailed as exc:
        db.session.rollback()
        _echo_status(_tenant(slug))
        raise _stopped(slug, exc.status, str(exc)) from exc
    click.echo(f"{slug}: {outcome or 'no rotation'}")
    _echo_status(_tenant(slug))


@keys_cli.command("status")
@click.argument("slug")
def status_command(slug: str) -> None:
    """The tenant's data key versions and the progress of its last rotation."""
    _echo_status(_tenant(slug))


def _echo_rewrap_progress(counts: dict[str, int], total: int) -> None:
    done = counts["tenant_keys"] + counts["skipped"]
    click.echo(f"tenant keys: {done}/{total} ({done * 100 // max(total, 1)}%), {counts['tenant_keys']} re-wrapped, "
               f"{counts['skipped']} already under the new key")


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
        counts = rewrap.rewrap_all(source, target, progress=_echo_rewrap_progress)
    except KeyProviderError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"re-wrapped {counts['tenant_keys']} tenant keys and {counts['platform_keys']} platform keys "
        f"under {target.name}; {counts['skipped']} were already under it"
    )
