"""Deletion on day 80 (or the expedited date) [DPA-4.9, DPA-4.10, TT-retention, TEK-termination].

The purge runs in phases, each recorded on the tenant's tombstone as it completes, and the
row deletions are committed batch by batch, so a purge killed at any point and started again
carries on where it stopped and finishes once:

1. the deletion certificate (no personal data: counts, dates, tenant id, hash of the slug) is
   e-mailed to the owners while their addresses and the data still exist;
2. every stored file under `tenants/<tenant_id>/` (exports, backups, imports, attachments);
3. every row of the tenant in every table that refers to it, dependants first; accounts that
   belonged to this tenant only; its audit trail, through the audit core's
   `purge_tenant_trail` (the signed checkpoints, hashes only, and a platform event remain);
4. the keys (crypto-shredding), last, once the certificate has gone out: anything encrypted
   under them anywhere, copies of backups included, can never be read again;
5. the tenant row keeps its id with status `deleted` (its slug and name replaced), beside the
   tombstone, so the audit events' foreign keys stay valid.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm.attributes import flag_modified

from tenantry.dpa import recipients
from tenantry.platform import audit, audit_retention, clock, notify, storage
from tenantry.platform.crypto import keyring
from tenantry.platform.db import db
from tenantry.platform.identity.models import Membership, User
from tenantry.platform.notify import Notification
from tenantry.platform.tenancy import Tenant, TenantStatus, all_tenants
from tenantry.tenants.lifecycle import cancellation
from tenantry.tenants.lifecycle.cancel_models import Tombstone

log = logging.getLogger(__name__)

BATCH = 500
# Kept on purpose: the tenant row (status deleted, no name or slug) and the tombstone are the
# record that the tenant existed and was deleted; the audit trail goes through the audit
# core's own function; the keys are erased in their own phase, after the certificate.
KEPT = {"tenants", "tenant_tombstones", "audit_events", "tenant_keys"}


class PurgeInterrupted(RuntimeError):
    pass


def slug_hash(slug: str) -> str:
    return hashlib.sha256(slug.encode()).hexdigest()


def storage_prefix(tenant_id: uuid.UUID) -> str:
    return f"tenants/{tenant_id}/"


def tenant_tables() -> list[sa.Table]:
    """Every table holding rows of a tenant (a tenant_id column), dependants before what they
    depend on, so no delete trips a foreign key.

    Other references to a tenant are records of the operator's own that the law has it keep,
    not the tenant's data: a breach the tenant reported stays in the processor's breach
    register [DPA-4.3.7] (its tenant-sealed text unreadable once the keys are destroyed)."""
    return [table for table in reversed(db.metadata.sorted_tables)
            if table.name not in KEPT and "tenant_id" in table.c]


def _where(table: sa.Table, tenant_id: uuid.UUID):
    return table.c.tenant_id == tenant_id


def count_rows(tenant_id: uuid.UUID) -> dict[str, int]:
    counts = {}
    with all_tenants():
        for table in tenant_tables():
            n = db.session.execute(sa.select(sa.func.count()).select_from(table)
                                   .where(_where(table, tenant_id))).scalar_one()
            if n:
                counts[table.name] = n
    return counts


def run(as_of: datetime, *, batch_size: int = BATCH, on_batch: Callable[[int], None] | None = None) -> int:
    """Sweep step: purge every tenant whose deletion is due; returns how many finished."""
    done = 0
    for tenant_id in cancellation.due_for_purge(as_of):
        if purge(tenant_id, batch_size=batch_size, on_batch=on_batch):
            done += 1
    return done


def purge(tenant_id: uuid.UUID, *, batch_size: int = BATCH, on_batch: Callable[[int], None] | None = None) -> bool:
    """Carry the purge of one tenant as far as it can go; True when the tenant is deleted."""
    with all_tenants():
        tenant = db.session.get(Tenant, tenant_id)
        if tenant is None or tenant.status == TenantStatus.DELETED:
            return False
        stone = db.session.get(Tombstone, tenant_id)
        if stone is None:
            stone = _start(tenant)
        if stone.certificate_sent_at is None:
            _certificate(tenant, stone)
        if stone.files_deleted_at is None:
            stone.counts = {**stone.counts, "files": storage.storage().delete_prefix(storage_prefix(tenant_id))}
            stone.files_deleted_at = clock.now()
            db.session.commit()
        if stone.rows_deleted_at is None:
            _delete_rows(tenant, stone, batch_size, on_batch)
        if stone.keys_destroyed_at is None:
            if not _certificate_delivered(stone):
                log.info("purge of %s waits for its certificate to be delivered before the keys go", tenant_id)
                return False
            _destroy_keys(tenant, stone)
        _finish(tenant, stone)
    return True


def _start(tenant: Tenant) -> Tombstone:
    stone = Tombstone(
        tenant_id=tenant.id, slug_sha256=slug_hash(tenant.slug), tenant_created_at=tenant.created_at,
        cancelled_at=tenant.cancelled_at, deletion_due_at=tenant.deletion_due_at, purge_started_at=clock.now(),
        expedited=_expedited(tenant), counts={"rows": {}},
    )
    db.session.add(stone)
    audit.record("tenant.purge-started", actor_type="system", tenant_id=None, target_type="tenant",
                 target_id=tenant.id)
    db.session.commit()
    return stone


def _expedited(tenant: Tenant) -> bool:
    from tenantry.tenants.lifecycle import deletion_requests

    return deletion_requests.pending(tenant) is not None


def certificate_text(tenant: Tenant, stone: Tombstone, planned: dict[str, Any]) -> str:
    rows = planned["rows"]
    lines = [
        "Certificate of deletion",
        "",
        f"Tenant id: {tenant.id}",
        f"SHA-256 of the workspace address: {stone.slug_sha256}",
        f"Workspace created: {stone.tenant_created_at:%Y-%m-%d %H:%M} UTC",
        f"Cancelled: {stone.cancelled_at:%Y-%m-%d %H:%M} UTC" if stone.cancelled_at else "Cancelled: -",
        f"Deletion due: {stone.deletion_due_at:%Y-%m-%d %H:%M} UTC"
        + (" (expedited on the customer's written request)" if stone.expedited else ""),
        f"Deletion carried out: {stone.purge_started_at:%Y-%m-%d %H:%M} UTC",
        "",
        "What is deleted:",
        f"- {sum(rows.values())} database rows in {len(rows)} tables:",
        *[f"  - {name}: {n}" for name, n in sorted(rows.items())],
        f"- {planned['files']} stored files (exports, backups, imports, attachments)",
        f"- {planned['keys']} encryption key versions, destroyed last (crypto-shredding): any copy of the "
        "data encrypted under them, in backups included, can no longer be decrypted",
        "- the workspace's audit trail (its signed checkpoints, hashes without content, remain)",
        "",
        "What remains: this tombstone (tenant id, the hash above, dates and counts) and the record "
        "of the deletion in our own audit trail. Nothing in it identifies a person.",
    ]
    return "\n".join(lines)


def _certificate(tenant: Tenant, stone: Tombstone) -> None:
    planned = {
        "rows": count_rows(tenant.id),
        "files": sum(1 for _ in storage.storage().list(storage_prefix(tenant.id))),
        "keys": len(keyring.versions(tenant.id, keyring.DATA)) + len(keyring.versions(tenant.id, keyring.INDEX)),
    }
    body = certificate_text(tenant, stone, planned)
    notes = []
    for owner in recipients.owners(tenant):
        # Addressed by e-mail alone and not tied to the tenant or the account: the notice must
        # outlive both, so its delivery can be retried and checked before the keys go.
        notes.append(notify.create("lifecycle.deletion-certificate", to_email=owner.email, tenant_id=None,
                                   subject="Certificate of deletion of your Tenantry workspace", body=body))
    db.session.flush()
    stone.counts = {**stone.counts, "planned": planned, "certificates": [str(n.id) for n in notes]}
    stone.certificate_sent_at = clock.now()
    db.session.commit()
    _certificate_delivered(stone)


def _certificate_delivered(stone: Tombstone) -> bool:
    """Sends what is not sent yet, here and now rather than through the mail queue: the keys
    must not go before the owners have their certificate. A refused send is retried by the
    notices sweep and by the next purge run, which destroys the keys once it has gone."""
    ids = stone.counts.get("certificates", [])
    for note_id in ids:
        notify.deliver(note_id)
    states = db.session.execute(
        sa.select(Notification.delivery_state).where(Notification.id.in_([uuid.UUID(i) for i in ids]))
    ).scalars().all()
    return all(s == "sent" for s in states)


def _bump(stone: Tombstone, key: str, table: str, n: int) -> None:
    counts = dict(stone.counts)
    part = dict(counts.get(key, {}))
    part[table] = part.get(table, 0) + n
    counts[key] = part
    stone.counts = counts
    flag_modified(stone, "counts")


def _delete_rows(tenant: Tenant, stone: Tombstone, batch_size: int, on_batch) -> None:
    if "_accounts" not in stone.counts:
        # Accounts whose only workspace is this one go too; they are known only while the
        # memberships exist, so they are noted before the first membership is deleted.
        member_ids = db.session.execute(
            sa.select(Membership.user_id).where(Membership.tenant_id == tenant.id)).scalars().all()
        stone.counts = {**stone.counts, "_accounts": [str(i) for i in member_ids]}
        db.session.commit()
    batches = 0
    pg = db.session.get_bind().dialect.name == "postgresql"
    for table in tenant_tables():
        while True:
            n = _delete_batch(table, tenant.id, batch_size, pg)
            if not n:
                break
            _bump(stone, "rows", table.name, n)
            db.session.commit()
            batches += 1
            if on_batch is not None:
                on_batch(batches)
    # The audit core's own function removes the tenant's chain (events and head); its signed
    # checkpoints (hashes only) and a platform event recording the removal stay.
    stone.counts = {**stone.counts, "audit_events": audit_retention.purge_tenant_trail(tenant.id)}
    db.session.commit()
    accounts = [uuid.UUID(i) for i in stone.counts.get("_accounts", [])]
    removed = _remove_orphan_accounts(accounts)
    counts = {k: v for k, v in stone.counts.items() if k != "_accounts"}
    counts["accounts"] = counts.get("accounts", 0) + removed
    stone.counts = counts
    stone.rows_deleted_at = clock.now()
    db.session.commit()


def _delete_batch(table: sa.Table, tenant_id: uuid.UUID, batch_size: int, pg: bool) -> int:
    if pg:
        # The application role may not DELETE from append-only tables (incident records, the
        # registry's history); a SECURITY DEFINER function of migration 0016 does, and only
        # for a tenant whose purge has started.
        return db.session.execute(sa.text("SELECT tenantry_purge_batch(:t, :tid, :n)"),
                                  {"t": table.name, "tid": tenant_id, "n": batch_size}).scalar_one()
    pk = list(table.primary_key.columns)
    keys = db.session.execute(sa.select(*pk).where(_where(table, tenant_id)).limit(batch_size)).all()
    if not keys:
        return 0
    db.session.execute(sa.delete(table).where(sa.tuple_(*pk).in_([tuple(k) for k in keys])))
    return len(keys)


def _remove_orphan_accounts(user_ids: list[uuid.UUID]) -> int:
    removed = 0
    for user_id in user_ids:
        still_member = db.session.execute(
            sa.select(sa.func.count()).select_from(Membership).where(Membership.user_id == user_id)
        ).scalar_one()
        if still_member:
            continue
        if db.session.execute(sa.delete(User.__table__).where(User.__table__.c.id == user_id)).rowcount:
            removed += 1
    return removed


def _destroy_keys(tenant: Tenant, stone: Tombstone) -> None:
    # The erased key rows (status destroyed, no key material) stay: they are what stops the
    # keyring from ever silently creating fresh keys for this tenant id.
    destroyed = keyring.destroy(tenant.id)
    stone.counts = {**stone.counts, "keys": destroyed}
    stone.keys_destroyed_at = clock.now()
    db.session.commit()


def _finish(tenant: Tenant, stone: Tombstone) -> None:
    tenant.status = TenantStatus.DELETED.value
    tenant.slug = f"deleted-{tenant.id.hex}"[:63]
    tenant.name = "Deleted workspace"
    tenant.privacy_contact_email = None
    stone.deleted_at = clock.now()
    audit.record("tenant.deleted", actor_type="system", tenant_id=None, target_type="tenant", target_id=tenant.id,
                 details={"rows": sum(stone.counts.get("rows", {}).values()), "files": stone.counts.get("files", 0),
                          "keys": stone.counts.get("keys", 0)})
    db.session.commit()
