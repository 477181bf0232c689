"""Exact-match search over encrypted rows through blind indexes.

A query is tried as each kind of value at once: an e-mail, a phone (parsed with the tenant's
country as the default region, so "601 234 567" finds "+420601234567"), a company ID, and
the words of a name (every word must match; each word is case- and accent-insensitive); a
whole e-mail address only as an e-mail. Only whole values and whole words match: the digests cannot answer prefixes.
Tags are indexed whole, for the contact list's tag filter (`tagged`), not for the search box.
"""

from __future__ import annotations

import contextlib
import re
import uuid

import phonenumbers
import sqlalchemy as sa
from stdnum.cz import dic as stdnum_cz_dic

from tenantry.platform.crypto import fields
from tenantry.platform.db import db, is_postgres
from tenantry.platform.tenancy import current_tenant

from .models import SearchIndex

MAX_QUERY_WORDS = 8
_ADDRESS = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
# A Czech legal person's VAT ID (DIČ) is "CZ" and its IČO; a natural person's has 9 or 10 digits.
_CZ_LEGAL_VAT = re.compile(r"CZ(\d{8})")


def e164(raw: str, region: str | None = None) -> str | None:
    """The number as E.164, or None when it is not a valid phone number."""
    try:
        number = phonenumbers.parse(raw, region or current_tenant.country)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def readable_phone(stored: str) -> str:
    """A stored E.164 number as people read it: grouped, with its country code (+420 601 123
    456); as stored when it cannot be parsed. Only for showing: links (tel:), exports and the
    API keep E.164."""
    try:
        number = phonenumbers.parse(stored, None)
    except phonenumbers.NumberParseException:
        return stored
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def company_id_values(*values: str) -> list[str]:
    """The company and VAT IDs given (blank ones left out), and the IČO inside a Czech legal
    person's VAT ID: so "CZ25596641" and "25596641" find each other, in search and among
    duplicates, whichever of the two a record holds."""
    out = []
    for value in values:
        if value and value.strip():
            out.append(value)
            inner = _CZ_LEGAL_VAT.fullmatch(fields.normalise("company_id", value))
            if inner:
                out.append(inner.group(1))
    return list(dict.fromkeys(out))


def digests(*, cipher: fields.TenantCipher, emails=(), phones=(), company_ids=(), names=(),
            tags=()) -> set[tuple[str, str]]:
    """(kind, digest) pairs for a row's values, under the row's tenant's `cipher` (each kind's
    index key derived once); phones are E.164 already."""
    out = set()
    for kind, values in (("email", emails), ("phone", phones), ("company_id", company_id_values(*company_ids))):
        for value in values:
            if value and value.strip():
                out.add((kind, cipher.blind_index(kind, value)))
    for tag in tags:
        # A "tag" of nothing but accents folds to nothing: there is nothing to find it by.
        with contextlib.suppress(ValueError):
            out.add(("tag", cipher.blind_index("tag", tag)))
    for name in names:
        if name:
            out.update(("name", d) for d in cipher.name_indexes(name))
    return out


def replace(entity: str, row_id: uuid.UUID, pairs: set[tuple[str, str]], *, new: bool = False) -> None:
    """The row's index entries become `pairs`; a `new` row has none to delete yet. One Core
    statement for the digests, not an ORM object each: the unit of work cost more than they did."""
    tid = current_tenant.id
    if not new:
        db.session.execute(sa.delete(SearchIndex).where(
            SearchIndex.tenant_id == tid, SearchIndex.entity == entity, SearchIndex.row_id == row_id))
    if not pairs:
        return
    ordered = sorted(pairs)
    if is_postgres():
        # One fixed statement with the digests as two arrays: psycopg runs an executemany in
        # pipeline mode, which cost a create about 0.15 ms more. Not engine-wide: SQLAlchemy's
        # multi-row VALUES (use_insertmanyvalues_wo_returning) measured no better than the pipeline.
        db.session.connection().exec_driver_sql(_INSERT_FROM_ARRAYS, {
            "tenant_id": tid, "entity": entity, "row_id": row_id,
            "kinds": [kind for kind, _ in ordered], "digests": [d for _, d in ordered]})
    else:
        db.session.execute(sa.insert(SearchIndex.__table__), [
            {"tenant_id": tid, "entity": entity, "row_id": row_id, "kind": kind, "digest": d} for kind, d in ordered])


# Sent to psycopg as it is: SQLAlchemy's statement building cost a create more CPU than the
# statement itself (bench/crm.py, issue 3).
_INSERT_FROM_ARRAYS = (
    "INSERT INTO crm_search_index (tenant_id, entity, row_id, kind, digest) "
    "SELECT %(tenant_id)s, %(entity)s, %(row_id)s, given.kind, given.digest "
    "FROM unnest(CAST(%(kinds)s AS TEXT[]), CAST(%(digests)s AS TEXT[])) AS given (kind, digest)"
)


def drop(entity: str, row_id: uuid.UUID) -> None:
    replace(entity, row_id, set())


def tagged(entity: str, tag: str) -> sa.Select:
    """A select of the row ids of `entity` carrying `tag`, whole, ignoring case and accents."""
    tid = current_tenant.id
    return sa.select(SearchIndex.row_id).where(
        SearchIndex.tenant_id == tid, SearchIndex.entity == entity, SearchIndex.kind == "tag",
        SearchIndex.digest == fields.blind_index("tag", tag, tenant_id=tid))


def terms(query: str) -> tuple[set[tuple[str, str]], list[str]]:
    """What `query` is looked up by: exact (kind, digest) pairs, and the digests of its name
    words, every one of which a row's name must hold (none: no name clause)."""
    tid = current_tenant.id
    query = query.strip()
    email = fields.blind_index("email", query, tenant_id=tid) if "@" in query else None
    if email and _ADDRESS.fullmatch(query):
        # A whole address is no phone number or company ID, and a name would have to hold every
        # word of it (domain included): the other kinds could only cost the query, not find more.
        return {("email", email)}, []
    exact: set[tuple[str, str]] = set()
    if email:
        exact.add(("email", email))
    phone = e164(query)
    if phone:
        exact.add(("phone", fields.blind_index("phone", phone, tenant_id=tid)))
    if query and len(query) <= 40:
        exact.update(("company_id", fields.blind_index("company_id", value, tenant_id=tid))
                     for value in company_id_values(query, _ico_in_full(query)))
    words = list(dict.fromkeys(fields.name_indexes(query, tenant_id=tid)))[:MAX_QUERY_WORDS]
    return exact, words


def _ico_in_full(query: str) -> str:
    """An IČO typed without its leading zeros ("6947"), as the company form stores it
    ("00006947"): blank when the query is no such number or its check digit does not hold."""
    digits = re.sub(r"\s", "", query)
    if not (digits.isascii() and digits.isdigit() and 1 <= len(digits) < 8):
        return ""
    full = digits.zfill(8)
    return full if stdnum_cz_dic.calc_check_digit_legal(full[:7]) == full[7] else ""


def matching(entity: str, query: str) -> sa.Select:
    """A select of the row ids of `entity` that `query` finds (possibly none)."""
    exact, words = terms(query)
    base = sa.select(SearchIndex.row_id).where(SearchIndex.tenant_id == current_tenant.id,
                                               SearchIndex.entity == entity)
    clauses = [base.where(SearchIndex.kind == kind, SearchIndex.digest == d) for kind, d in sorted(exact)]
    if words:
        # Every word of the query must be a word of the name.
        clauses.append(
            base.where(SearchIndex.kind == "name", SearchIndex.digest.in_(words))
            .group_by(SearchIndex.row_id).having(sa.func.count(sa.distinct(SearchIndex.digest)) == len(words))
        )
    if not clauses:
        return base.where(sa.false())
    return sa.union(*clauses) if len(clauses) > 1 else clauses[0]


# `matching` for PostgreSQL as fixed statements, for the API's prepared reads (contact_reads):
# one value of one kind (a whole e-mail address, the API's usual search), or any terms passed
# as arrays (no name words: the HAVING finds no group). Each keeps one plan: the general one's
# generic plan is costed well above its custom plans, so PostgreSQL would plan it anew on
# every execution, which cost more than running it (bench/crm.py, issue 3).
MATCHING_ONE_PG = (
    "SELECT row_id FROM crm_search_index WHERE tenant_id = %(tid)s AND entity = %(entity)s "
    "AND kind = %(kind)s AND digest = %(digest)s"
)
MATCHING_ANY_PG = (
    "SELECT row_id FROM crm_search_index WHERE tenant_id = %(tid)s AND entity = %(entity)s "
    "AND (kind, digest) IN (SELECT * FROM unnest(CAST(%(kinds)s AS TEXT[]), CAST(%(digests)s AS TEXT[]))) "
    "UNION SELECT row_id FROM crm_search_index WHERE tenant_id = %(tid)s AND entity = %(entity)s "
    "AND kind = 'name' AND digest = ANY(CAST(%(words)s AS TEXT[])) "
    "GROUP BY row_id HAVING count(DISTINCT digest) = %(word_count)s"
)


def matching_pg(entity: str, query: str) -> tuple[str, dict]:
    """`matching` of `query` as (MATCHING_ONE_PG or MATCHING_ANY_PG, its parameters), with the
    current tenant's id as tid."""
    exact, words = terms(query)
    params = {"tid": current_tenant.id, "entity": entity}
    if len(exact) == 1 and not words:
        ((kind, digest),) = exact
        return MATCHING_ONE_PG, {**params, "kind": kind, "digest": digest}
    ordered = sorted(exact)
    return MATCHING_ANY_PG, {**params, "kinds": [kind for kind, _ in ordered], "digests": [d for _, d in ordered],
                             "words": words, "word_count": len(words)}
