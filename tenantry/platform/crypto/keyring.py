"""Each tenant's versioned keys, stored only wrapped by the key provider.

Two purposes:
- `data`: AES-256 keys for field encryption. Exactly one version is active for writing (the
  database enforces it); older versions are `retiring` while re-encryption moves values off
  them. Then a version is `retired` only when nothing uses it any more; while something that
  cannot be re-encrypted still does (audit events, whose ciphertext the hash chain covers;
  sealed files until their retention ends) it is `decrypt-only`, with what still uses it in
  `in_use` (rotation.py counts it, and recounts it from the sweep). Crypto-shredding makes
  every version `destroyed`.
- `index`: one stable secret per tenant from which blind-index keys are derived. It never
  rotates with the data key, so search keeps working across a rotation.

A tenant's first keys are written in the same flush that inserts the tenant (a mapper
`after_insert` hook), so no code path that creates a tenant can forget them and no tenant
exists without keys once its transaction commits. Tenants from before this table existed get
theirs on first use (`ensure`).

With `aws-kms` every tenant shares one KMS key and the encryption context names tenant,
purpose and version; destroying a tenant's keys therefore means erasing its wrapped keys
(`destroy`), which leaves nothing that KMS could unwrap.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Mapped, Session, mapped_column

from tenantry.platform import clock
from tenantry.platform.db import db, new_id
from tenantry.platform.tenancy import Tenant, TenantScoped, all_tenants, current_tenant_id

DATA = "data"
INDEX = "index"
ACTIVE, RETIRING, DECRYPT_ONLY, RETIRED, DESTROYED = "active", "retiring", "decrypt-only", "retired", "destroyed"

CACHE_SECONDS = 300
CACHE_ENTRIES = 2048


class KeyringError(RuntimeError):
    pass


class TenantKey(TenantScoped, db.Model):
    __tablename__ = "tenant_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    purpose: Mapped[str] = mapped_column(sa.String(8))
    version: Mapped[int]
    # Erased (NULL) when the version is destroyed: that is what crypto-shredding means here.
    wrapped: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    provider: Mapped[str] = mapped_column(sa.String(20))
    status: Mapped[str] = mapped_column(sa.String(12), default=ACTIVE)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    retired_at: Mapped[datetime | None]
    destroyed_at: Mapped[datetime | None]
    # What still holds values under a decrypt-only version, {"audit events": 12, ...}, and when
    # that was counted. Nothing for other statuses.
    in_use: Mapped[dict[str, int] | None] = mapped_column(sa.JSON)
    in_use_checked_at: Mapped[datetime | None]

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        sa.UniqueConstraint("tenant_id", "purpose", "version"),
        sa.CheckConstraint("purpose in ('data', 'index')", name="purpose"),
        sa.CheckConstraint("status in ('active', 'retiring', 'decrypt-only', 'retired', 'destroyed')", name="status"),
        sa.CheckConstraint("version >= 1", name="version"),
        sa.CheckConstraint("(status = 'destroyed') = (wrapped IS NULL)", name="destroyed_erased"),
        # One version per tenant and purpose writes; the database refuses a second.
        sa.Index(
            "ix_tenant_keys_one_active",
            "tenant_id",
            "purpose",
            unique=True,
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        ),
    )

    def __repr__(self) -> str:
        return f"<TenantKey {self.tenant_id} {self.purpose} v{self.version} {self.status}>"


def context(tenant_id: uuid.UUID | str, purpose: str, version: int) -> dict[str, str]:
    """The provider's encryption context: a wrapped key opens only as what it was made for."""
    return {"tenant": str(tenant_id), "purpose": purpose, "version": str(version)}


def provider():
    return current_app.extensions["tenantry.key_provider"]


# --- the cache of unwrapped keys -----------------------------------------------------------

# Keyed by the wrapped bytes' digest as well: a key re-wrapped, destroyed or created by a
# transaction that rolled back never matches an old entry.
_cache: OrderedDict[tuple, tuple[float, bytes]] = OrderedDict()
_lock = threading.Lock()


def _cache_key(tenant_id, purpose: str, version: int, wrapped: bytes) -> tuple:
    return (str(tenant_id), purpose, version, hashlib.sha256(wrapped).digest())


def _remember(key: tuple, plain: bytes) -> None:
    with _lock:
        _cache[key] = (time.monotonic() + CACHE_SECONDS, plain)
        _cache.move_to_end(key)
        while len(_cache) > CACHE_ENTRIES:
            _cache.popitem(last=False)


def _recall(key: tuple) -> bytes | None:
    with _lock:
        hit = _cache.get(key)
        if hit is None:
            return None
        if hit[0] <= time.monotonic():
            del _cache[key]
            return None
        _cache.move_to_end(key)
        return hit[1]


def forget_cached_keys(tenant_id: uuid.UUID | str | None = None) -> None:
    with _lock:
        if tenant_id is None:
            _cache.clear()
            return
        for key in [k for k in _cache if k[0] == str(tenant_id)]:
            del _cache[key]


def cached_count() -> int:
    with _lock:
        return len(_cache)


def unwrap(row: TenantKey) -> bytes:
    if row.status == DESTROYED or row.wrapped is None:
        raise KeyringError(f"{row.purpose} key v{row.version} of tenant {row.tenant_id} was destroyed")
    key = _cache_key(row.tenant_id, row.purpose, row.version, row.wrapped)
    plain = _recall(key)
    if plain is None:
        plain = provider().unwrap(row.wrapped, context(row.tenant_id, row.purpose, row.version))
        _remember(key, plain)
    return plain


# --- creating keys -------------------------------------------------------------------------


def _new_values(tenant_id, purpose: str, version: int) -> dict:
    plain = secrets.token_bytes(32)  # AES-256; the index secret is the same size
    wrapped = provider().wrap(plain, context(tenant_id, purpose, version))
    _remember(_cache_key(tenant_id, purpose, version, wrapped), plain)
    return {
        "id": new_id(),
        "tenant_id": tenant_id,
        "purpose": purpose,
        "version": version,
        "wrapped": wrapped,
        "provider": provider().name,
        "status": ACTIVE,
        "created_at": clock.now(),
    }


_PG_READ = sa.text(
    "SELECT current_setting('tenantry.tenant_id', true), current_setting('tenantry.all_tenants', true)"
)
_PG_SET = sa.text("SELECT set_config('tenantry.tenant_id', :tid, true), set_config('tenantry.all_tenants', :cross, true)")


@event.listens_for(Tenant, "after_insert")
def _first_keys(_mapper, connection, tenant: Tenant) -> None:
    rows = [_new_values(tenant.id, DATA, 1), _new_values(tenant.id, INDEX, 1)]
    if connection.dialect.name != "postgresql":
        connection.execute(TenantKey.__table__.insert(), rows)
        return
    # A tenant is created before anyone works inside it (sign-up, CLI, tests), so row-level
    # security would refuse its keys; admit this tenant for the insert and restore after.
    before = connection.execute(_PG_READ).one()
    connection.execute(_PG_SET, {"tid": str(tenant.id), "cross": "off"})
    try:
        connection.execute(TenantKey.__table__.insert(), rows)
    finally:
        connection.execute(_PG_SET, {"tid": before[0] or "", "cross": before[1] or "off"})


def ensure(tenant_id: uuid.UUID) -> None:
    """Keys for a tenant that predates the keyring; a no-op for every other tenant."""
    with all_tenants():
        have = set(
            db.session.execute(
                sa.select(TenantKey.purpose).where(TenantKey.tenant_id == tenant_id, TenantKey.status == ACTIVE)
            ).scalars()
        )
        for purpose in (DATA, INDEX):
            if purpose in have:
                continue
            if _latest_version(tenant_id, purpose):
                continue  # it had keys and they were destroyed: never start afresh silently
            try:
                with db.session.begin_nested():
                    db.session.add(TenantKey(**_new_values(tenant_id, purpose, 1)))
            except sa.exc.IntegrityError:
                pass  # another process created it first; theirs is the one stored


def create_for(tenant: Tenant) -> None:
    """Explicit form of what the insert hook does, for callers that hold a Tenant already stored."""
    ensure(tenant.id)


def _latest_version(tenant_id, purpose: str) -> int:
    return db.session.execute(
        sa.select(sa.func.coalesce(sa.func.max(TenantKey.version), 0)).where(
            TenantKey.tenant_id == tenant_id, TenantKey.purpose == purpose
        ).execution_options(all_tenants=True)
    ).scalar_one()


# --- reading keys --------------------------------------------------------------------------


def _scope(tenant_id):
    """Inside a tenant's context only its own keys are reachable; outside any (sweeps, the
    CLI, sign-up) the tenant is named explicitly and read across tenants."""
    current = current_tenant_id()
    if current is None:
        return all_tenants()
    if current != tenant_id and str(current) != str(tenant_id):
        raise KeyringError(f"keys of tenant {tenant_id} asked for inside tenant {current}'s context")
    return contextlib.nullcontext()


# The key rows a transaction has looked up, so that decrypting a page of 50 contacts (400
# values) asks the database for the key once instead of 400 times. Only within one
# transaction of one session: forgotten when it ends, at a flush that writes a key row and at
# a bulk write to tenant_keys (a rotation, destruction or new key reaches the database by one
# of those), and a row with unflushed changes, no longer persistent or no longer active is
# looked up again. Other flushes (a contact saved, its audit event) keep it: otherwise every
# write re-read the keys it had just used. Within a transaction this answers what the query
# would: the identity map hands back the very same object, whose loaded attributes a
# repeated query does not refresh.
_ROWS = "tenantry.keyring_rows"


def _memo_hit(session, key: tuple) -> TenantKey | None:
    row = session.info.get(_ROWS, {}).get(key)
    if row is None:
        return None
    state = sa.inspect(row)
    # Detached: a row the API's token cache remembered (primed, never attached: only read).
    if not (state.persistent or state.detached) or state.modified or (key[2] is None and row.status != ACTIVE):
        return None
    return row


def _memo_put(session, row: TenantKey, *, active: bool) -> None:
    memo = session.info.setdefault(_ROWS, {})
    memo[(str(row.tenant_id), row.purpose, row.version)] = row
    if active:
        memo[(str(row.tenant_id), row.purpose, None)] = row


@event.listens_for(Session, "after_transaction_end")
def _forget_rows(session, transaction) -> None:
    # Not at the end of a flush's own subtransaction: that is what after_flush judges.
    if transaction.parent is None or transaction.nested:
        session.info.pop(_ROWS, None)


@event.listens_for(Session, "after_flush")
def _forget_rows_on_key_flush(session, _flush_context) -> None:
    # After a flush the session still lists what it wrote (new, dirty, deleted).
    if any(isinstance(obj, TenantKey) for obj in (*session.new, *session.dirty, *session.deleted)):
        session.info.pop(_ROWS, None)


@event.listens_for(Session, "do_orm_execute")
def _forget_rows_on_write(state) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", TenantKey.__tablename__) == TenantKey.__tablename__:
        state.session.info.pop(_ROWS, None)


def active_keys_joined(stmt: sa.Select, tenant_id_column) -> sa.Select:
    """`stmt` with the tenant's active key rows as one more (outer-joined) entity, for a query
    that finds the tenant anyway (the API's token check): a row per active key, data and
    index, so that its request decrypts without a query of its own for them. Pass the rows'
    keys to `prime`. Build the statement once: compiling it is dearer than running it."""
    return stmt.add_columns(TenantKey).outerjoin(
        TenantKey, sa.and_(TenantKey.tenant_id == tenant_id_column, TenantKey.status == ACTIVE))


def prime(rows) -> None:
    """Key rows loaded by a query made with `active_keys_joined`, remembered for this
    transaction as if `_row` had looked them up."""
    session = db.session()
    for row in rows:
        if row is not None and row.status == ACTIVE:
            _memo_put(session, row, active=True)


def _row(tenant_id, purpose: str, version: int | None = None) -> TenantKey | None:
    scope = _scope(tenant_id)  # refuses another tenant's keys, memo or not
    session = db.session()
    key = (str(tenant_id), purpose, version)
    row = _memo_hit(session, key)
    if row is not None:
        return row
    stmt = sa.select(TenantKey).where(TenantKey.tenant_id == tenant_id, TenantKey.purpose == purpose)
    stmt = stmt.where(TenantKey.status == ACTIVE) if version is None else stmt.where(TenantKey.version == version)
    with scope:
        row = session.execute(stmt.execution_options(all_tenants=True)).scalar_one_or_none()
    if row is not None:
        _memo_put(session, row, active=version is None)
    return row


def active_data_key(tenant_id: uuid.UUID) -> tuple[int, bytes]:
    row = _row(tenant_id, DATA)
    if row is None:
        ensure(tenant_id)
        row = _row(tenant_id, DATA)
        if row is None:
            raise KeyringError(f"tenant {tenant_id} has no active data key (its keys were destroyed)")
    return row.version, unwrap(row)


def active_version(tenant_id: uuid.UUID) -> int:
    return active_data_key(tenant_id)[0]


def data_key(tenant_id: uuid.UUID, version: int) -> bytes:
    row = _row(tenant_id, DATA, version)
    if row is None:
        raise KeyringError(f"tenant {tenant_id} has no data key v{version}")
    return unwrap(row)


def index_secret(tenant_id: uuid.UUID) -> bytes:
    row = _row(tenant_id, INDEX)
    if row is None:
        ensure(tenant_id)
        row = _row(tenant_id, INDEX)
        if row is None:
            raise KeyringError(f"tenant {tenant_id} has no index key (its keys were destroyed)")
    return unwrap(row)


def versions(tenant_id: uuid.UUID, purpose: str = DATA) -> list[TenantKey]:
    with _scope(tenant_id):
        return list(
            db.session.execute(
                sa.select(TenantKey)
                .where(TenantKey.tenant_id == tenant_id, TenantKey.purpose == purpose)
                .order_by(TenantKey.version)
                .execution_options(all_tenants=True)
            ).scalars()
        )


# --- changing keys -------------------------------------------------------------------------


def rotate(tenant_id: uuid.UUID) -> TenantKey:
    """A new data key version, active at once; the previous one is `retiring` until unused."""
    with all_tenants():
        current = _row(tenant_id, DATA)
        latest = _latest_version(tenant_id, DATA)
        if current is not None:
            current.status = RETIRING
            # The partial unique index must see the old version leave before the new one arrives.
            db.session.flush()
        row = TenantKey(**_new_values(tenant_id, DATA, latest + 1))
        db.session.add(row)
        db.session.flush()
    return row


def settle(tenant_id: uuid.UUID, below_version: int, in_use: dict[int, dict[str, int]], *,
           at: datetime | None = None) -> dict[str, list[int]]:
    """Versions older than `below_version` that no longer write (`retiring`, `decrypt-only`),
    given what still uses each (`in_use`: {version: {what: count}}, counted by the caller):
    `retired` when nothing does, else `decrypt-only` with those counts. Returns the versions
    by their new status."""
    done: dict[str, list[int]] = {RETIRED: [], DECRYPT_ONLY: []}
    now = at or clock.now()
    with all_tenants():
        for row in versions(tenant_id):
            if row.status not in (RETIRING, DECRYPT_ONLY) or row.version >= below_version:
                continue
            users = {what: n for what, n in (in_use.get(row.version) or {}).items() if n}
            row.in_use_checked_at = now
            if users:
                row.status, row.in_use = DECRYPT_ONLY, users
            else:
                row.status, row.in_use, row.retired_at = RETIRED, None, now
            done[row.status].append(row.version)
    return done


def describe_use(in_use: dict[str, int] | None) -> str:
    """"audit events: 12, stored files: 3"."""
    return ", ".join(f"{what}: {n}" for what, n in sorted((in_use or {}).items()) if n) or "nothing"


def explain(status: str, in_use: dict[str, int] | None = None) -> str:
    """Why a version is in its state, in words, for the CLI and the console ("" when plain)."""
    if status == DECRYPT_ONLY and not in_use:
        return "what still uses it is not counted yet (the sweep counts it); kept for reading, never for writing"
    if status == DECRYPT_ONLY:
        return f"still used by {describe_use(in_use)}; kept for reading them, never for writing"
    return {RETIRING: "values are being re-encrypted off it", RETIRED: "nothing uses it"}.get(status, "")


def destroy(tenant_id: uuid.UUID) -> int:
    """Crypto-shredding: every key of the tenant is erased. Nothing encrypted under them, in
    the database, exports or backups, can be read again. Returns how many versions went."""
    count = 0
    with all_tenants():
        for purpose in (DATA, INDEX):
            for row in versions(tenant_id, purpose):
                if row.status == DESTROYED:
                    continue
                if row.wrapped is not None:
                    provider().destroy(context(tenant_id, purpose, row.version))
                row.status = DESTROYED
                row.wrapped = None
                row.destroyed_at = clock.now()
                count += 1
    forget_cached_keys(tenant_id)
    return count
