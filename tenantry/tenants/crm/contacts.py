"""Contacts: create, change, delete, find and list, over encrypted rows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa

from tenantry.platform import audit, clock
from tenantry.platform.crypto import fields
from tenantry.platform.db import by_id, db
from tenantry.platform.tenancy import current_tenant

from . import name_order, search, versions
from .models import CONTACT, Contact

PAGE_SIZE = 25
MAX_TAG = 100
SORTS = ("name", "-name", "newest", "oldest")


class UnknownCompany(ValueError):
    """The chosen company is not one of this tenant's (deleted meanwhile, or never was)."""


# A restricted contact [DSR-restrict] is kept but not used: left out of every list, search and
# list export, and refused to edits, until the data subject request that restricted it lifts it.
RESTRICTED = ("This contact's processing is restricted by a data subject request: it is kept, but cannot be "
              "changed, used or exported until the restriction is lifted.")


def visible():
    """The condition every list and search of contacts adds: not restricted."""
    return Contact.restricted_at.is_(None)


def found(query: str) -> sa.Select:
    """A select of the ids of the contacts `query` finds that may be used: not restricted. For
    what is found through its contact (deals, activities)."""
    return sa.select(Contact.id).where(Contact.id.in_(search.matching(CONTACT, query)), visible())


def tagged(tag: str):
    """The condition for contacts carrying `tag`: whole, ignoring case, accents and spacing."""
    from . import index_builds

    try:
        wanted = fields.normalise_tag(tag)
    except ValueError:  # nothing left once folded: no contact carries such a tag
        return sa.false()
    if index_builds.is_current(current_tenant.id, index_builds.TAGS):
        return Contact.id.in_(search.tagged(CONTACT, wanted))
    # Contacts saved before tags were indexed have no tag digests until the sweep has rebuilt
    # the tenant's index, so until then the tags are decrypted: slower, never incomplete.
    rows = db.session.execute(sa.select(Contact).where(Contact.tenant_id == current_tenant.id)).scalars().all()
    return Contact.id.in_([c.id for c in rows if wanted in _normal_tags(c.reveal("tags") or [])])


def _normal_tags(tags: list[str]) -> set[str]:
    return {normal for normal in map(normal_tag, tags) if normal is not None}


def normal_tag(tag: str) -> str | None:
    """The tag as the tag filter matches it (ignoring case, accents and spacing); None for one
    with nothing left once folded, which no filter finds."""
    try:
        return fields.normalise_tag(tag)
    except ValueError:
        return None


@dataclass
class ContactData:
    """Validated, normalised values: phones as E.164 (forms.ContactForm.data_for_service)."""

    first_name: str = ""
    last_name: str = ""
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    address: str = ""
    company_id: uuid.UUID | None = None
    position: str = ""
    notes: str = ""
    tags: list[str] = field(default_factory=list)


def get(contact_id: uuid.UUID) -> Contact | None:
    return by_id(Contact, contact_id)


def display_name(plain: dict) -> str:
    return " ".join(part for part in (plain.get("first_name"), plain.get("last_name")) if part) or "(no name)"


def _write(contact: Contact, data: ContactData, *, new: bool = False) -> dict:
    from . import companies

    if data.company_id is not None and companies.get(data.company_id) is None:
        raise UnknownCompany("Choose one of this workspace's companies.")
    contact.company_id = data.company_id
    cipher = fields.TenantCipher(contact.tenant_id)
    values = {column: getattr(data, column) for column in Contact.ENCRYPTED}
    sealed = contact.seal_all(values, cipher)
    contact.updated_at = clock.now()
    if new:  # one instant, not the defaults' later one at flush: never updated before created
        contact.created_at = contact.changed_at = contact.updated_at
    # An existing row's UPDATE is autoflushed by replace()'s DELETE, so the contact's row lock
    # comes before its digests' (as in index_builds.rebuild): no deadlock with a rebuild.
    search.replace(CONTACT, contact.id, new=new, pairs=index_pairs(values, cipher))
    return sealed


def index_pairs(values: dict, cipher: fields.TenantCipher) -> set[tuple[str, str]]:
    """The blind-index digests of a contact's plain values (its ENCRYPTED columns)."""
    return search.digests(emails=values["emails"], phones=values["phones"], tags=values["tags"],
                          names=[values["first_name"], values["last_name"]], cipher=cipher)


def lock(contact: Contact) -> None:
    """Take the contact's row lock before its digests', the order index_builds.rebuild uses."""
    db.session.execute(sa.select(Contact.id).where(Contact.id == contact.id).with_for_update())


def create(data: ContactData, *, actor=None) -> Contact:
    contact = Contact(id=uuid.uuid4(), tenant_id=current_tenant.id)
    sealed = _write(contact, data, new=True)
    db.session.add(contact)
    db.session.flush()
    audit.record("crm.contact.created", actor=actor, tenant_id=contact.tenant_id, target_type="contact",
                 target_id=contact.id, changes=audit.diff(None, contact.snapshot(sealed)))
    return contact


def update(contact: Contact, data: ContactData, *, actor=None, version: int | None = None) -> Contact:
    with versions.checked(contact, version):
        before = contact.snapshot()
        sealed = _write(contact, data)
        db.session.flush()
    audit.record("crm.contact.updated", actor=actor, tenant_id=contact.tenant_id, target_type="contact",
                 target_id=contact.id, changes=audit.diff(before, contact.snapshot(sealed)))
    return contact


def delete(contact: Contact, *, actor=None, version: int | None = None) -> None:
    from . import activities, deals

    with versions.checked(contact, version):
        before = contact.snapshot()
        lock(contact)
        activities.delete_of("contact", contact.id)
        deals.detach(contact_id=contact.id)
        search.drop(CONTACT, contact.id)
        db.session.delete(contact)
        db.session.flush()
    audit.record("crm.contact.deleted", actor=actor, tenant_id=contact.tenant_id, target_type="contact",
                 target_id=contact.id, changes=audit.diff(before, None))


def count(tenant_id: uuid.UUID) -> int:
    return db.session.execute(
        sa.select(sa.func.count()).select_from(Contact).where(Contact.tenant_id == tenant_id)).scalar_one()


def of_company(company_id: uuid.UUID) -> list[tuple[Contact, dict]]:
    rows = db.session.execute(sa.select(Contact).where(Contact.company_id == company_id, visible())).scalars().all()
    return sorted(zip(rows, Contact.plain_all(rows), strict=True), key=lambda pair: _name_key(pair[1]) + (str(pair[0].id),))


def choices() -> list[tuple[str, str]]:
    """(id, display name) of every contact that is not restricted, by name, for a select
    (pickers: while the tenant has few); decrypts each one's names, like companies.choices()."""
    named = name_order.names(Contact, sa.select(Contact.id).where(visible()), ("first_name", "last_name"))
    return sorted(((str(contact_id), display_name({"first_name": first, "last_name": last}))
                   for contact_id, (first, last) in named), key=lambda p: (p[1].lower(), p[0]))


def _name_key(plain: dict) -> tuple[str, str]:
    return fields.fold(plain.get("last_name") or ""), fields.fold(plain.get("first_name") or "")


@dataclass
class Page:
    items: list[tuple[Contact, dict]]
    total: int
    page: int
    pages: int


def listing(*, q: str = "", company_id: uuid.UUID | None = None, tag: str = "", sort: str = "name",
            page: int = 1, page_size: int = PAGE_SIZE, bulk: bool = False, custom=None) -> Page:
    """One page of the tenant's contacts.

    Sorting by name decrypts the two name columns of every matching contact and sorts here
    (name_order): the names are ciphertext, so SQL cannot order them. That is one AES-GCM open
    per name per request, linear in the matching set (a search or company filter keeps it
    small); the page itself is then decrypted in full. "newest"/"oldest" sort in SQL and
    decrypt only the page shown.

    Restricted contacts are never listed; `bulk` (list exports) also leaves out those who
    objected to processing [DSR-object]. `custom`: a condition on a custom field's value
    (custom_fields.value_filter).
    """
    # Explicit although the ORM scopes it too: the count below wraps this in a subquery.
    stmt = sa.select(Contact).where(Contact.tenant_id == current_tenant.id, visible())
    if bulk:
        stmt = stmt.where(Contact.objected_at.is_(None))
    if q.strip():
        stmt = stmt.where(Contact.id.in_(search.matching(CONTACT, q)))
    if company_id is not None:
        stmt = stmt.where(Contact.company_id == company_id)
    if tag.strip():
        stmt = stmt.where(tagged(tag))
    if custom is not None:
        stmt = stmt.where(custom)
    sort = sort if sort in SORTS else "name"
    if sort in ("name", "-name"):
        ordered = name_order.sorted_ids(Contact, stmt, ("last_name", "first_name"), reverse=sort == "-name")
        total = len(ordered)
        page, pages = _clamp(page, total, page_size)
        chosen = name_order.rows_of(Contact, ordered[(page - 1) * page_size: page * page_size])
    else:
        total = db.session.execute(sa.select(sa.func.count()).select_from(stmt.subquery())).scalar_one()
        page, pages = _clamp(page, total, page_size)
        order = Contact.created_at.desc() if sort == "newest" else Contact.created_at.asc()
        chosen = db.session.execute(
            stmt.order_by(order, Contact.id).limit(page_size).offset((page - 1) * page_size)).scalars().all()
    return Page(list(zip(chosen, Contact.plain_all(chosen), strict=True)), total, page, pages)


def _clamp(page: int, total: int, page_size: int = PAGE_SIZE) -> tuple[int, int]:
    pages = max(1, -(-total // page_size))
    return min(max(1, page), pages), pages
