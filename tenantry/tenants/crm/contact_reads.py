"""Contacts read as plain rows for the API: a page of the list (searched or not) and one by id.

On PostgreSQL each shape of read is one fixed statement, prepared by psycopg on the
connection, with the conditions the ORM statements of the same reads carry: the tenant (also
held by row-level security, whose settings `tenancy.pg_driver` sends first), not restricted
[DSR-restrict], not objected to in a list [DSR-object], the search's blind-index match and the
page's keyset. Building and loading those ORM statements was over a third of an API list's
CPU (bench/crm.py, issue 3); a row here is a tuple, its ids already text. Other databases (the
embedded SQLite), and the rarer filters (company, tag), take the ORM statements themselves:
`tests/tenants/crm/test_contact_reads.py` holds the two to the same answers.

A row is (id, company_id, created_at, updated_at, restricted, version, changed_at,
*Contact.ENCRYPTED), the ids as text, the timestamps UTC-aware, the encrypted columns as stored.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa

from tenantry.platform.db import db, is_postgres
from tenantry.platform.tenancy import current_tenant, pg_driver

from . import contacts, search
from .models import CONTACT, Contact

SEALED_FROM = 7  # a row's encrypted columns start here
_SEALED = ", ".join(Contact.ENCRYPTED)
_SELECT = ("SELECT id::text, company_id::text, created_at, updated_at, restricted_at IS NOT NULL, version, "  # noqa: S608
           f"changed_at, {_SEALED} FROM contacts WHERE tenant_id = %(tid)s")  # (the model's column names; values are parameters)


def _columns():
    return (sa.cast(Contact.id, sa.String), sa.cast(Contact.company_id, sa.String), Contact.created_at,
            Contact.updated_at, Contact.restricted_at.is_not(None), Contact.version, Contact.changed_at,
            *(getattr(Contact, column) for column in Contact.ENCRYPTED))


@functools.cache
def _page_sql(matching: str | None, after: bool) -> str:
    sql = _SELECT + " AND restricted_at IS NULL AND objected_at IS NULL"
    if matching:
        sql += f" AND id IN ({matching})"
    if after:
        # Spelled as the ORM's keyset condition (pagination._after), which the index serves.
        sql += " AND (created_at > %(at)s OR (created_at = %(at)s AND id > %(after)s))"
    # Qualified: a bare "id" here would be the output column, id::text, which no index orders.
    return sql + " ORDER BY contacts.created_at, contacts.id LIMIT %(limit)s"


def _utc(rows: list[tuple]) -> list[tuple]:
    # psycopg gives timestamps in the connection's time zone; the API writes them in UTC.
    out = []
    for row in rows:
        created, updated, changed = row[2], row[3], row[6]
        if created.utcoffset() or updated.utcoffset() or changed.utcoffset():
            row = (row[0], row[1], created.astimezone(UTC), updated.astimezone(UTC), *row[4:6],
                   changed.astimezone(UTC), *row[7:])
        out.append(row)
    return out


def _prepared(sql: str, params: dict) -> list[tuple]:
    # Binary results: the ciphertexts come as they are, not hex-encoded by the server and
    # decoded here (a page of 50 contacts is 400 of them).
    return _utc(pg_driver(db.session).execute(sql, params, prepare=True, binary=True).fetchall())


def one(contact_id: uuid.UUID) -> tuple | None:
    """The contact's row (restricted or not, objected or not), or None in another tenant or none."""
    if is_postgres():
        rows = _prepared(_SELECT + " AND id = %(id)s", {"tid": current_tenant.id, "id": contact_id})
    else:
        rows = _orm(sa.select(*_columns()).where(Contact.id == contact_id))
    return rows[0] if rows else None


def page(conditions: Sequence, *, query: str, after: Sequence | None, limit: int) -> list[tuple]:
    """Up to `limit` rows of the contact list in (created_at, id) order, after the keyset
    `after` (created_at, id) if given, found by `query` if not empty. `conditions`: further
    ORM conditions on Contact (a company, a tag), which take the ORM statement."""
    if is_postgres() and not conditions:
        matching, params = search.matching_pg(CONTACT, query) if query else (None, {"tid": current_tenant.id})
        params["limit"] = limit
        if after is not None:
            params.update(at=after[0], after=after[1])
        return _prepared(_page_sql(matching, after is not None), params)
    stmt = sa.select(*_columns()).where(contacts.visible(), Contact.objected_at.is_(None), *conditions)
    if query:
        stmt = stmt.where(Contact.id.in_(search.matching(CONTACT, query)))
    if after is not None:
        at, last = after
        stmt = stmt.where(sa.or_(Contact.created_at > at, sa.and_(Contact.created_at == at, Contact.id > last)))
    return _orm(stmt.order_by(Contact.created_at, Contact.id).limit(limit))


def _orm(stmt: sa.Select) -> list[tuple]:
    rows = [tuple(row) for row in db.session.execute(stmt)]
    # SQLite's CAST of a UUID column gives its stored hex; the API's ids are the hyphenated form.
    return [(str(uuid.UUID(row[0])), str(uuid.UUID(row[1])) if row[1] else None, *row[2:]) for row in rows]


def keyset(row: tuple) -> tuple[datetime, uuid.UUID]:
    """The page's keyset of a row: what `after` takes to continue past it."""
    return row[2], uuid.UUID(row[0])
