"""Retention of the audit trail: each tenant keeps its events `audit_retention_days` (400 by
default, never fewer than 30), then whole old segments go.

A segment is everything up to a signed checkpoint whose events are all past retention. The
chain's head keeps that checkpoint's seq and hash as its anchor, and verification starts
there, so a pruned chain still verifies. On PostgreSQL the application role cannot DELETE
audit events at all: pruning goes through `audit_prune(chain, seq)`, a SECURITY DEFINER
function (migration 0012) that itself refuses anything but a recorded checkpoint whose
events are all older than the tenant's retention by the database's own clock.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa

from tenantry.platform import audit_chain, clock
from tenantry.platform.audit_chain import AuditHead
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant

log = logging.getLogger(__name__)

MIN_DAYS = 30
DEFAULT_DAYS = 400
MAX_DAYS = 3650


class RetentionError(ValueError):
    pass


def validate_days(days: int) -> int:
    if days is None or not MIN_DAYS <= int(days) <= MAX_DAYS:
        raise RetentionError(f"Audit events are kept between {MIN_DAYS} and {MAX_DAYS} days.")
    return int(days)


def retention_days(tenant: Tenant) -> int:
    return max(MIN_DAYS, tenant.audit_retention_days or DEFAULT_DAYS)


def _events():
    from tenantry.platform.audit import AuditEvent

    return AuditEvent.__table__


def prunable_checkpoint(tenant: Tenant, as_of: datetime):
    """The newest checkpoint past the anchor up to which every event is past retention."""
    from tenantry.platform.audit_checkpoints import AuditCheckpoint

    chain = audit_chain.chain_of(tenant.id)
    events = _events()
    cutoff = as_of - timedelta(days=retention_days(tenant))
    head = db.session.get(AuditHead, chain)
    anchor = (head.pruned_seq or 0) if head else 0
    first_young = db.session.execute(
        sa.select(sa.func.min(events.c.seq)).where(events.c.chain == chain, events.c.occurred_at >= cutoff)
    ).scalar()
    stmt = sa.select(AuditCheckpoint).where(AuditCheckpoint.chain == chain, AuditCheckpoint.seq > anchor)
    if first_young is not None:
        stmt = stmt.where(AuditCheckpoint.seq < first_young)
    return db.session.execute(stmt.order_by(AuditCheckpoint.seq.desc()).limit(1)).scalar()


def prune_tenant_chain(tenant_id: uuid.UUID, *, as_of: datetime | None = None) -> int:
    """Remove the tenant's oldest events that are past retention, up to a checkpoint; returns
    how many went. The caller commits."""
    as_of = min(as_of or clock.now(), clock.now())
    tenant = db.session.get(Tenant, tenant_id)
    if tenant is None:
        return 0
    checkpoint = prunable_checkpoint(tenant, as_of)
    if checkpoint is None:
        return 0
    chain = checkpoint.chain
    if db.session.get_bind().dialect.name == "postgresql":
        removed = db.session.execute(sa.text("SELECT audit_prune(:chain, :seq)"),
                                     {"chain": chain, "seq": checkpoint.seq}).scalar_one()
    else:
        events = _events()
        removed = db.session.execute(
            events.delete().where(events.c.chain == chain, events.c.seq <= checkpoint.seq)).rowcount
        db.session.execute(sa.update(AuditHead).where(AuditHead.chain == chain)
                           .values(pruned_seq=checkpoint.seq, pruned_hash=checkpoint.hash))
    db.session.expire_all()
    log.info("audit chain %s pruned up to seq %s (%s events)", chain, checkpoint.seq, removed)
    return int(removed or 0)


def run(as_of: datetime | None = None) -> int:
    """The sweep step: prune every tenant's chain; one tenant's failure does not stop the rest."""
    removed = 0
    for tenant_id in db.session.execute(sa.select(Tenant.id)).scalars().all():
        try:
            with db.session.begin_nested():
                removed += prune_tenant_chain(tenant_id, as_of=as_of)
        except sa.exc.SQLAlchemyError:
            log.exception("pruning the audit chain of tenant %s failed", tenant_id)
    return removed


def purge_tenant_trail(tenant_id: uuid.UUID) -> int:
    """For the final deletion of a tenant (status no longer active): remove all of its audit
    events and its chain head. Its signed checkpoints stay (ids and hashes only) as proof of
    what existed; a platform event records the purge. Returns how many events went; the
    caller commits."""
    from tenantry.platform import audit

    tenant = db.session.get(Tenant, tenant_id)
    if tenant is None:
        return 0
    if tenant.is_active:
        raise RetentionError("an active tenant's audit trail is not purged")
    chain = audit_chain.chain_of(tenant_id)
    head = db.session.get(AuditHead, chain)
    last = (head.seq, head.hash) if head else (0, audit_chain.GENESIS)
    if db.session.get_bind().dialect.name == "postgresql":
        removed = db.session.execute(sa.text("SELECT audit_purge_tenant(:tenant)"),
                                     {"tenant": str(tenant_id)}).scalar_one()
    else:
        events = _events()
        removed = db.session.execute(events.delete().where(events.c.chain == chain)).rowcount
        db.session.execute(sa.delete(AuditHead).where(AuditHead.chain == chain))
    db.session.expire_all()
    audit.record("audit.tenant_trail_purged", actor_type="system", target_type="tenant", target_id=tenant_id,
                 details={"events": int(removed or 0), "last_seq": last[0], "last_hash": last[1]})
    return int(removed or 0)
