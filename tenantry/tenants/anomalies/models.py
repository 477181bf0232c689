"""Anomaly alerts: per-tenant thresholds, the alerts raised, and what the rules remember.

A tenant's alerts and settings are tenant-owned. The IPs a person has signed in from, and the
alerts about staff accounts, belong to accounts that live above any one tenant, so they are
platform rows.
"""

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


class Rule(enum.StrEnum):
    MASS_READ = "mass_read"
    EXPORT = "export"
    NEW_IP = "new_ip"
    FAILED_LOGINS = "failed_logins"
    API_VOLUME = "api_volume"


RULE_LABELS = {
    Rule.MASS_READ: "Many contacts read in a short time",
    Rule.EXPORT: "Bulk export by a member who is not an owner or admin",
    Rule.NEW_IP: "Sign-in from a new IP address",
    Rule.FAILED_LOGINS: "Repeated failed sign-ins or two-factor codes",
    Rule.API_VOLUME: "API client far above its usual volume",
}

_RULES_SQL = ", ".join(f"'{r.value}'" for r in Rule)


class AlertSettings(TenantScoped, db.Model):
    """One row per tenant once its admins save thresholds (or a rule first locks it)."""

    __tablename__ = "anomaly_settings"

    mass_read_enabled: Mapped[bool] = mapped_column(default=True)
    # "More than N distinct contacts within 10 minutes" by one person.
    mass_read_threshold: Mapped[int] = mapped_column(default=200)
    export_enabled: Mapped[bool] = mapped_column(default=True)
    new_ip_enabled: Mapped[bool] = mapped_column(default=True)
    failed_logins_enabled: Mapped[bool] = mapped_column(default=True)
    # "N or more failed sign-ins or two-factor codes within 15 minutes".
    failed_logins_threshold: Mapped[int] = mapped_column(default=5)
    api_volume_enabled: Mapped[bool] = mapped_column(default=True)
    api_volume_multiplier: Mapped[int] = mapped_column(default=10)
    # A client's usual hourly volume is never taken as lower than this, so a new client's first
    # handful of requests is not "ten times" anything.
    api_volume_min_baseline: Mapped[int] = mapped_column(default=20)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)

    __table_args__ = (
        sa.PrimaryKeyConstraint("tenant_id"),
        sa.CheckConstraint("mass_read_threshold >= 1", name="mass_read_threshold"),
        sa.CheckConstraint("failed_logins_threshold >= 2", name="failed_logins_threshold"),
        sa.CheckConstraint("api_volume_multiplier >= 2", name="api_volume_multiplier"),
        sa.CheckConstraint("api_volume_min_baseline >= 1", name="api_volume_min_baseline"),
    )


class Alert(TenantScoped, db.Model):
    """One alert per burst: later events of the same rule and subject within the rule's window
    extend it (last_seen_at, observed) instead of raising another."""

    __tablename__ = "anomaly_alerts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    rule: Mapped[str] = mapped_column(sa.String(16))
    # Who the alert is about: a member ("user"), a staff member under a support grant ("staff")
    # or an API client ("api_client"); ids only.
    subject_type: Mapped[str] = mapped_column(sa.String(12))
    subject_id: Mapped[str] = mapped_column(sa.String(64))
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    observed: Mapped[int]
    threshold: Mapped[int]
    events: Mapped[int] = mapped_column(default=1)
    # Shown to the tenant's owners only (e.g. the new IP address); never on the staff dashboard.
    details: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    status: Mapped[str] = mapped_column(sa.String(10), default="open")
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    resolved_at: Mapped[datetime | None]
    resolved_by_user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        sa.CheckConstraint(f"rule in ({_RULES_SQL})", name="rule"),
        sa.CheckConstraint("status in ('open', 'resolved')", name="status"),
        sa.Index("ix_anomaly_alerts_burst", "tenant_id", "rule", "subject_id", "last_seen_at"),
        sa.Index("ix_anomaly_alerts_status", "status", "created_at"),
    )

    @property
    def label(self) -> str:
        return RULE_LABELS[Rule(self.rule)]


class StaffAlert(db.Model):
    """Platform-level alerts about staff accounts (failed sign-ins, new IPs): the operator's own."""

    __tablename__ = "staff_security_alerts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    rule: Mapped[str] = mapped_column(sa.String(16))
    staff_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    observed: Mapped[int]
    threshold: Mapped[int]
    events: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(sa.String(10), default="open")
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    resolved_at: Mapped[datetime | None]
    resolved_by_staff_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("staff_users.id", ondelete="SET NULL"))

    __table_args__ = (
        sa.CheckConstraint("rule in ('new_ip', 'failed_logins')", name="rule"),
        sa.CheckConstraint("status in ('open', 'resolved')", name="status"),
    )

    @property
    def label(self) -> str:
        return RULE_LABELS[Rule(self.rule)]


class LoginIP(db.Model):
    """The addresses an account has signed in from (the newest ones; see rules.MAX_IPS)."""

    __tablename__ = "login_ips"

    principal_type: Mapped[str] = mapped_column(sa.String(8))
    principal_id: Mapped[uuid.UUID]
    ip: Mapped[str] = mapped_column(sa.String(45))
    first_seen_at: Mapped[datetime] = mapped_column(default=clock.now)
    last_seen_at: Mapped[datetime] = mapped_column(default=clock.now)

    __table_args__ = (
        sa.PrimaryKeyConstraint("principal_type", "principal_id", "ip"),
        sa.CheckConstraint("principal_type in ('user', 'staff')", name="principal_type"),
    )


class ApiUsageHour(TenantScoped, db.Model):
    """Requests per API client per clock hour: the baseline of the volume rule."""

    __tablename__ = "api_usage_hours"

    client_id: Mapped[str] = mapped_column(sa.String(64))
    hour_start: Mapped[datetime]
    requests: Mapped[int] = mapped_column(default=0)

    __table_args__ = (sa.PrimaryKeyConstraint("tenant_id", "client_id", "hour_start"),)
