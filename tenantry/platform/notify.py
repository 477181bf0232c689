"""Notices to people: a database row first, an e-mail second.

A notice is created in the caller's transaction; after commit a `mail` job delivers it. A
failed or interrupted send leaves the row `failed` (or `pending`), and the sweep sends it
again. Redis or SMTP being down delays a notice; it never loses one.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.platform import audit, clock, jobs, mail
from tenantry.platform.crypto.sealing import seal, unseal_text
from tenantry.platform.db import db, new_id

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8


class Notification(db.Model):
    __tablename__ = "notifications"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    staff_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(40), index=True)
    to_email: Mapped[str | None] = mapped_column(sa.String(254))
    subject: Mapped[str] = mapped_column(sa.String(200))
    body_sealed: Mapped[bytes] = mapped_column(sa.LargeBinary)
    in_app: Mapped[bool] = mapped_column(default=False)
    requires_ack: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    read_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by_user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    # Delivery of the e-mail: none (in-app only), pending, sent or failed.
    delivery_state: Mapped[str] = mapped_column(sa.String(10), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_attempt_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    sent_at: Mapped[datetime | None]
    message_id: Mapped[str | None] = mapped_column(sa.String(200))

    @property
    def body(self) -> str:
        return unseal_text(self.body_sealed, f"notifications.body:{self.id}")


def create(
    kind: str,
    *,
    subject: str,
    body: str,
    to_email: str | None = None,
    recipient=None,
    tenant_id: uuid.UUID | None = None,
    in_app: bool = False,
    email: bool = True,
    requires_ack: bool = False,
) -> Notification:
    """Record a notice and queue its e-mail for after the current transaction commits."""
    if recipient is not None and to_email is None:
        to_email = recipient.email
    if email and not to_email:
        raise ValueError("an e-mailed notice needs an address")
    note = Notification(
        id=new_id(),
        kind=kind,
        subject=subject[:200],
        to_email=to_email,
        tenant_id=tenant_id,
        in_app=in_app,
        requires_ack=requires_ack,
        delivery_state="pending" if email else "none",
    )
    if recipient is not None:
        if recipient.is_staff:
            note.staff_id = recipient.id
        else:
            note.user_id = recipient.id
    note.body_sealed = seal(body, f"notifications.body:{note.id}")
    db.session.add(note)
    if email:
        jobs.enqueue("mail", "tenantry.platform.notify:deliver", notification_id=str(note.id), tenant_id=None)
    return note


def _backoff(attempts: int) -> timedelta:
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 60))


def deliver(notification_id: str) -> str:
    """Send one notice's e-mail. Idempotent: a notice already sent is not sent again."""
    note = db.session.execute(
        sa.select(Notification).where(Notification.id == uuid.UUID(notification_id)).with_for_update()
    ).scalar_one_or_none()
    if note is None or note.delivery_state in ("sent", "none"):
        return "skipped"
    now = clock.now()
    try:
        message_id = mail.send(note.to_email, note.subject, note.body, message_key=str(note.id))
    except mail.MailError as exc:
        _attempt_failed(note, str(exc))
        return "failed"
    note.attempts += 1
    note.last_attempt_at = now
    note.message_id = message_id
    note.delivery_state = "sent"
    note.sent_at = now
    note.last_error = None
    note.next_attempt_at = None
    db.session.commit()
    return "sent"


def retry_due(limit: int = 200, now: datetime | None = None) -> int:
    """The sweep's part: re-send failed notices whose back-off has passed, and stale pending ones."""
    now = now or clock.now()
    stale = now - timedelta(minutes=5)
    rows = db.session.execute(
        sa.select(Notification.id)
        .where(
            sa.or_(
                sa.and_(Notification.delivery_state == "failed", Notification.next_attempt_at <= now),
                sa.and_(Notification.delivery_state == "pending", Notification.created_at <= stale),
            ),
            Notification.attempts < MAX_ATTEMPTS,
        )
        .order_by(Notification.created_at)
        .limit(limit)
    ).scalars().all()
    db.session.commit()
    sent = 0
    for note_id in rows:
        # One notice that fails in a way nobody foresaw must not hold back every other
        # tenant's behind it (the oldest go first, so it would stand first every time).
        try:
            if deliver(str(note_id)) == "sent":
                sent += 1
        except Exception:
            db.session.rollback()
            log.exception("notice %s: delivery failed unexpectedly; the others go on", note_id)
            _count_failed_attempt(note_id)
    return sent


def _count_failed_attempt(note_id) -> None:
    """An attempt that failed outside mail.MailError still counts, so a notice that can never
    go out reaches MAX_ATTEMPTS and stops being retried instead of blocking the sweep."""
    note = db.session.get(Notification, note_id)
    if note is not None and note.delivery_state not in ("sent", "none"):
        _attempt_failed(note, "delivery failed unexpectedly (see the log)")


def _attempt_failed(note: Notification, error: str) -> None:
    now = clock.now()
    note.attempts += 1
    note.last_attempt_at = now
    note.delivery_state = "failed"
    note.last_error = error[:500]
    note.next_attempt_at = now + _backoff(note.attempts)
    db.session.commit()


def in_app_for(principal, *, unread_only: bool = False) -> list[Notification]:
    column = Notification.staff_id if principal.is_staff else Notification.user_id
    query = sa.select(Notification).where(column == principal.id, Notification.in_app.is_(True))
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    return list(db.session.execute(query.order_by(Notification.created_at.desc())).scalars())


def acknowledge(note: Notification, user) -> None:
    if note.acknowledged_at is None:
        note.acknowledged_at = clock.now()
        note.acknowledged_by_user_id = None if user.is_staff else user.id
    if note.read_at is None:
        note.read_at = note.acknowledged_at


def mark_read(note: Notification) -> bool:
    """True when this call is the first reading (the caller commits)."""
    if note.read_at is not None:
        return False
    note.read_at = clock.now()
    return True


def acknowledge_recorded(note: Notification, principal) -> bool:
    """A person's explicit acknowledgement of one in-app notice, audited the first time only."""
    first = note.acknowledged_at is None
    acknowledge(note, principal)
    if first:
        audit.record("notice.acknowledged", actor=principal, tenant_id=note.tenant_id,
                     target_type="notification", target_id=note.id, details={"kind": note.kind})
    return first
