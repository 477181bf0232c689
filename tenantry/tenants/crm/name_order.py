"""Names of a tenant's rows, which are ciphertext that SQL cannot order: for the web UI's
lists sorted by name and for the forms' selects.

Every matching row's name columns are decrypted (and, to sort, folded: case and accents
ignored) here; a list then loads only the page shown whole. The names come as plain columns,
not ORM objects, and open with one Reader: loading and revealing whole rows one value at a
time took a list of 30,000 contacts 2.1 s of CPU per page view.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence

import sqlalchemy as sa

from tenantry.platform.crypto import fields
from tenantry.platform.db import db
from tenantry.platform.tenancy import current_tenant


def names(model, stmt: sa.Select, columns: tuple[str, ...]) -> Iterator[tuple[uuid.UUID, list[str | None]]]:
    """(id, the decrypted values of `columns`) of each `model` row `stmt` selects (its
    conditions are kept, its columns are not)."""
    tid = current_tenant.id
    # Plain rows through the session's connection, not the ORM's loading: the tenant is said
    # here, as the ORM's criteria would (and row-level security holds it on PostgreSQL).
    plain = stmt.with_only_columns(model.id, *(getattr(model, column) for column in columns)).where(
        model.tenant_id == tid)
    reader, table = fields.Reader(tid), model.__tablename__
    for row in db.session.connection().execute(plain):
        yield row[0], reader.open_values(table, columns, row[1:], row[0])


def sorted_ids(model, stmt: sa.Select, columns: tuple[str, ...], *, reverse: bool = False) -> list[uuid.UUID]:
    """The ids of the `model` rows `stmt` selects, ordered by the folded values of `columns`,
    then by id; the other way with `reverse`."""
    folded: dict[str, str] = {}  # names repeat (first names above all); for this call only

    def fold(name: str | None) -> str:
        if not name:
            return ""
        key = folded.get(name)
        if key is None:
            key = folded[name] = fields.fold(name)
        return key

    # Ties go by id: its integer orders as its text does (fixed-width hex), compared in C.
    keyed = [(*map(fold, values), row_id.int, row_id) for row_id, values in names(model, stmt, columns)]
    keyed.sort(reverse=reverse)
    return [key[-1] for key in keyed]


# Ids per statement when loading rows by id: a list export asks for every row at once, and a
# statement's bound parameters are limited (SQLite: 32,766; PostgreSQL: 65,535).
CHUNK = 1000


def rows_of(model, ids: Sequence[uuid.UUID]) -> list:
    """The `model` rows of `ids`, in that order."""
    found = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        found.update((row.id, row) for row in db.session.execute(sa.select(model).where(model.id.in_(chunk))).scalars())
    return [found[row_id] for row_id in ids if row_id in found]
