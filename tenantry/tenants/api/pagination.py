"""Cursor pagination: keyset on (created_at, id) or any other unique, ordered key.

A cursor is the last row's key, signed with the app's secret key (itsdangerous), so it is
opaque to clients and a tampered one is refused with 400 instead of reaching the query.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app, request
from itsdangerous import BadData, URLSafeSerializer

from tenantry.platform.db import db

from .errors import ApiError

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def _serializer(name: str) -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt=f"tenantry.api.cursor.{name}")


def _encode(value: Any) -> list:
    if isinstance(value, datetime):
        return ["t", value.isoformat()]
    if isinstance(value, uuid.UUID):
        return ["u", str(value)]
    if isinstance(value, int | str):
        return ["v", value]
    raise TypeError(f"cannot put {type(value).__name__} in a cursor")


def _decode(item: Any) -> Any:
    kind, raw = item
    if kind == "t":
        parsed = datetime.fromisoformat(raw)
        if parsed.tzinfo is None:
            raise ValueError("naive")
        return parsed
    if kind == "u":
        return uuid.UUID(raw)
    if kind == "v" and isinstance(raw, int | str):
        return raw
    raise ValueError(kind)


def parse_limit() -> int:
    raw = request.args.get("limit")
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
        raise ApiError(400, "invalid_limit", f"limit must be a whole number from 1 to {MAX_LIMIT}.",
                       {"limit": f"A whole number from 1 to {MAX_LIMIT}."})
    return int(raw)


def parse_cursor(name: str, width: int) -> list | None:
    raw = request.args.get("cursor")
    if not raw:
        return None
    try:
        items = _serializer(name).loads(raw)
        if not isinstance(items, list) or len(items) != width:
            raise ValueError("shape")
        return [_decode(item) for item in items]
    except (BadData, ValueError, TypeError) as exc:
        raise ApiError(400, "invalid_cursor", "The cursor is not one this API handed out; start from the first page.",
                       {"cursor": "Use next_cursor from a previous page, unchanged."}) from exc


def _after(keys: Sequence, values: Sequence):
    """Rows strictly after `values` in the order of `keys` (a row-value comparison, spelled out
    so each bound value keeps its column's type, e.g. UTC timestamps on SQLite)."""
    first, rest = keys[0], keys[1:]
    if not rest:
        return first > values[0]
    return sa.or_(first > values[0], sa.and_(first == values[0], _after(rest, values[1:])))


def paginate(stmt: sa.Select, *, keys: Sequence, name: str) -> tuple[list, str | None]:
    """One page of `stmt` (a select of ORM entities) in ascending `keys` order, reading ?limit
    and ?cursor; returns (rows, next_cursor or None). `keys` must identify a row uniquely, and
    `name` keeps cursors of one list from being replayed on another."""

    def fetch(after, limit):
        page = stmt.where(_after(keys, after)) if after is not None else stmt
        return list(db.session.execute(page.order_by(*keys).limit(limit)).scalars())

    return paginate_rows(fetch, width=len(keys), name=name,
                         keyset=lambda row: [getattr(row, key.key) for key in keys])


def paginate_rows(fetch: Callable[[list | None, int], list], *, width: int, name: str,
                  keyset: Callable[[Any], Sequence]) -> tuple[list, str | None]:
    """`paginate` for reads that are not ORM statements: `fetch(after, limit)` returns up to
    `limit` rows in order after the keyset `after` (None: from the start), and `keyset(row)`
    a row's `width` key values."""
    limit = parse_limit()
    rows = fetch(parse_cursor(name, width), limit + 1)
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, _serializer(name).dumps([_encode(v) for v in keyset(rows[-1])])
