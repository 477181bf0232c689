"""The data processing agreement: its published versions and each tenant's acceptances."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.platform import clock
from tenantry.platform.db import db, new_id
from tenantry.platform.tenancy import TenantScoped


class AgreementVersion(db.Model):
    __tablename__ = "agreement_versions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    version: Mapped[int] = mapped_column(unique=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    body_markdown: Mapped[str] = mapped_column(sa.Text)
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    sha256: Mapped[str] = mapped_column(sa.String(64))
    published_at: Mapped[datetime] = mapped_column(default=clock.now)
    effective_at: Mapped[datetime]
    published_by_staff_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("staff_users.id", ondelete="SET NULL")
    )


class AgreementAcceptance(TenantScoped, db.Model):
    """Who accepted which version for the tenant, when and from where [DPA-2.8]."""

    __tablename__ = "agreement_acceptances"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    agreement_version_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("agreement_versions.id"))
    user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    # Kept even if the account is later removed: the record of who accepted must outlive it.
    accepted_by_email: Mapped[str] = mapped_column(sa.String(254))
    accepted_at: Mapped[datetime] = mapped_column(default=clock.now)
    ip: Mapped[str | None] = mapped_column(sa.String(45))
    user_agent: Mapped[str | None] = mapped_column(sa.String(400))

    __table_args__ = (sa.UniqueConstraint("tenant_id", "id"),)

    version = db.relationship(AgreementVersion, lazy="joined")
