"""Companies that are probably one, and merging two of them into one.

Two companies with the same company or VAT ID share its blind-index digest, so the database
finds them without decrypting anything (duplicates.sharing). A merge keeps one company (its
id, page and links) and folds the other into it: every value the kept one lacks and both
notes; the other's contacts, deals and activities move over. The other is then deleted as
from its page. All or nothing, in one transaction, audited as a change of the kept company,
the other's deletion, and the merge itself.
"""

from __future__ import annotations

import sqlalchemy as sa

from tenantry.platform import audit, clock
from tenantry.platform.db import db
from tenantry.platform.tenancy import current_tenant

from . import companies
from .companies import CompanyData
from .duplicates import Group, Refused, both_notes, grouped, lock_pair, sharing
from .models import COMPANY, Activity, Company, Contact, Deal

MATCHED_BY = ("company_id",)  # the company number and the VAT ID share the kind


def groups() -> tuple[list[Group], int]:
    """Groups of companies that share a company or VAT ID, biggest first (duplicates.grouped)."""
    return grouped(Company, COMPANY, MATCHED_BY, sa.true())


def of(company: Company, limit: int = 3) -> list[tuple[Company, dict]]:
    """Up to `limit` companies with a company or VAT ID of `company`, oldest first, with their
    plain values: for its page."""
    return sharing(company, COMPANY, MATCHED_BY, sa.true(), limit)


def moving(other: Company) -> dict[str, int]:
    """How many contacts, deals and activities a merge moves from `other` to the company kept."""
    return {name: db.session.execute(sa.select(sa.func.count()).select_from(model).where(
        model.tenant_id == current_tenant.id, model.company_id == other.id)).scalar_one()
        for name, model in (("contacts", Contact), ("deals", Deal), ("activities", Activity))}


def mergeable(keep: Company, other: Company) -> None:
    """Refused with the reason when these two may not be merged now."""
    if keep.id == other.id:
        raise Refused("Choose two different companies to merge.")
    # A merge moves the other's contacts to the kept company: a change a restricted contact may
    # not undergo while the request restricts it [DSR-restrict], as deal_merge refuses too.
    restricted = companies.restricted_contacts(other.id)
    if restricted:
        raise Refused(f"{restricted} contact{'s' if restricted != 1 else ''} of the company merged away "
                      f"{'are' if restricted != 1 else 'is'} restricted by a data subject request, and a merge "
                      "would move them: merge once the restriction is lifted.")


def merged_data(keep: Company, a: dict, other: Company, b: dict) -> CompanyData:
    """What the kept company holds after the merge: its own values first, the other's where it
    has none, both notes; its name and country stay. `a`, `b`: their plain values."""

    def first(column: str) -> str:
        return a[column] or b[column]

    return CompanyData(name=a["name"], country=keep.country, company_number=first("company_number"),
                       vat_id=first("vat_id"), address=first("address"), iban=first("iban"),
                       website=first("website"), notes=both_notes(a["notes"], b["notes"]))


def merge(keep: Company, other: Company, *, actor=None, keep_version: int | None = None,
          other_version: int | None = None) -> Company:
    """Fold `other` into `keep` (see the module); both as the page showed them (their versions),
    else EditConflict."""
    mergeable(keep, other)
    lock_pair(keep, other, companies.lock, other_version)
    companies.update(keep, merged_data(keep, keep.plain(), other, other.plain()), actor=actor, version=keep_version)
    now = clock.now()
    moved = {}
    for name, model, values in (
            ("contacts", Contact, {"updated_at": now, "version": Contact.version + 1}),
            ("deals", Deal, {"updated_at": now, "version": Deal.version + 1}),
            ("activities", Activity, {"version": Activity.version + 1})):
        moved[name] = db.session.execute(
            sa.update(model).where(model.tenant_id == current_tenant.id, model.company_id == other.id)
            .values(company_id=keep.id, **values)).rowcount
    companies.delete(other, actor=actor, version=other.version)  # nothing left to detach
    audit.record("crm.company.merged", actor=actor, tenant_id=keep.tenant_id, target_type="company",
                 target_id=keep.id, details={"merged_company_id": str(other.id),
                                             **{f"{name}_moved": n for name, n in moved.items()}})
    return keep
