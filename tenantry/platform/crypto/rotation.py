"""Rotating a tenant's data key: a new version writes at once; a job moves old values onto it.

Modules that store encrypted columns register them (`register_encrypted_column`); the
platform knows no CRM tables. The re-encryption job walks each registered table of the
tenant in row-id order, in batches, and commits its cursor with every batch, so a job that
is killed resumes where its last batch ended (`resume`, or the sweep for a job that went
quiet). Re-encrypting a value already on the active version is skipped, so doing a batch
twice is harmless. When a final check finds no value on an older version, those versions
are retired.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.platform import audit, clock, jobs
from tenantry.platform.crypto import fields, keyring
from tenantry.platform.db import db, new_id
from tenantry.platform.tenancy import Tenant, TenantScoped, all_tenants, tenant_context

log = logging.getLogger(__name__)

BATCH_SIZE = 500
STALE_AFTER = timedelta(minutes=10)
RUNNING, DONE, SUPERSEDED = "running", "done", "superseded"


class KeyRotation(TenantScoped, db.Model):
    """One rotation of a tenant's data key and the progress of moving values onto it."""

    __tablename__ = "key_rotations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    to_version: Mapped[int]
    status: Mapped[str] = mapped_column(sa.String(12), default=RUNNING)
    cursor_table: Mapped[str | None] = mapped_column(sa.String(63))
    cursor_row: Mapped[str | None] = mapped_column(sa.String(64))
    rows_done: Mapped[int] = mapped_column(default=0)
    rows_total: Mapped[int] = mapped_column(default=0)
    values_reencrypted: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)
    finished_at: Mapped[datetime | None]

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        sa.CheckConstraint("status in ('running', 'done', 'superseded')", name="status"),
    )

    @property
    def percent(self) -> int:
        if self.status == DONE or not self.rows_total:
            return 100 if self.status == DONE else 0
        return min(99, self.rows_done * 100 // self.rows_total)


# --- the registry of encrypted columns -----------------------------------------------------


@dataclass(frozen=True)
class EncryptedColumn:
    table: sa.Table
    column: str
    row_id: str


_registry: dict[tuple[str, str], EncryptedColumn] = {}


def register_encrypted_column(model: Any, column: str, row_id_attr: str = "id") -> None:
    """Declare that `column` of `model` (an ORM model or a Table) holds `fields.encrypt`
    ciphertext bound to (tenant_id, table name, column name, row id) and has a tenant_id."""
    table = model if isinstance(model, sa.Table) else model.__table__
    for name in (column, row_id_attr, "tenant_id"):
        if name not in table.c:
            raise ValueError(f"{table.name} has no column {name!r}")
    _registry[(table.name, column)] = EncryptedColumn(table, column, row_id_attr)


def unregister_table(table_name: str) -> None:
    for key in [k for k in _registry if k[0] == table_name]:
        del _registry[key]


def registered() -> dict[str, list[EncryptedColumn]]:
    tables: dict[str, list[EncryptedColumn]] = {}
    for (table_name, _col), entry in sorted(_registry.items()):
        tables.setdefault(table_name, []).append(entry)
    return tables


# --- rotating ------------------------------------------------------------------------------


def rotate(tenant: Tenant, *, actor=None) -> KeyRotation:
    """Make a new data key version active now and queue the re-encryption of older values."""
    with all_tenants():
        new = keyring.rotate(tenant.id)
        for older in db.session.execute(
            sa.select(KeyRotation).where(KeyRotation.tenant_id == tenant.id, KeyRotation.status == RUNNING)
        ).scalars():
            older.status = SUPERSEDED  # the new rotation moves everything, their values included
            older.finished_at = clock.now()
        rotation = KeyRotation(tenant_id=tenant.id, to_version=new.version, rows_total=_count_rows(tenant.id))
        db.session.add(rotation)
        audit.record("keys.rotate", actor=actor, tenant_id=tenant.id, target_type="tenant_key",
                     target_id=new.version)
        db.session.flush()
    jobs.enqueue("maintenance", "tenantry.platform.crypto.rotation:reencrypt_job", tenant_id=tenant.id,
                 rotation_id=str(rotation.id))
    return rotation


def _count_rows(tenant_id: uuid.UUID) -> int:
    total = 0
    for columns in registered().values():
        table = columns[0].table
        total += db.session.execute(
            sa.select(sa.func.count()).select_from(table).where(table.c.tenant_id == tenant_id)
        ).scalar_one()
    return total


def reencrypt_job(rotation_id: str) -> str:
    """The maintenance job; runs inside the rotation's tenant context."""
    return reencrypt(uuid.UUID(rotation_id))


def reencrypt(rotation_id: uuid.UUID, *, batch_size: int = BATCH_SIZE) -> str:
    """Move the tenant's values onto the active version, batch by batch, committing progress.

    Returns the rotation's status. Safe to call again after a crash, or while done."""
    with all_tenants():
        rotation = db.session.get(KeyRotation, rotation_id)
    if rotation is None or rotation.status != RUNNING:
        return rotation.status if rotation else "missing"
    tenant_id = rotation.tenant_id
    tables = registered()
    names = list(tables)
    start = names.index(rotation.cursor_table) if rotation.cursor_table in names else 0
    for name in names[start:]:
        after = rotation.cursor_row if rotation.cursor_table == name else None
        for last_id, seen, changed in _walk(tenant_id, tables[name], batch_size, after):
            rotation.cursor_table, rotation.cursor_row = name, str(last_id)
            rotation.rows_done += seen
            rotation.values_reencrypted += changed
            rotation.updated_at = clock.now()
            _commit(rotation)
            log.info("key rotation %s of tenant %s: %s/%s rows (%s%%)", rotation.id, tenant_id,
                     rotation.rows_done, rotation.rows_total, rotation.percent)
    # Values written by transactions that began before the rotation may have landed behind
    # the cursor with the old key; one more pass catches them before anything is retired.
    for columns in tables.values():
        for _last, _seen, changed in _walk(tenant_id, columns, batch_size, None):
            rotation.values_reencrypted += changed
            _commit(rotation)
    active = keyring.active_version(tenant_id)
    with all_tenants():
        retired = keyring.retire(tenant_id, below_version=active)
        rotation.status = DONE
        rotation.finished_at = rotation.updated_at = clock.now()
        rotation.rows_done = max(rotation.rows_done, rotation.rows_total)
        audit.record("keys.reencrypted", tenant_id=tenant_id, target_type="tenant_key", target_id=active,
                     details={"retired_versions": retired, "values": rotation.values_reencrypted})
    _commit(rotation)
    return DONE


def _commit(_rotation: KeyRotation) -> None:
    # Each batch and its cursor commit together: a crash loses at most the batch under way.
    db.session.commit()


def _walk(tenant_id: uuid.UUID, columns: list[EncryptedColumn], batch_size: int, after: str | None):
    """Yield (last row id, rows seen, values re-encrypted) per batch of one table."""
    table = columns[0].table
    rid = table.c[columns[0].row_id]
    cursor = _typed(rid, after) if after is not None else None
    while True:
        stmt = _values_of(tenant_id, rid, columns)
        if cursor is not None:
            stmt = stmt.where(rid > cursor)
        rows = db.session.execute(stmt.order_by(rid).limit(batch_size)).all()
        if not rows:
            return
        version, _key = keyring.active_data_key(tenant_id)
        changed = 0
        for row in rows:
            changed += _move_row(table, rid, columns, tenant_id, version, row)
        cursor = rows[-1][0]
        yield cursor, len(rows), changed


def _values_of(tenant_id: uuid.UUID, rid: sa.Column, columns: list[EncryptedColumn]) -> sa.Select:
    table = columns[0].table
    return sa.select(rid, *(table.c[c.column] for c in columns)).where(table.c.tenant_id == tenant_id)


def _move_row(table: sa.Table, rid: sa.Column, columns: list[EncryptedColumn], tenant_id: uuid.UUID,
              version: int, row) -> int:
    """Re-encrypt one row's values that are not on `version`; returns how many moved.

    The UPDATE matches the very ciphertexts it read. A person saving the row between the read
    and the write (their value is already on the active version) leaves it matching nothing,
    and the row is read again: re-encrypting the old value would overwrite their change."""
    while row is not None:
        values = {}
        for i, entry in enumerate(columns, start=1):
            blob = row[i]
            if blob is None or fields.key_version(bytes(blob)) == version:
                continue
            where = {"tenant_id": tenant_id, "table": table.name, "column": entry.column, "row_id": row[0]}
            values[entry.column] = (bytes(blob), fields.encrypt(fields.decrypt(bytes(blob), **where), **where))
        if not values:
            return 0
        moved = db.session.execute(
            table.update()
            .where(table.c.tenant_id == tenant_id, rid == row[0],
                   *(table.c[column] == old for column, (old, _new) in values.items()))
            # The same values under another key: no change, so no column stamped on each
            # change (onupdate) is stamped by this one.
            .values({c.name: c for c in table.c if c.onupdate is not None}
                    | {column: new for column, (_old, new) in values.items()})
        ).rowcount
        if moved:
            return len(values)
        row = db.session.execute(_values_of(tenant_id, rid, columns).where(rid == row[0])).first()
    return 0  # deleted meanwhile


def _typed(column: sa.Column, value: str):
    try:
        return column.type.python_type(value)
    except (NotImplementedError, TypeError, ValueError):
        return value


# --- progress and resumption ---------------------------------------------------------------


def current(tenant_id: uuid.UUID) -> KeyRotation | None:
    with all_tenants():
        return db.session.execute(
            sa.select(KeyRotation).where(KeyRotation.tenant_id == tenant_id).order_by(KeyRotation.started_at.desc())
            .limit(1)
        ).scalar_one_or_none()


def resume(tenant: Tenant, *, batch_size: int = BATCH_SIZE) -> str | None:
    """Finish the tenant's running rotation here and now (after a crash, or by hand)."""
    rotation = current(tenant.id)
    if rotation is None:
        return None
    with tenant_context(tenant):
        return reencrypt(rotation.id, batch_size=batch_size)


def requeue_stale(as_of: datetime) -> int:
    """Sweep step: a running rotation whose job has made no progress for a while is queued again."""
    with all_tenants():
        stale = db.session.execute(
            sa.select(KeyRotation).where(KeyRotation.status == RUNNING, KeyRotation.updated_at < as_of - STALE_AFTER)
        ).scalars().all()
        for rotation in stale:
            rotation.updated_at = as_of  # one re-queue per quiet period, not one per sweep
            jobs.enqueue("maintenance", "tenantry.platform.crypto.rotation:reencrypt_job",
                         tenant_id=rotation.tenant_id, rotation_id=str(rotation.id))
    return len(stale)
