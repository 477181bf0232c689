"""Companies: create, change, delete, find and list, over encrypted rows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from tenantry.platform import audit, clock
from tenantry.platform.crypto import fields
from tenantry.platform.db import by_id, db
from tenantry.platform.tenancy import current_tenant

from . import name_order, search, versions
from .models import COMPANY, Company, Contact

PAGE_SIZE = 25
SORTS = ("name", "-name", "newest", "oldest")


@dataclass
class CompanyData:
    """Validated, normalised values (forms.CompanyForm.data_for_service makes them)."""

    name: str
    country: str
    company_number: str = ""
    vat_id: str = ""
    address: str = ""
    iban: str = ""
    website: str = ""
    notes: str = ""

    def sealed(self) -> dict[str, str]:
        return {c: getattr(self, c) for c in Company.ENCRYPTED}


def get(company_id: uuid.UUID) -> Company | None:
    # The ORM adds the current tenant to every query: another tenant's id finds nothing.
    return by_id(Company, company_id)


def _write(company: Company, data: CompanyData, *, new: bool = False) -> dict:
    company.country = data.country
    cipher = fields.TenantCipher(company.tenant_id)
    sealed = company.seal_all(data.sealed(), cipher)
    company.updated_at = clock.now()
    if new:  # one instant, not the defaults' later one at flush: never updated before created
        company.created_at = company.changed_at = company.updated_at
    search.replace(COMPANY, company.id, new=new, pairs=index_pairs(data.sealed(), cipher))
    return sealed


def index_pairs(values: dict, cipher: fields.TenantCipher) -> set[tuple[str, str]]:
    """The blind-index digests of a company's plain values."""
    return search.digests(company_ids=[values["company_number"], values["vat_id"]], names=[values["name"]],
                          cipher=cipher)


def create(data: CompanyData, *, actor=None) -> Company:
    company = Company(id=uuid.uuid4(), tenant_id=current_tenant.id)
    sealed = _write(company, data, new=True)
    db.session.add(company)
    db.session.flush()
    audit.record("crm.company.created", actor=actor, tenant_id=company.tenant_id, target_type="company",
                 target_id=company.id, changes=audit.diff(None, company.snapshot(sealed)))
    return company


def update(company: Company, data: CompanyData, *, actor=None, version: int | None = None) -> Company:
    with versions.checked(company, version):
        before = company.snapshot()
        sealed = _write(company, data)
        db.session.flush()
    audit.record("crm.company.updated", actor=actor, tenant_id=company.tenant_id, target_type="company",
                 target_id=company.id, changes=audit.diff(before, company.snapshot(sealed)))
    return company


def lock(company: Company) -> None:
    """Take the company's row lock before its digests', the order index_builds.rebuild uses."""
    db.session.execute(sa.select(Company.id).where(Company.id == company.id).with_for_update())


class HoldsRestricted(ValueError):
    """The company has a contact whose processing a data subject request restricts."""


def restricted_contacts(company_id: uuid.UUID) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(Contact).where(
        Contact.tenant_id == current_tenant.id, Contact.company_id == company_id,
        Contact.restricted_at.is_not(None))).scalar_one()


def delete(company: Company, *, actor=None, version: int | None = None) -> int:
    """Delete the company; its contacts and deals stay, without a company, and its activities
    go. Returns how many contacts were detached. Refused (HoldsRestricted) while one of its
    contacts is restricted: taking the company off it is a change the restriction forbids
    [DSR-restrict], as company_merge refuses to move it."""
    from . import activities, deals

    held = restricted_contacts(company.id)
    if held:
        raise HoldsRestricted(
            f"{held} contact{'s' if held != 1 else ''} of this company {'are' if held != 1 else 'is'} restricted by a "
            "data subject request, and deleting the company would change "
            f"{'them' if held != 1 else 'it'}: delete it once the restriction is lifted.")
    with versions.checked(company, version):
        before = company.snapshot()
        activities.delete_of("company", company.id)
        deals.detach(company_id=company.id)
        detached = db.session.execute(
            sa.update(Contact).where(Contact.tenant_id == company.tenant_id, Contact.company_id == company.id)
            .values(company_id=None, updated_at=clock.now(), version=Contact.version + 1)
        ).rowcount
        search.drop(COMPANY, company.id)
        db.session.delete(company)
        db.session.flush()
    audit.record("crm.company.deleted", actor=actor, tenant_id=company.tenant_id, target_type="company",
                 target_id=company.id, details={"contacts_detached": detached}, changes=audit.diff(before, None))
    return detached


def count(tenant_id: uuid.UUID) -> int:
    return db.session.execute(
        sa.select(sa.func.count()).select_from(Company).where(Company.tenant_id == tenant_id)).scalar_one()


def choices() -> list[tuple[str, str]]:
    """(id, name) of every company, by name, for a select (pickers: while the tenant has few).
    Decrypts every company name of the tenant on each call."""
    named = [(str(company_id), name or "") for company_id, (name,) in
             name_order.names(Company, sa.select(Company.id), ("name",))]
    return sorted(named, key=lambda pair: (fields.fold(pair[1]), pair[0]))


@dataclass
class Page:
    items: list[tuple[Company, dict, int]]  # company, its plaintext, number of contacts
    total: int
    page: int
    pages: int


def listing(*, q: str = "", has_contacts: str = "", sort: str = "name", page: int = 1,
            page_size: int = PAGE_SIZE) -> Page:
    """One page of the tenant's companies.

    Sorting by name cannot happen in SQL (the names are ciphertext), so every name of the
    matching set is decrypted and sorted here: one AES-GCM open per matching company per
    request, linear in the tenant's size (roughly 20k companies in well under a second).
    "newest"/"oldest" sort in SQL and decrypt only the page shown.
    """
    tid = current_tenant.id
    # Explicit although the ORM scopes them too: these end up as subqueries.
    # Restricted contacts [DSR-restrict] are kept but not used: they count for nothing here.
    with_contacts = sa.select(Contact.company_id).where(Contact.tenant_id == tid, Contact.company_id.is_not(None),
                                                        Contact.restricted_at.is_(None))
    stmt = sa.select(Company.id).where(Company.tenant_id == tid)
    if q.strip():
        stmt = stmt.where(Company.id.in_(search.matching(COMPANY, q)))
    if has_contacts == "yes":
        stmt = stmt.where(Company.id.in_(with_contacts))
    elif has_contacts == "no":
        stmt = stmt.where(Company.id.not_in(with_contacts))
    sort = sort if sort in SORTS else "name"
    if sort in ("name", "-name"):
        ordered = name_order.sorted_ids(Company, stmt, ("name",), reverse=sort == "-name")
        total = len(ordered)
        page, pages = _clamp(page, total, page_size)
        chosen = name_order.rows_of(Company, ordered[(page - 1) * page_size: page * page_size])
    else:
        total = db.session.execute(sa.select(sa.func.count()).select_from(stmt.subquery())).scalar_one()
        page, pages = _clamp(page, total, page_size)
        order = Company.created_at.desc() if sort == "newest" else Company.created_at.asc()
        chosen = db.session.execute(
            sa.select(Company).where(Company.id.in_(stmt)).order_by(order, Company.id)
            .limit(page_size).offset((page - 1) * page_size)).scalars().all()
    counts = dict(db.session.execute(
        sa.select(Contact.company_id, sa.func.count()).where(Contact.company_id.in_([c.id for c in chosen]),
                                                             Contact.restricted_at.is_(None))
        .group_by(Contact.company_id)).all()) if chosen else {}
    return Page([(c, plain, counts.get(c.id, 0)) for c, plain in zip(chosen, Company.plain_all(chosen), strict=True)],
                total, page, pages)


def _clamp(page: int, total: int, page_size: int = PAGE_SIZE) -> tuple[int, int]:
    pages = max(1, -(-total // page_size))
    return min(max(1, page), pages), pages
