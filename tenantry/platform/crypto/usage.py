"""What still uses each of a tenant's data key versions, counted without decrypting anything.

- A field ciphertext (fields.py) carries its key version at a fixed place in its header, so
  the database counts values per version itself: `substr(column, 3, 4)` is those four bytes
  on SQLite (substr of a BLOB counts bytes) and on PostgreSQL (substr of bytea) alike. One
  grouped query per column, over the tenant's rows only (through its tenant column's index).
- A sealed file (file_sealing.py) carries it in its header too. Counting files lists the
  tenant's stored objects (`tenants/<id>/`) and reads the header of each (a ranged GET on S3), so only jobs
  do it (a rotation's, the sweep's), never a request.
"""

from __future__ import annotations

import io
import uuid
from collections import Counter

import sqlalchemy as sa

from tenantry.platform import storage
from tenantry.platform.crypto import fields, file_sealing
from tenantry.platform.db import db


def column_versions(table: sa.Table, column: str, tenant_column: str, tenant_id: uuid.UUID) -> Counter[int]:
    """{key version: how many of the tenant's values in `table.column` are under it}."""
    value = table.c[column]
    # Literal positions, not bound parameters: PostgreSQL must see the same expression in the
    # select list and in GROUP BY.
    version = sa.func.substr(value, sa.literal_column(str(fields.VERSION_OFFSET + 1)),
                             sa.literal_column(str(fields.VERSION_SIZE)))
    rows = db.session.execute(
        sa.select(version, sa.func.count())
        .where(table.c[tenant_column] == tenant_id, value.is_not(None))
        .group_by(version)
    ).all()
    counts: Counter[int] = Counter()
    for raw, n in rows:
        raw = bytes(raw) if raw is not None else b""
        if len(raw) == fields.VERSION_SIZE:  # anything shorter is no ciphertext: not a key's
            counts[int.from_bytes(raw, "big")] += n
    return counts


def file_versions(tenant_id: uuid.UUID) -> Counter[int]:
    """{key version: how many of the tenant's stored files are sealed under it}. Objects that
    are not sealed files (an audit document has a key of its own) are not counted."""
    store = storage.storage()
    counts: Counter[int] = Counter()
    for key in store.list(f"tenants/{tenant_id}/"):
        try:
            header = store.head(key, file_sealing.HEADER_SIZE)
        except storage.StorageUnavailable:
            raise
        except storage.StorageError:
            continue  # deleted since it was listed
        version = file_sealing.key_version(io.BytesIO(header))
        if version is not None:
            counts[version] += 1
    return counts
