"""Everything held about one person [DSR-access]: their contact records (blind-index search by
e-mail, phone and name), the activities and deals linked to them, companies that bear their
name (sole traders), and mentions of their name or e-mail in free text anywhere else (contact
and company notes, activity notes, deal titles).

Free text is ciphertext, so it is decrypted here in batches (keyset pagination, BATCH rows a
query) and matched case- and accent-insensitively on whole words. The same matching drives
redaction on erasure, on the original text: each character is folded on its own, so a match
in the folded text maps back to the exact span of the original.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import sqlalchemy as sa

from tenantry.platform.crypto import fields
from tenantry.platform.db import db
from tenantry.platform.tenancy import current_tenant
from tenantry.tenants.crm import search
from tenantry.tenants.crm.models import COMPANY, CONTACT, Activity, Company, Contact, Deal

BATCH = 500
REDACTED = "[redacted]"
# Where free text lives: (model, column, kind of record).
FREE_TEXT = ((Contact, "notes", "contact"), (Company, "notes", "company"), (Activity, "note", "activity"),
             (Deal, "title", "deal"))


@dataclass
class Terms:
    """What identifies the person: any of a name, an e-mail, a phone (as entered)."""

    name: str = ""
    email: str = ""
    phone: str = ""

    def any(self) -> bool:
        return bool(self.name.strip() or self.email.strip() or self.phone.strip())


@dataclass
class Mention:
    kind: str  # contact, company, activity, deal
    row_id: uuid.UUID
    column: str


@dataclass
class Findings:
    contacts: list[Contact] = field(default_factory=list)
    companies: list[Company] = field(default_factory=list)
    activities: list[Activity] = field(default_factory=list)
    deals: list[Deal] = field(default_factory=list)
    mentions: list[Mention] = field(default_factory=list)

    def ids(self) -> dict[str, list[str]]:
        return {"contacts": [str(c.id) for c in self.contacts], "companies": [str(c.id) for c in self.companies],
                "activities": [str(a.id) for a in self.activities], "deals": [str(d.id) for d in self.deals],
                "mentions": [str(m.row_id) for m in self.mentions]}

    def count(self) -> int:
        return len(self.contacts) + len(self.companies) + len(self.activities) + len(self.deals) + len(self.mentions)


# --- matching free text ------------------------------------------------------------------------


def _folded_with_map(text: str) -> tuple[str, list[int]]:
    """The folded text, and for each of its characters the index of the original one."""
    out, where = [], []
    for i, ch in enumerate(text):
        piece = fields.fold(ch)
        out.append(piece)
        where.extend([i] * len(piece))
    return "".join(out), where


def _patterns(terms: Terms, extra_names: list[str] = ()) -> list[re.Pattern]:
    found: list[re.Pattern] = []
    names = [terms.name, *extra_names]
    for name in names:
        words = fields.name_tokens(name or "")
        if not words:
            continue
        orders = [words] if len(words) != 2 else [words, list(reversed(words))]
        for order in orders:
            body = r"[\s,.]+".join(re.escape(w) for w in order)
            found.append(re.compile(rf"(?<![^\W_]){body}(?![^\W_])"))
    email = fields.fold(terms.email.strip())
    if email:
        found.append(re.compile(rf"(?<![\w.+-]){re.escape(email)}(?![\w-])"))
    return found


def spans(text: str, patterns: list[re.Pattern]) -> list[tuple[int, int]]:
    """Spans of `text` (original indexes) that any pattern matches, merged."""
    if not text or not patterns:
        return []
    folded, where = _folded_with_map(text)
    hits = []
    for pattern in patterns:
        for m in pattern.finditer(folded):
            if m.end() > m.start():
                hits.append((where[m.start()], where[m.end() - 1] + 1))
    hits.sort()
    merged: list[tuple[int, int]] = []
    for start, end in hits:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def redact(text: str, patterns: list[re.Pattern]) -> str:
    out, last = [], 0
    for start, end in spans(text, patterns):
        out.append(text[last:start])
        out.append(REDACTED)
        last = end
    out.append(text[last:])
    return "".join(out)


def _texts(model, column: str, decrypt) -> Iterator[tuple[uuid.UUID, str]]:
    """(row id, decrypted text) of every row with a value, BATCH rows a query, keyset-ordered;
    only the id and the one column are read."""
    table, col, last = model.__tablename__, getattr(model, column), None
    while True:
        stmt = (sa.select(model.id, col).where(model.tenant_id == current_tenant.id, col.is_not(None))
                .order_by(model.id).limit(BATCH))
        if last is not None:
            stmt = stmt.where(model.id > last)
        rows = db.session.execute(stmt).all()
        for row_id, blob in rows:
            yield row_id, decrypt(blob, table, column, str(row_id)) or ""
        if len(rows) < BATCH:
            return
        last = rows[-1][0]


def mentions(terms: Terms, *, extra_names: list[str] = (), skip: dict[str, set[uuid.UUID]] | None = None
             ) -> list[tuple[Mention, object]]:
    """Rows whose free text names the person, with the row, across the tenant. The scan uses
    one key look-up for the whole walk (fields.TenantCipher), not one per value."""

    patterns = _patterns(terms, extra_names)
    if not patterns:
        return []
    skip = skip or {}
    decrypt = fields.TenantCipher(current_tenant.id).decrypt
    found = []
    for model, column, kind in FREE_TEXT:
        hits = [row_id for row_id, value in _texts(model, column, decrypt)
                if row_id not in skip.get(kind, set()) and spans(value, patterns)]
        for row_id in hits:
            found.append((Mention(kind, row_id, column), db.session.get(model, row_id)))
    return found


# --- finding the person ------------------------------------------------------------------------


def _ids(entity: str, query: str) -> set[uuid.UUID]:
    if not query.strip():
        return set()
    return set(db.session.execute(search.matching(entity, query)).scalars())


def candidate_contacts(terms: Terms) -> list[Contact]:
    """Contacts the terms find by blind index (restricted ones included: the request concerns them)."""
    ids = _ids(CONTACT, terms.email) | _ids(CONTACT, terms.phone) | _ids(CONTACT, terms.name)
    if not ids:
        return []
    rows = db.session.execute(sa.select(Contact).where(Contact.id.in_(ids))).scalars().all()
    return sorted(rows, key=lambda c: (str(c.created_at), str(c.id)))


def contact_names(contact: Contact | None) -> list[str]:
    if contact is None:
        return []
    full = " ".join(p for p in (contact.reveal("first_name"), contact.reveal("last_name")) if p)
    return [full] if len(fields.name_tokens(full)) >= 2 else []


def find(terms: Terms, contact: Contact | None) -> Findings:
    """Everything about the person: `contact` is their record once identified."""
    out = Findings()
    out.contacts = [contact] if contact is not None else candidate_contacts(terms)
    contact_ids = [c.id for c in out.contacts]
    if terms.name.strip() and len(fields.name_tokens(terms.name)) >= 2:
        company_ids = _ids(COMPANY, terms.name)
        if company_ids:
            out.companies = list(db.session.execute(
                sa.select(Company).where(Company.id.in_(company_ids)).order_by(Company.id)).scalars())
    if contact_ids:
        out.activities = list(db.session.execute(
            sa.select(Activity).where(Activity.contact_id.in_(contact_ids))
            .order_by(Activity.created_at, Activity.id)).scalars())
        out.deals = list(db.session.execute(
            sa.select(Deal).where(Deal.contact_id.in_(contact_ids)).order_by(Deal.created_at, Deal.id)).scalars())
    skip = {"contact": set(contact_ids), "activity": {a.id for a in out.activities}}
    names = [n for c in out.contacts for n in contact_names(c)]
    out.mentions = [m for m, _row in mentions(_with_email(terms, out.contacts), extra_names=names, skip=skip)]
    return out


def _with_email(terms: Terms, contacts: list[Contact]) -> Terms:
    """The e-mail searched, or the contact's first e-mail when none was given."""
    if terms.email.strip() or not contacts:
        return terms
    emails = contacts[0].reveal("emails")
    return Terms(name=terms.name, email=emails[0] if emails else "", phone=terms.phone)
