"""Merging two deals that are one (entered twice, by two people or by an import), chosen from
the deal's page with "Merge with…".

A merge keeps one deal (its id, page, title, value, currency and stage: what the pipeline
counts stays as the kept deal says) and takes from the other what it lacks: the expected close
date, the contact, the company and the owner. The other's activities move over, and the other
is then deleted as from its page. All or nothing, in one transaction under both row locks,
audited as a change of the kept deal, the other's deletion, and the merge itself. A deal whose
contact is restricted is not merged [DSR-restrict]: its link may not be moved or dropped.
"""

from __future__ import annotations

import sqlalchemy as sa

from tenantry.platform import audit
from tenantry.platform.db import db
from tenantry.platform.tenancy import current_tenant

from . import assignments, contacts, deals
from .deals import DealData
from .duplicates import Refused, lock_pair
from .models import Activity, Deal


def moving(other: Deal) -> dict[str, int]:
    """How many activities a merge moves from `other` to the deal kept."""
    return {"activities": db.session.execute(sa.select(sa.func.count()).select_from(Activity).where(
        Activity.tenant_id == current_tenant.id, Activity.deal_id == other.id)).scalar_one()}


def mergeable(keep: Deal, other: Deal) -> None:
    """Refused with the reason when these two may not be merged now."""
    if keep.id == other.id:
        raise Refused("Choose two different deals to merge.")
    for deal in (keep, other):
        contact = contacts.get(deal.contact_id) if deal.contact_id else None
        if contact is not None and contact.restricted_at is not None:
            raise Refused("A deal whose contact is restricted cannot be merged while a data subject request "
                          "restricts that contact.")


def merged_data(keep: Deal, keep_title: str, other: Deal) -> DealData:
    """What the kept deal holds after the merge: all of its own, and the other's expected close
    date, contact, company and owner where it has none."""
    return DealData(title=keep_title, value=keep.value, currency=keep.currency, stage_id=keep.stage_id,
                    expected_close=keep.expected_close or other.expected_close,
                    contact_id=keep.contact_id or other.contact_id, company_id=keep.company_id or other.company_id,
                    # the other's owner only while they can own a deal (not deactivated since)
                    owner_id=keep.owner_id or (other.owner_id if other.owner_id and deals.is_member(other.owner_id)
                                               else None),
                    # the kept deal's stage stays, and with it its reason and its chance (the other's
                    # were for its own stage)
                    lost_reason_id=keep.lost_reason_id, probability=keep.probability)


def merge(keep: Deal, other: Deal, *, actor=None, keep_version: int | None = None,
          other_version: int | None = None) -> Deal:
    """Fold `other` into `keep` (see the module); both as the page showed them (their versions),
    else EditConflict."""
    mergeable(keep, other)
    lock_pair(keep, other, deals.lock, other_version)
    owner_before = keep.owner_id
    try:
        deals.update(keep, merged_data(keep, keep.reveal("title"), other), actor=actor, version=keep_version)
    except deals.Refused as exc:  # what the kept deal would hold is refused: the merge with it
        raise Refused(f"The merged deal cannot be saved: {exc}") from exc
    if owner_before is None and keep.owner_id is not None:
        assignments.withdraw(keep)  # the other deal's owner: they had this deal already, as that one
    moved = db.session.execute(
        sa.update(Activity).where(Activity.tenant_id == current_tenant.id, Activity.deal_id == other.id)
        .values(deal_id=keep.id, version=Activity.version + 1)).rowcount
    deals.delete(other, actor=actor, version=other.version)  # its activities are the kept deal's now
    audit.record("crm.deal.merged", actor=actor, tenant_id=keep.tenant_id, target_type="deal", target_id=keep.id,
                 details={"merged_deal_id": str(other.id), "activities_moved": moved})
    return keep
