"""Contacts that are probably one person, and merging two of them into one.

Found without decrypting anything: two contacts sharing an e-mail or a phone share its
blind-index digest (crm_search_index), so the database groups them. Restricted contacts are
left out [DSR-restrict]; so is a contact with an open data subject request (`GUARDS`), whose
request must be answered for the person as recorded.

A merge keeps one contact (its id, page and links) and folds the other into it: every value
the kept one lacks, every e-mail, phone and tag it does not have, both notes, the custom field
values it lacks; the other's activities and deals move over; an objection to processing
[DSR-object] carries over. The other is then deleted as from its page. All or nothing, in one
transaction, audited as a change of the kept contact plus the other's deletion.

Before a duplicate is made at all: a new contact whose e-mail or phone, or a new company
whose company or VAT ID, is already in the CRM is shown what it matches (`already_there`)
and made only when the user says so, as the CSV import refuses such rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import current_app

from tenantry.platform import audit, clock
from tenantry.platform.crypto import fields
from tenantry.platform.db import db
from tenantry.platform.tenancy import current_tenant

from . import contacts, custom_fields, search, versions
from .companies import CompanyData
from .contacts import ContactData
from .models import COMPANY, CONTACT, Activity, Company, Contact, Deal, SearchIndex

MATCHED_BY = ("email", "phone")
MAX_GROUPS = 20  # one look at the page opens at most ~60 contacts: under the mass-read alert's 200
MAX_IN_GROUP = 3

# app.extensions[GUARDS]: (contact id) -> why the contact may not be merged now, or None.
# subject_requests adds one (crm cannot import it: it imports crm).
GUARDS = "tenantry.contact_merge_guards"


def add_guard(app, guard: Callable[[uuid.UUID], str | None]) -> None:
    app.extensions.setdefault(GUARDS, []).append(guard)


class Refused(Exception):
    """The merge is not done; the message says why, for the page."""


@dataclass
class Group:
    ids: list[uuid.UUID]
    matched_by: set[str]  # "email", "phone"
    more: int = 0  # members beyond MAX_IN_GROUP, not shown


def groups() -> tuple[list[Group], int]:
    """Groups of usable contacts that share an e-mail or a phone, biggest first, at most
    MAX_GROUPS of them; and how many groups there are in all."""
    return grouped(Contact, CONTACT, MATCHED_BY, contacts.visible(), _guarded)


def grouped(model, entity: str, kinds: tuple[str, ...], condition,
            guarded: Callable[[uuid.UUID], str | None] | None = None) -> tuple[list[Group], int]:
    """Groups of `model`'s rows meeting `condition` that share a digest of one of `kinds`
    (rows `guarded` says may not be merged left out), biggest first, at most MAX_GROUPS of them;
    and how many groups there are in all."""
    shared = (sa.select(SearchIndex.kind, SearchIndex.digest)
              .where(SearchIndex.entity == entity, SearchIndex.kind.in_(kinds))
              .group_by(SearchIndex.kind, SearchIndex.digest).having(sa.func.count() > 1).subquery())
    rows = db.session.execute(
        sa.select(SearchIndex.kind, SearchIndex.digest, SearchIndex.row_id, model.created_at)
        .join(shared, sa.and_(shared.c.kind == SearchIndex.kind, shared.c.digest == SearchIndex.digest))
        .join(model, model.id == SearchIndex.row_id)
        .where(SearchIndex.entity == entity, condition)
        .order_by(SearchIndex.row_id)).all()
    # Rows linked through any shared value are one group (union-find over the digests).
    parent: dict[uuid.UUID, uuid.UUID] = {}

    def root(x):
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    by_digest: dict[tuple[str, str], list[uuid.UUID]] = {}
    created = {}
    for kind, digest, row_id, created_at in rows:
        by_digest.setdefault((kind, digest), []).append(row_id)
        created[row_id] = created_at
    matched: dict[uuid.UUID, set[str]] = {}
    for (kind, _digest), ids in by_digest.items():
        if len(ids) < 2:  # the others sharing it are left out by `condition`
            continue
        for other in ids[1:]:
            parent[root(other)] = root(ids[0])
        for row_id in ids:
            matched.setdefault(row_id, set()).add(kind)
    members: dict[uuid.UUID, list[uuid.UUID]] = {}
    for row_id in matched:
        members.setdefault(root(row_id), []).append(row_id)
    blocked = {row_id for row_id in matched if guarded(row_id)} if guarded else set()
    found = []
    for ids in members.values():
        ids = [i for i in ids if i not in blocked]
        if len(ids) > 1:
            ids.sort(key=lambda i: (created[i], str(i)))  # the oldest first: the one a merge keeps unless swapped
            found.append(Group(ids=ids[:MAX_IN_GROUP], more=max(0, len(ids) - MAX_IN_GROUP),
                               matched_by=set().union(*(matched[i] for i in ids))))
    found.sort(key=lambda g: (-(len(g.ids) + g.more), str(g.ids[0])))
    return found[:MAX_GROUPS], len(found)


def of(contact: Contact, limit: int = 3) -> list[tuple[Contact, dict]]:
    """Up to `limit` usable contacts sharing an e-mail or a phone with `contact`, oldest first,
    with their plain values: for its page."""
    return sharing(contact, CONTACT, MATCHED_BY, contacts.visible(), limit)


def sharing(row, entity: str, kinds: tuple[str, ...], condition, limit: int) -> list[tuple[Any, dict]]:
    """Up to `limit` other rows of `row`'s model that meet `condition` and share a digest of
    one of `kinds` with it, oldest first, with their plain values."""
    model = type(row)
    mine = (sa.select(SearchIndex.kind, SearchIndex.digest)
            .where(SearchIndex.entity == entity, SearchIndex.row_id == row.id, SearchIndex.kind.in_(kinds))
            .subquery())
    rows = db.session.execute(
        sa.select(model)
        .where(model.id != row.id, condition, model.id.in_(
            sa.select(SearchIndex.row_id).join(mine, sa.and_(mine.c.kind == SearchIndex.kind,
                                                              mine.c.digest == SearchIndex.digest))
            .where(SearchIndex.entity == entity)))
        .order_by(model.created_at, model.id).limit(limit)).scalars().all()
    return list(zip(rows, model.plain_all(rows), strict=True))


@dataclass
class Match:
    row: Contact | Company
    plain: dict
    matched_by: list[str]  # the index kinds shared: "email", "phone", "company_id"


def already_there(data: ContactData | CompanyData, limit: int = 3) -> list[Match]:
    """Up to `limit` records of the kind `data` would make that share an e-mail or a phone
    (contacts, restricted ones left out) or a company or VAT ID (companies) with it, oldest
    first. Blind-index digests only: nothing else is decrypted."""
    cipher = fields.TenantCipher(current_tenant.id)
    if isinstance(data, ContactData):
        model, entity, visible = Contact, CONTACT, contacts.visible()
        pairs = search.digests(emails=data.emails, phones=data.phones, cipher=cipher)
    else:
        model, entity, visible = Company, COMPANY, sa.true()
        pairs = search.digests(company_ids=[data.company_number, data.vat_id], cipher=cipher)
    if not pairs:
        return []
    hits = db.session.execute(
        sa.select(SearchIndex.row_id, SearchIndex.kind, SearchIndex.digest).where(
            SearchIndex.tenant_id == current_tenant.id, SearchIndex.entity == entity,
            SearchIndex.kind.in_(sorted({kind for kind, _digest in pairs})),
            SearchIndex.digest.in_(sorted({digest for _kind, digest in pairs})))).all()
    kinds: dict[uuid.UUID, set[str]] = {}
    for row_id, kind, digest in hits:
        if (kind, digest) in pairs:
            kinds.setdefault(row_id, set()).add(kind)
    if not kinds:
        return []
    rows = db.session.execute(
        sa.select(model).where(model.id.in_(list(kinds)), visible)
        .order_by(model.created_at, model.id).limit(limit)).scalars().all()
    order = {"email": 0, "phone": 1, "company_id": 2}
    return [Match(row, plain, sorted(kinds[row.id], key=order.__getitem__))
            for row, plain in zip(rows, model.plain_all(rows), strict=True)]


def opened(found: list[Group], model=Contact) -> dict[uuid.UUID, dict]:
    """The plain values of every row shown in `found`, by id."""
    ids = [row_id for group in found for row_id in group.ids]
    if not ids:
        return {}
    rows = db.session.execute(sa.select(model).where(model.id.in_(ids))).scalars().all()
    return {row.id: plain for row, plain in zip(rows, model.plain_all(rows), strict=True)}


def moving(other: Contact) -> dict[str, int]:
    """How many activities and deals a merge moves from `other` to the contact kept."""
    return {name: db.session.execute(sa.select(sa.func.count()).select_from(model).where(
        model.tenant_id == current_tenant.id, model.contact_id == other.id)).scalar_one()
        for name, model in (("activities", Activity), ("deals", Deal))}


def _guarded(contact_id: uuid.UUID) -> str | None:
    for guard in current_app.extensions.get(GUARDS, []):
        reason = guard(contact_id)
        if reason:
            return reason
    return None


def mergeable(keep: Contact, other: Contact) -> None:
    """Refused with the reason when these two may not be merged now."""
    if keep.id == other.id:
        raise Refused("Choose two different contacts to merge.")
    for contact in (keep, other):
        if contact.restricted_at is not None:
            raise Refused(contacts.RESTRICTED)
        reason = _guarded(contact.id)
        if reason:
            raise Refused(reason)
    withheld = set(custom_fields.values_of(other.id)) - set(custom_fields.values_of(keep.id)) \
        - {d.id for d in custom_fields.usable()}
    if withheld:
        # A special-category value withheld since the agreement for it ended: moving it would
        # process it, and deleting the other contact would lose it.
        raise Refused("The contact merged away holds special-category values that are withheld while no agreement "
                      "covers them: merge once the operator has recorded one, or delete that field with its values "
                      "first.")


def merged_data(keep: Contact, a: dict, other: Contact, b: dict) -> ContactData:
    """What the kept contact holds after the merge: its own values first, the other's where it
    has none, lists joined without repeats, both notes. `a`, `b`: their plain values."""

    def first(column: str) -> str:
        return a[column] or b[column]

    def joined(column: str, key=str.casefold) -> list[str]:
        seen, out = set(), []
        for value in [*a[column], *b[column]]:
            if key(value) not in seen:
                seen.add(key(value))
                out.append(value)
        return out

    return ContactData(first_name=first("first_name"), last_name=first("last_name"),
                       emails=joined("emails"), phones=joined("phones", key=str), address=first("address"),
                       company_id=keep.company_id or other.company_id, position=first("position"),
                       notes=both_notes(a["notes"], b["notes"]),
                       tags=joined("tags", key=lambda t: contacts.normal_tag(t) or t))


def both_notes(kept: str, other: str) -> str:
    """The kept record's notes, then the other's when they say something else."""
    return kept if other in ("", kept) else "\n\n".join(n for n in (kept, other) if n)


def lock_pair(keep, other, lock, other_version: int | None) -> None:
    """Both rows of a merge locked, in one order (two merges of one pair cannot deadlock), and
    `other` still as the page showed it (EditConflict otherwise; `keep` is checked as it is
    written)."""
    for row in sorted((keep, other), key=lambda r: str(r.id)):
        lock(row)
    versions.expect(other, other_version)


def merge(keep: Contact, other: Contact, *, actor=None, keep_version: int | None = None,
          other_version: int | None = None) -> Contact:
    """Fold `other` into `keep` (see the module); both as the page showed them (their versions),
    else EditConflict."""
    mergeable(keep, other)
    lock_pair(keep, other, contacts.lock, other_version)
    data = merged_data(keep, keep.plain(), other, other.plain())
    wanted = custom_fields.values_of(other.id)
    have = custom_fields.values_of(keep.id)
    lacking = {field_id: value for field_id, value in wanted.items() if not have.get(field_id)}
    contacts.update(keep, data, actor=actor, version=keep_version)
    if lacking:  # none withheld (mergeable)
        custom_fields.save(keep, {**have, **lacking}, only=custom_fields.usable(), actor=actor)
    if other.objected_at is not None and keep.objected_at is None:
        keep.objected_at = other.objected_at
    now = clock.now()
    moved_activities = db.session.execute(
        sa.update(Activity).where(Activity.tenant_id == current_tenant.id, Activity.contact_id == other.id)
        .values(contact_id=keep.id, version=Activity.version + 1)).rowcount
    moved_deals = db.session.execute(
        sa.update(Deal).where(Deal.tenant_id == current_tenant.id, Deal.contact_id == other.id)
        .values(contact_id=keep.id, updated_at=now, version=Deal.version + 1)).rowcount
    contacts.delete(other, actor=actor, version=other.version)
    audit.record("crm.contact.merged", actor=actor, tenant_id=keep.tenant_id, target_type="contact",
                 target_id=keep.id, details={"merged_contact_id": str(other.id), "activities_moved": moved_activities,
                                             "deals_moved": moved_deals})
    return keep
