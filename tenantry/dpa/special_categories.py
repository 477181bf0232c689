"""Explicit agreements to process special categories of personal data [DPA-A.special, DPA-5.3].

The agreement covers contact data only (DPA-A.scope). Health, religion, union membership and
the other GDPR art. 9 categories need an explicit prior agreement, recorded here by staff:
who signed it for the controller, when, its reference or document, the categories and
purpose it covers, and its revocation. A tenant may mark a custom field as special-category
data only while an agreement is active.

Staff record these (the operator's console); the tenant's settings page shows whether one
exists. The rows are the operator's evidence, so they hold no data about the tenant's
contacts, only about the agreement itself.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.platform import audit, clock
from tenantry.platform.db import db, new_id
from tenantry.platform.tenancy import TenantScoped

# GDPR art. 9(1), in the order the article names them.
CATEGORIES = {
    "racial_ethnic": "Racial or ethnic origin",
    "political": "Political opinions",
    "religious": "Religious or philosophical beliefs",
    "union": "Trade union membership",
    "genetic": "Genetic data",
    "biometric": "Biometric data for identification",
    "health": "Health",
    "sex_life": "Sex life or sexual orientation",
}


class AgreementError(ValueError):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class SpecialCategoryAgreement(TenantScoped, db.Model):
    __tablename__ = "special_category_agreements"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    reference: Mapped[str] = mapped_column(sa.String(200))
    # The controller's signatory ("Jana Nováková, managing director"): a party to the contract.
    signed_by: Mapped[str] = mapped_column(sa.String(200))
    signed_on: Mapped[date]
    categories: Mapped[list] = mapped_column(sa.JSON)
    scope: Mapped[str] = mapped_column(sa.Text)
    recorded_by_staff_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("staff_users.id", ondelete="SET NULL"))
    recorded_at: Mapped[datetime] = mapped_column(default=clock.now)
    revoked_at: Mapped[datetime | None]
    revoked_by_staff_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("staff_users.id", ondelete="SET NULL"))
    revocation_reason: Mapped[str | None] = mapped_column(sa.Text)

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        sa.CheckConstraint("(revoked_at IS NULL) = (revocation_reason IS NULL)", name="revocation_complete"),
    )

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def category_labels(self) -> list[str]:
        return [CATEGORIES.get(c, c) for c in self.categories or []]


@dataclass
class AgreementData:
    reference: str
    signed_by: str
    signed_on: date
    categories: list[str]
    scope: str


def for_tenant(tenant_id: uuid.UUID) -> list[SpecialCategoryAgreement]:
    """Newest first, revoked ones included: the history is the evidence."""
    return list(db.session.execute(
        sa.select(SpecialCategoryAgreement).where(SpecialCategoryAgreement.tenant_id == tenant_id)
        .order_by(SpecialCategoryAgreement.recorded_at.desc(), SpecialCategoryAgreement.id)
    ).scalars())


def active(tenant_id: uuid.UUID) -> SpecialCategoryAgreement | None:
    return db.session.execute(
        sa.select(SpecialCategoryAgreement).where(SpecialCategoryAgreement.tenant_id == tenant_id,
                                                  SpecialCategoryAgreement.revoked_at.is_(None))
        .order_by(SpecialCategoryAgreement.recorded_at.desc()).limit(1)
    ).scalar_one_or_none()


def get(tenant_id: uuid.UUID, agreement_id: uuid.UUID) -> SpecialCategoryAgreement | None:
    return db.session.execute(
        sa.select(SpecialCategoryAgreement).where(SpecialCategoryAgreement.tenant_id == tenant_id,
                                                  SpecialCategoryAgreement.id == agreement_id)
    ).scalar_one_or_none()


def record(tenant_id: uuid.UUID, data: AgreementData, *, staff) -> SpecialCategoryAgreement:
    unknown = [c for c in data.categories if c not in CATEGORIES]
    if not data.categories or unknown:
        raise AgreementError("Choose the special categories the agreement covers.", "categories")
    if data.signed_on > clock.now().date():
        raise AgreementError("An agreement cannot be signed in the future: record it once it is signed.",
                             "signed_on")
    agreement = SpecialCategoryAgreement(
        id=new_id(), tenant_id=tenant_id, reference=data.reference, signed_by=data.signed_by,
        signed_on=data.signed_on, categories=list(dict.fromkeys(data.categories)), scope=data.scope,
        recorded_by_staff_id=staff.id, recorded_at=clock.now())
    db.session.add(agreement)
    db.session.flush()
    audit.record("dpa.special_categories.recorded", actor=staff, tenant_id=tenant_id,
                 target_type="special_category_agreement", target_id=agreement.id,
                 details={"categories": agreement.categories})
    return agreement


def carry(agreement: SpecialCategoryAgreement, tenant_id: uuid.UUID) -> SpecialCategoryAgreement:
    """A copy of `agreement` for `tenant_id`, a restore of the same workspace: the same
    controller under the same signed agreement, so its special-category fields keep working.
    Who recorded the original stays its recorder; the trail says where the copy came from."""
    copy = SpecialCategoryAgreement(
        id=new_id(), tenant_id=tenant_id, reference=agreement.reference, signed_by=agreement.signed_by,
        signed_on=agreement.signed_on, categories=list(agreement.categories), scope=agreement.scope,
        recorded_by_staff_id=agreement.recorded_by_staff_id, recorded_at=clock.now())
    db.session.add(copy)
    db.session.flush()
    audit.record("dpa.special_categories.carried", actor_type="system", tenant_id=tenant_id,
                 target_type="special_category_agreement", target_id=copy.id,
                 details={"categories": copy.categories, "from_tenant_id": str(agreement.tenant_id),
                          "from_agreement_id": str(agreement.id)})
    return copy


def revoke(agreement: SpecialCategoryAgreement, reason: str, *, staff) -> None:
    if agreement.revoked_at is not None:
        raise AgreementError("This agreement was already revoked.")
    agreement.revoked_at = clock.now()
    agreement.revoked_by_staff_id = staff.id
    agreement.revocation_reason = reason
    db.session.flush()
    audit.record("dpa.special_categories.revoked", actor=staff, tenant_id=agreement.tenant_id,
                 target_type="special_category_agreement", target_id=agreement.id)
