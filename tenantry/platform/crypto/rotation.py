"""Rotating a tenant's data key: a new version writes at once; a job moves old values onto it.

Modules that store encrypted columns register them (`register_encrypted_column`); the
platform knows no CRM tables. The re-encryption job walks each registered table of the
tenant in row-id order, in batches, and commits its cursor with every batch, so a job that
is killed resumes where its last batch ended (`resume`, or the sweep for a job that went
quiet). Re-encrypting a value already on the active version is skipped, so doing a batch
twice is harmless.

Not everything under a tenant's key can move. A column whose ciphertext must stay as it was
written is registered as pinned (`register_pinned_column`: audit events' changes, whose
SHA-256 the audit hash chain covers; a register nobody may update), and sealed files are left
as they are (re-sealing one could bring back a file that retention deleted meanwhile; they go
when their retention ends). So when the job is done it counts what still uses each older
version, by the version in each ciphertext's header (usage.py): a version nothing uses is
`retired`; one still used is `decrypt-only`, with those counts, and the sweep counts again
daily until nothing does.

A value that does not decrypt stops the job: the rotation is `failed`, its `error` names the
table, column and row, and after someone has restored or cleared that value `resume` goes on
from the last committed batch. Any other error (KMS, S3 or the database not answering) is
noted in `error` and leaves the rotation `running`, for the sweep or `resume` to retry.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.platform import audit, clock, jobs
from tenantry.platform.crypto import fields, keyring, usage
from tenantry.platform.db import db, new_id
from tenantry.platform.tenancy import Tenant, TenantScoped, all_tenants, tenant_context

log = logging.getLogger(__name__)

BATCH_SIZE = 500
STALE_AFTER = timedelta(minutes=10)
RUNNING, DONE, SUPERSEDED, FAILED = "running", "done", "superseded", "failed"
# Decrypt-only versions are counted again at most this often, for this many tenants a sweep:
# counting files reads the first bytes of each of the tenant's stored objects.
RECHECK_EVERY = timedelta(days=1)
RECHECK_TENANTS = 20
# What `in_use` calls values of registered columns still on an older version (a writer that
# held the old key past the job's last pass), and sealed files.
VALUES, FILES = "values not yet re-encrypted", "stored files"


class RotationFailed(RuntimeError):
    """Re-encryption stopped. `status` is the rotation's now: `failed` when a value does not
    decrypt (someone must restore or clear it first), `running` when something did not
    answer (the sweep retries)."""

    def __init__(self, message: str, *, rotation_id: uuid.UUID, status: str):
        super().__init__(message)
        self.rotation_id, self.status = rotation_id, status


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
    # Why the job last stopped short: the value that does not decrypt, or what did not answer.
    error: Mapped[str | None] = mapped_column(sa.Text)

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        sa.CheckConstraint("status in ('running', 'done', 'superseded', 'failed')", name="status"),
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
    tenant_column: str = "tenant_id"


@dataclass(frozen=True)
class PinnedColumn:
    """Ciphertexts that must stay byte for byte as written: counted, never re-encrypted."""

    table: sa.Table
    column: str
    what: str  # what a row is, in words: "audit events"
    tenant_column: str = "tenant_id"


_registry: dict[tuple[str, str], EncryptedColumn] = {}
_pinned: dict[tuple[str, str], PinnedColumn] = {}


def _table(model: Any, *columns: str) -> sa.Table:
    table = model if isinstance(model, sa.Table) else model.__table__
    for name in columns:
        if name not in table.c:
            raise ValueError(f"{table.name} has no column {name!r}")
    return table


def register_encrypted_column(model: Any, column: str, row_id_attr: str = "id", *,
                              tenant_column: str = "tenant_id") -> None:
    """Declare that `column` of `model` (an ORM model or a Table) holds `fields.encrypt`
    ciphertext bound to (tenant id, table name, column name, row id), the tenant's id being
    in `tenant_column`."""
    table = _table(model, column, row_id_attr, tenant_column)
    _registry[(table.name, column)] = EncryptedColumn(table, column, row_id_attr, tenant_column)


def register_pinned_column(model: Any, column: str, *, what: str, tenant_column: str = "tenant_id") -> None:
    """Declare a column of `fields.encrypt` ciphertext that a rotation must not rewrite (a hash
    covers it): its values keep their key version readable, and the version decrypt-only,
    for as long as they exist."""
    table = _table(model, column, tenant_column)
    _pinned[(table.name, column)] = PinnedColumn(table, column, what, tenant_column)


def unregister_table(table_name: str) -> None:
    for registry in (_registry, _pinned):
        for key in [k for k in registry if k[0] == table_name]:
            del registry[key]


def registered() -> dict[str, list[EncryptedColumn]]:
    tables: dict[str, list[EncryptedColumn]] = {}
    for (table_name, _col), entry in sorted(_registry.items()):
        tables.setdefault(table_name, []).append(entry)
    return tables


def pinned() -> list[PinnedColumn]:
    return [entry for _key, entry in sorted(_pinned.items())]


# --- progress ------------------------------------------------------------------------------

_listeners: contextvars.ContextVar[tuple[Callable[[KeyRotation], None], ...]] = contextvars.ContextVar(
    "tenantry_rotation_listeners", default=())


@contextlib.contextmanager
def reporting(listener: Callable[[KeyRotation], None]) -> Iterator[None]:
    """Call `listener(rotation)` after every batch committed, at the end and at a failure, for
    re-encryption that runs in this thread meanwhile (the CLI's inline job, `resume`)."""
    token = _listeners.set((*_listeners.get(), listener))
    try:
        yield
    finally:
        _listeners.reset(token)


def _report(rotation: KeyRotation) -> None:
    log.info("key rotation %s of tenant %s: %s, %s/%s rows (%s%%)", rotation.id, rotation.tenant_id,
             rotation.status, rotation.rows_done, rotation.rows_total, rotation.percent)
    for listener in _listeners.get():
        listener(rotation)


# --- rotating ------------------------------------------------------------------------------


def rotate(tenant: Tenant, *, actor=None) -> KeyRotation:
    """Make a new data key version active now and queue the re-encryption of older values."""
    with all_tenants():
        new = keyring.rotate(tenant.id)
        for older in db.session.execute(
            sa.select(KeyRotation).where(KeyRotation.tenant_id == tenant.id, KeyRotation.status.in_((RUNNING, FAILED)))
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
            sa.select(sa.func.count()).select_from(table).where(table.c[columns[0].tenant_column] == tenant_id)
        ).scalar_one()
    return total


def reencrypt_job(rotation_id: str) -> str:
    """The maintenance job; runs inside the rotation's tenant context. A value that does not
    decrypt is an outcome, recorded on the rotation (`failed`, `error`), not a crash of the job."""
    try:
        return reencrypt(uuid.UUID(rotation_id))
    except RotationFailed as exc:
        if exc.status != FAILED:
            raise
        log.warning("key rotation %s failed: %s", rotation_id, exc)
        return FAILED


def reencrypt(rotation_id: uuid.UUID, *, batch_size: int = BATCH_SIZE) -> str:
    """Move the tenant's values onto the active version, batch by batch, committing progress,
    then retire the older versions nothing uses (or make them decrypt-only).

    Returns the rotation's status. Safe to call again after a crash, or while done. Raises
    RotationFailed when it stops short, with the reason recorded on the rotation."""
    with all_tenants():
        rotation = db.session.get(KeyRotation, rotation_id)
    if rotation is None or rotation.status != RUNNING:
        return rotation.status if rotation else "missing"
    try:
        return _reencrypt(rotation, batch_size)
    except Exception as exc:
        db.session.rollback()
        raise _failed(rotation_id, exc) from exc


def _reencrypt(rotation: KeyRotation, batch_size: int) -> str:
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
            rotation.updated_at, rotation.error = clock.now(), None
            _commit(rotation)
            if rotation.status != RUNNING:  # superseded meanwhile: the newer rotation moves it all
                return rotation.status
            _report(rotation)
    # Values written by transactions that began before the rotation may have landed behind
    # the cursor with the old key; one more pass catches them before anything is retired.
    for columns in tables.values():
        for _last, _seen, changed in _walk(tenant_id, columns, batch_size, None):
            rotation.values_reencrypted += changed
            _commit(rotation)
    in_use = still_used(tenant_id, below=rotation.to_version)
    with all_tenants():
        db.session.expire(rotation, ["status"])  # counting files takes a while: superseded meanwhile?
        if rotation.status != RUNNING:
            return rotation.status
        settled = keyring.settle(tenant_id, below_version=rotation.to_version, in_use=in_use)
        rotation.status, rotation.error = DONE, None
        rotation.finished_at = rotation.updated_at = clock.now()
        rotation.rows_done = max(rotation.rows_done, rotation.rows_total)
        audit.record("keys.reencrypted", tenant_id=tenant_id, target_type="tenant_key", target_id=rotation.to_version,
                     details={"retired_versions": settled[keyring.RETIRED],
                              "decrypt_only_versions": settled[keyring.DECRYPT_ONLY],
                              "values": rotation.values_reencrypted})
    _commit(rotation)
    _report(rotation)
    return DONE


def _failed(rotation_id: uuid.UUID, exc: Exception) -> RotationFailed:
    """Note why re-encryption stopped on the rotation (its own transaction) and say so."""
    bad_value = isinstance(exc, fields.FieldDecryptError)
    if bad_value:
        message = str(exc)  # names table, column and row; never the value
    else:
        message = f"{type(exc).__name__}: {exc}"
        log.error("key rotation %s stopped", rotation_id, exc_info=exc)
    status = RUNNING
    try:
        with all_tenants():
            rotation = db.session.get(KeyRotation, rotation_id)
            if rotation is not None and rotation.status == RUNNING:
                rotation.error, rotation.updated_at = message[:2000], clock.now()
                if bad_value:
                    rotation.status = FAILED
                    audit.record("keys.reencrypted", tenant_id=rotation.tenant_id, target_type="tenant_key",
                                 target_id=rotation.to_version, outcome="failure",
                                 details={"table": exc.table, "column": exc.column, "row": str(exc.row_id),
                                          "values": rotation.values_reencrypted})
            status = rotation.status if rotation is not None else "missing"
            db.session.commit()
            if rotation is not None:
                _report(rotation)
    except Exception:
        db.session.rollback()
        log.exception("could not record why key rotation %s stopped", rotation_id)
    return RotationFailed(message, rotation_id=rotation_id, status=status)


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
    return sa.select(rid, *(table.c[c.column] for c in columns)).where(table.c[columns[0].tenant_column] == tenant_id)


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
            .where(table.c[columns[0].tenant_column] == tenant_id, rid == row[0],
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
    """Finish the tenant's rotation here and now (after a crash, or by hand), a failed one
    included: it goes on from its last committed batch, at the value it stopped at."""
    rotation = current(tenant.id)
    if rotation is None:
        return None
    if rotation.status == FAILED:
        with all_tenants():
            rotation.status, rotation.updated_at = RUNNING, clock.now()
            db.session.commit()
    with tenant_context(tenant):
        return reencrypt(rotation.id, batch_size=batch_size)


def requeue_stale(as_of: datetime) -> int:
    """Sweep step: a running rotation whose job has made no progress for a while is queued again.
    A failed one is not: it would stop at the same value again."""
    with all_tenants():
        stale = db.session.execute(
            sa.select(KeyRotation).where(KeyRotation.status == RUNNING, KeyRotation.updated_at < as_of - STALE_AFTER)
        ).scalars().all()
        for rotation in stale:
            rotation.updated_at = as_of  # one re-queue per quiet period, not one per sweep
            jobs.enqueue("maintenance", "tenantry.platform.crypto.rotation:reencrypt_job",
                         tenant_id=rotation.tenant_id, rotation_id=str(rotation.id))
    return len(stale)


# --- what still uses older versions ---------------------------------------------------------


def still_used(tenant_id: uuid.UUID, *, below: int) -> dict[int, dict[str, int]]:
    """What holds values under each of the tenant's versions older than `below`:
    {version: {what: count}}, versions nothing uses left out. Run it in the tenant's context."""
    found: defaultdict[int, Counter[str]] = defaultdict(Counter)
    for columns in registered().values():
        for entry in columns:
            for version, n in usage.column_versions(entry.table, entry.column, entry.tenant_column,
                                                    tenant_id).items():
                found[version][VALUES] += n
    for entry in pinned():
        for version, n in usage.column_versions(entry.table, entry.column, entry.tenant_column, tenant_id).items():
            found[version][entry.what] += n
    for version, n in usage.file_versions(tenant_id).items():
        found[version][FILES] += n
    return {version: dict(counts) for version, counts in found.items() if version < below}


def recheck(as_of: datetime) -> int:
    """Sweep step: count again what uses decrypt-only versions, each at most once a day and a
    few tenants a run, and retire the versions nothing uses any more (their audit events were
    pruned, their files reached the end of their retention). Returns how many tenants."""
    key = keyring.TenantKey
    with all_tenants():
        due = db.session.execute(
            sa.select(key.tenant_id)
            .where(key.status == keyring.DECRYPT_ONLY,
                   sa.or_(key.in_use_checked_at.is_(None), key.in_use_checked_at <= as_of - RECHECK_EVERY))
            .group_by(key.tenant_id).order_by(sa.func.min(key.in_use_checked_at)).limit(RECHECK_TENANTS)
        ).scalars().all()
    checked = 0
    for tenant_id in due:
        last = current(tenant_id)
        if last is not None and last.status in (RUNNING, FAILED):
            continue  # its rotation settles the versions when it is done
        with all_tenants():
            tenant = db.session.get(Tenant, tenant_id)
        with tenant_context(tenant):
            active = keyring.active_version(tenant_id)
            in_use = still_used(tenant_id, below=active)
            with all_tenants():
                keyring.settle(tenant_id, below_version=active, in_use=in_use, at=as_of)
        db.session.commit()
        checked += 1
    return checked
