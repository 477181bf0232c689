"""Retention rules of a tenant [TT-retention], the runs of the sweep that applies them, and the
mark an anonymised CRM row keeps so that no rule anonymises it twice.

Everything here is ids, counts, dates and the rule's own settings: no personal data.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.platform import clock
from tenantry.platform.db import db, new_id
from tenantry.platform.tenancy import TenantScoped

CONTACT, COMPANY, DEAL, ACTIVITY = "contact", "company", "deal", "activity"
ENTITIES = (ACTIVITY, DEAL, CONTACT, COMPANY)  # the order the sweep applies rules in

# condition -> (entity, label with "N" for the months)
CONDITIONS: dict[str, tuple[str, str]] = {
    "contact_inactive": (CONTACT, "Contacts with no activity for N months"),
    "company_inactive": (COMPANY, "Companies without contacts and with no activity for N months"),
    "deal_closed": (DEAL, "Deals won or lost and unchanged for N months"),
    "deal_created": (DEAL, "Deals created more than N months ago, whatever their stage"),
    "activity_created": (ACTIVITY, "Activities recorded more than N months ago (and not due since)"),
}
DELETE, ANONYMISE = "delete", "anonymise"
ACTIONS = {DELETE: "Delete", ANONYMISE: "Anonymise"}
MIN_MONTHS, MAX_MONTHS = 1, 240

_CONDITIONS_SQL = ", ".join(f"'{c}'" for c in CONDITIONS)
_ENTITIES_SQL = ", ".join(f"'{e}'" for e in ENTITIES)


class RetentionRule(TenantScoped, db.Model):
    __tablename__ = "retention_rules"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    entity: Mapped[str] = mapped_column(sa.String(10))
    condition: Mapped[str] = mapped_column(sa.String(20))
    months: Mapped[int]
    action: Mapped[str] = mapped_column(sa.String(10))
    enabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        # One rule per condition and action: "anonymise after 24 months, delete after 60" is two.
        sa.UniqueConstraint("tenant_id", "condition", "action"),
        sa.CheckConstraint(f"months >= {MIN_MONTHS} and months <= {MAX_MONTHS}", name="months"),
        sa.CheckConstraint("action in ('delete', 'anonymise')", name="action"),
        sa.CheckConstraint(f"entity in ({_ENTITIES_SQL})", name="entity"),
        sa.CheckConstraint(f"condition in ({_CONDITIONS_SQL})", name="condition"),
    )

    @property
    def label(self) -> str:
        return describe(self.condition, self.months)

    @property
    def action_label(self) -> str:
        return ACTIONS.get(self.action, self.action)


def describe(condition: str, months: int) -> str:
    label = CONDITIONS[condition][1]
    return label.replace("N months", f"{months} month{'s' if months != 1 else ''}")


class RetentionRun(TenantScoped, db.Model):
    """One application of a tenant's rules by the sweep. `running` until every due row is done; a
    sweep killed half-way leaves it running and the next sweep carries it on. `counts` holds, per
    rule id, the rule's settings and how many rows it deleted or anonymised."""

    __tablename__ = "retention_runs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    status: Mapped[str] = mapped_column(sa.String(10), default="running")
    as_of: Mapped[datetime]
    started_at: Mapped[datetime] = mapped_column(default=clock.now)
    finished_at: Mapped[datetime | None]
    deleted: Mapped[int] = mapped_column(default=0)
    anonymised: Mapped[int] = mapped_column(default=0)
    counts: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        sa.CheckConstraint("status in ('running', 'done')", name="status"),
        sa.Index("ix_retention_runs_tenant_started", "tenant_id", "started_at"),
    )


class AnonymisedRow(TenantScoped, db.Model):
    """A CRM row a rule anonymised, when, and the row's `updated_at` then. A row changed since (a
    person typed new data into it) is no longer taken as anonymised."""

    __tablename__ = "retention_anonymised"

    entity: Mapped[str] = mapped_column(sa.String(10))
    row_id: Mapped[uuid.UUID]
    anonymised_at: Mapped[datetime]
    row_updated_at: Mapped[datetime]
    rule_id: Mapped[uuid.UUID | None]

    __table_args__ = (
        sa.PrimaryKeyConstraint("tenant_id", "entity", "row_id"),
        sa.CheckConstraint(f"entity in ({_ENTITIES_SQL})", name="entity"),
    )
