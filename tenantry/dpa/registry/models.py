"""The subprocessor registry [DPA-4.8, DPA-6.1]: the subprocessors, their change log, each
tenant's notice and status for each proposal, and the tenants' objections."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.platform import clock
from tenantry.platform.db import db, new_id
from tenantry.platform.tenancy import TenantScoped


class Status(enum.StrEnum):
    PROPOSED = "proposed"
    ACTIVE = "active"
    RETIRED = "retired"


class Transfer(enum.StrEnum):
    EEA = "eea"
    ADEQUACY = "adequacy"
    SCCS = "sccs"
    DPF = "dpf"


TRANSFER_LABELS = {
    Transfer.EEA: "Within the EEA (no transfer)",
    Transfer.ADEQUACY: "Adequacy decision",
    Transfer.SCCS: "Standard contractual clauses",
    Transfer.DPF: "EU-US Data Privacy Framework",
}


class TenantStatus(enum.StrEnum):
    """Where a proposed subprocessor stands for one tenant."""

    NOTIFIED = "notified"  # notice sent; the objection window is open, or has not started yet
    OBJECTED = "objected"  # an objection awaits the operator's resolution
    ACTIVE = "active"  # the window closed without objection and the effective date passed
    EXEMPTED = "exempted"  # the operator exempted the tenant: the feature stays off for it
    CANCELLING = "cancelling"  # the tenant objected and chose to cancel; the feature stays off
    WITHDRAWN = "withdrawn"  # the operator withdrew the change


class Resolution(enum.StrEnum):
    WITHDRAWN = "withdrawn"
    EXEMPTED = "exempted"
    TENANT_CANCELS = "tenant_cancels"


def _in(values) -> str:
    return ", ".join(f"'{v.value}'" for v in values)


class Subprocessor(db.Model):
    __tablename__ = "subprocessors"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    legal_name: Mapped[str] = mapped_column(sa.String(200))
    address: Mapped[str] = mapped_column(sa.String(400))
    contact: Mapped[str] = mapped_column(sa.String(254))
    purpose: Mapped[str] = mapped_column(sa.String(400))
    data_categories: Mapped[str] = mapped_column(sa.String(400))
    processing_location: Mapped[str] = mapped_column(sa.String(200))
    processing_in_eea: Mapped[bool]
    corporate_location: Mapped[str] = mapped_column(sa.String(200))
    corporate_in_eea: Mapped[bool]
    transfer_mechanism: Mapped[str] = mapped_column(sa.String(10))
    transfer_details: Mapped[str] = mapped_column(sa.String(400), default="")
    # The product feature that needs it; an exempted tenant has this feature switched off.
    feature: Mapped[str] = mapped_column(sa.String(40), index=True)
    status: Mapped[str] = mapped_column(sa.String(10), default=Status.PROPOSED.value)
    objection_window_days: Mapped[int] = mapped_column(default=5)
    proposed_at: Mapped[datetime] = mapped_column(default=clock.now)
    effective_at: Mapped[datetime]
    activated_at: Mapped[datetime | None]
    retired_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)

    __table_args__ = (
        sa.CheckConstraint(f"status in ({_in(Status)})", name="status"),
        sa.CheckConstraint(f"transfer_mechanism in ({_in(Transfer)})", name="transfer_mechanism"),
        # DPA-6.1: outside the EEA, "no transfer" is not a mechanism.
        sa.CheckConstraint("(processing_in_eea AND corporate_in_eea) OR transfer_mechanism <> 'eea'",
                           name="transfer_outside_eea"),
        sa.CheckConstraint("objection_window_days BETWEEN 1 AND 90", name="objection_window_days"),
    )

    @property
    def outside_eea(self) -> bool:
        return not (self.processing_in_eea and self.corporate_in_eea)

    @property
    def transfer_label(self) -> str:
        return TRANSFER_LABELS[Transfer(self.transfer_mechanism)]

    def snapshot(self) -> dict[str, Any]:
        """The public state of the entry, as the change log and the feeds show it."""
        def iso(value):
            return value.isoformat() if value else None

        return {
            "id": str(self.id), "legal_name": self.legal_name, "address": self.address, "contact": self.contact,
            "purpose": self.purpose, "data_categories": self.data_categories,
            "processing_location": self.processing_location, "processing_in_eea": self.processing_in_eea,
            "corporate_location": self.corporate_location, "corporate_in_eea": self.corporate_in_eea,
            "transfer_mechanism": self.transfer_mechanism, "transfer_details": self.transfer_details,
            "feature": self.feature, "status": self.status, "objection_window_days": self.objection_window_days,
            "proposed_at": iso(self.proposed_at), "effective_at": iso(self.effective_at),
            "activated_at": iso(self.activated_at), "retired_at": iso(self.retired_at),
            "withdrawn_at": iso(self.withdrawn_at),
        }


class SubprocessorChange(db.Model):
    """The public change log: one row per change, with the entry's state after it. Append-only."""

    __tablename__ = "subprocessor_changes"

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    subprocessor_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("subprocessors.id"), index=True)
    occurred_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    action: Mapped[str] = mapped_column(sa.String(20))
    state: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    staff_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("staff_users.id", ondelete="SET NULL"))

    subprocessor = db.relationship(Subprocessor, lazy="joined")


class TenantSubprocessor(TenantScoped, db.Model):
    """One tenant's notice of one proposed subprocessor and where the proposal stands for it.

    The objection deadline counts from the moment the tenant's notice was delivered (the first
    owner's e-mail sent), so it is empty until then: an undelivered notice has not started its window.
    """

    __tablename__ = "tenant_subprocessors"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    subprocessor_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("subprocessors.id"), index=True)
    status: Mapped[str] = mapped_column(sa.String(12), default=TenantStatus.NOTIFIED.value)
    notified_at: Mapped[datetime] = mapped_column(default=clock.now)
    window_days: Mapped[int]
    delivered_at: Mapped[datetime | None]
    objection_deadline: Mapped[datetime | None]
    active_since: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        sa.UniqueConstraint("tenant_id", "subprocessor_id"),
        sa.CheckConstraint(f"status in ({_in(TenantStatus)})", name="status"),
    )

    subprocessor = db.relationship(Subprocessor, lazy="joined")


class SubprocessorNoticeMessage(TenantScoped, db.Model):
    """Which notifications (one per owner) carried a tenant's notice: their delivery is its delivery."""

    __tablename__ = "subprocessor_notice_messages"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_subprocessor_id: Mapped[uuid.UUID]
    # No foreign key: notifications carry a nullable tenant_id without a (tenant_id, id) key, so
    # a composite reference is impossible and a single-column one would cross the tenant rule.
    notification_id: Mapped[uuid.UUID] = mapped_column(index=True)

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        sa.ForeignKeyConstraint(["tenant_id", "tenant_subprocessor_id"],
                                ["tenant_subprocessors.tenant_id", "tenant_subprocessors.id"], ondelete="CASCADE"),
    )


class Objection(TenantScoped, db.Model):
    __tablename__ = "subprocessor_objections"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_subprocessor_id: Mapped[uuid.UUID]
    subprocessor_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("subprocessors.id"), index=True)
    reason: Mapped[str] = mapped_column(sa.Text)
    objected_at: Mapped[datetime] = mapped_column(default=clock.now)
    objected_by_user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    resolution: Mapped[str | None] = mapped_column(sa.String(16))
    resolution_note: Mapped[str | None] = mapped_column(sa.Text)
    resolved_at: Mapped[datetime | None]
    resolved_by_staff_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("staff_users.id", ondelete="SET NULL"))

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        # One objection per tenant and proposal; it is resolved, not repeated.
        sa.UniqueConstraint("tenant_id", "tenant_subprocessor_id"),
        sa.ForeignKeyConstraint(["tenant_id", "tenant_subprocessor_id"],
                                ["tenant_subprocessors.tenant_id", "tenant_subprocessors.id"], ondelete="CASCADE"),
        sa.CheckConstraint(f"resolution IS NULL OR resolution in ({_in(Resolution)})", name="resolution"),
    )

    subprocessor = db.relationship(Subprocessor, lazy="joined")
