"""The audit trail: who did what, when, from where, and how it ended.

This is the first cut: one row per event, written in the same transaction as the change it
records, never holding personal data in plaintext (records are referred to by id). Each
event is a link of its chain (tenant or platform, see audit_chain): `seq` and `hash` are set
at flush. On PostgreSQL the application role may only SELECT and INSERT here.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import has_request_context, request
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.platform import audit_chain, clock
from tenantry.platform.db import db


class AuditEvent(db.Model):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    # NULL for platform-level events (staff sign-in, publishing); otherwise the tenant concerned.
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    occurred_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    actor_type: Mapped[str] = mapped_column(sa.String(12))
    actor_id: Mapped[str | None] = mapped_column(sa.String(64))
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    target_type: Mapped[str | None] = mapped_column(sa.String(40))
    target_id: Mapped[str | None] = mapped_column(sa.String(64))
    outcome: Mapped[str] = mapped_column(sa.String(10), default="success")
    ip: Mapped[str | None] = mapped_column(sa.String(45))
    user_agent: Mapped[str | None] = mapped_column(sa.String(400))
    details: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    chain: Mapped[str] = mapped_column(sa.String(40))
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    hash: Mapped[str] = mapped_column(sa.String(64))

    __table_args__ = (sa.UniqueConstraint("chain", "seq"),)


audit_chain.install(AuditEvent)


def client_ip() -> str | None:
    return request.remote_addr if has_request_context() else None


def record(
    action: str,
    *,
    actor=None,
    actor_type: str | None = None,
    tenant_id: uuid.UUID | None = None,
    target_type: str | None = None,
    target_id: Any = None,
    outcome: str = "success",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an event to the current transaction; it commits (or rolls back) with the change."""
    if actor is not None and actor_type is None:
        # An API client (or any other principal) names its own kind; people are users or staff.
        actor_type = getattr(actor, "audit_actor_type", None) or (
            "staff" if getattr(actor, "is_staff", False) else "user")
    event = AuditEvent(
        tenant_id=tenant_id,
        actor_type=actor_type or ("anonymous" if has_request_context() else "system"),
        actor_id=str(actor.id) if actor is not None else None,
        action=action,
        target_type=target_type,
        target_id=str(target_id) if target_id is not None else None,
        outcome=outcome,
        ip=client_ip(),
        user_agent=(request.user_agent.string[:400] if has_request_context() else None),
        details=details,
    )
    db.session.add(event)
    audit_chain.remember(db.session(), event)
    return event


def record_read(
    action: str,
    *,
    target_type: str,
    target_ids: list[Any],
    actor=None,
    actor_type: str | None = None,
    tenant_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent | None:
    """One event for a read of personal data: a detail page (one id) or a list/search/export
    page (the ids shown). Ids only, never values, so the anomaly rules can count distinct
    records per person without the trail holding personal data."""
    ids = [str(i) for i in target_ids]
    payload = dict(details or {})
    payload["ids"] = ids
    return record(action, actor=actor, actor_type=actor_type, tenant_id=tenant_id, target_type=target_type,
                  target_id=ids[0] if len(ids) == 1 else None, details=payload)
