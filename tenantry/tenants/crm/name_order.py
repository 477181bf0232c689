"""Names of a tenant's rows, which are ciphertext that SQL cannot order: for the web UI's
lists sorted by name and for the forms' selects.

Every matching row's name columns are decrypted (and, to sort, folded: case and accents
ignored) here; a list then loads only the page shown whole. The names come as plain columns,
not ORM objects, and open with one Reader: loading and revealing whole rows one value at a
time took a list of 30,000 contacts 2.1 s of CPU per page view.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Sequence

import sqlalchemy as sa

from tenantry.platform.crypto import fields
from tenantry.platform.db import db
from tenantry.platform.tenancy import current_tenant


def _sealed(model, stmt: sa.Select, columns: tuple[str, ...]) -> list:
    """(id, the ciphertexts of `columns`) of each `model` row `stmt` selects (its conditions
    are kept, its columns are not)."""
    # Plain rows through the session's connection, not the ORM's loading: the tenant is said
    # here, as the ORM's criteria would (and row-level security holds it on PostgreSQL).
    plain = stmt.with_only_columns(model.id, *(getattr(model, column) for column in columns)).where(
        model.tenant_id == current_tenant.id)
    return db.session.connection().execute(plain).all()


def _opened(model, columns: tuple[str, ...], rows: list) -> Iterator[tuple[uuid.UUID, list[str | None]]]:
    reader, table = fields.Reader(current_tenant.id), model.__tablename__
    for row in rows:
        yield row[0], reader.open_values(table, columns, row[1:], row[0])


def names(model, stmt: sa.Select, columns: tuple[str, ...]) -> Iterator[tuple[uuid.UUID, list[str | None]]]:
    """(id, the decrypted values of `columns`) of each `model` row `stmt` selects (its
    conditions are kept, its columns are not)."""
    return _opened(model, columns, _sealed(model, stmt, columns))


# Orders already worked out, by a digest of everything they were worked out from: the tenant,
# the columns and each selected row's id and ciphertexts. Any row added, removed, changed or
# re-encrypted changes the digest, so an order found here is the one decrypting would give,
# and nothing needs invalidating. Opening the names was most of a sorted list's cost (a page of
# 27,000 contacts: about 230 ms of CPU, 60 ms of it reading the rows). Only ids are kept.
CACHED_FROM = 500  # rows: below this, working the order out is cheap enough
_CACHE_ENTRIES = 8
_orders: OrderedDict[bytes, list[uuid.UUID]] = OrderedDict()
_orders_lock = threading.Lock()


def _digest(model, columns: tuple[str, ...], rows: list) -> bytes:
    digest = hashlib.blake2b(f"{current_tenant.id}|{model.__tablename__}|{','.join(columns)}".encode(),
                             digest_size=32)
    for row in rows:
        digest.update(row[0].bytes)
        for blob in row[1:]:
            # Length-prefixed, so that two columns' bytes cannot run into each other.
            digest.update(len(blob).to_bytes(4, "big") + bytes(blob) if blob is not None else b"\xff\xff\xff\xff")
    return digest.digest()


def sorted_ids(model, stmt: sa.Select, columns: tuple[str, ...], *, reverse: bool = False) -> list[uuid.UUID]:
    """The ids of the `model` rows `stmt` selects, ordered by the folded values of `columns`,
    then by id; the other way with `reverse`."""
    rows = _sealed(model, stmt, columns)
    key = _digest(model, columns, rows) if len(rows) >= CACHED_FROM else None
    with _orders_lock:
        ordered = _orders.get(key) if key is not None else None
        if ordered is not None:
            _orders.move_to_end(key)
    if ordered is None:
        ordered = _order(model, columns, rows)
        if key is not None:
            with _orders_lock:
                _orders[key] = ordered
                while len(_orders) > _CACHE_ENTRIES:
                    _orders.popitem(last=False)
    # The order is total (ties go by id), so the other way is exactly its reverse.
    return ordered[::-1] if reverse else list(ordered)


def _order(model, columns: tuple[str, ...], rows: list) -> list[uuid.UUID]:
    folded: dict[str, str] = {}  # names repeat (first names above all); for this call only

    def fold(name: str | None) -> str:
        if not name:
            return ""
        key = folded.get(name)
        if key is None:
            key = folded[name] = fields.fold(name)
        return key

    # Ties go by id: its integer orders as its text does (fixed-width hex), compared in C.
    keyed = [(*map(fold, values), row_id.int, row_id) for row_id, values in _opened(model, columns, rows)]
    keyed.sort()
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
