"""The Tenant registry, the current tenant, and automatic tenant scoping.

Every ORM statement that touches a tenant-owned model is filtered to the current tenant.
Code that truly works across tenants (sweeps, the operator's console) says so with
`all_tenants()`. On PostgreSQL the same tenant is also set per transaction for the
row-level security policies, so a query that escapes the ORM still sees one tenant only.
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
import uuid
from collections.abc import Iterator
from datetime import datetime

import psycopg
import sqlalchemy as sa
from psycopg import pq
from sqlalchemy import event
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column, with_loader_criteria
from sqlalchemy.pool import Pool
from werkzeug.local import LocalProxy

from tenantry.platform import clock
from tenantry.platform.db import db, new_id


class TenancyError(RuntimeError):
    """Tenant-owned data was touched without a tenant, or across tenants without saying so."""


class Jurisdiction(enum.StrEnum):
    GDPR = "gdpr"
    CCPA = "ccpa"
    PDPA = "pdpa"


class TenantStatus(enum.StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"
    DELETED = "deleted"


class Tenant(db.Model):
    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(sa.String(63), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    country: Mapped[str] = mapped_column(sa.String(2))
    jurisdiction: Mapped[str] = mapped_column(sa.String(8), default=Jurisdiction.GDPR.value)
    status: Mapped[str] = mapped_column(sa.String(16), default=TenantStatus.ACTIVE.value)
    plan: Mapped[str] = mapped_column(sa.String(32), default="standard")
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    cancelled_at: Mapped[datetime | None]
    deletion_due_at: Mapped[datetime | None]
    # Security policy, set by the tenant's owners and admins [DPA-B.password, DPA-B.2fa].
    require_2fa: Mapped[bool] = mapped_column(default=False)
    password_min_length: Mapped[int] = mapped_column(default=12)
    password_max_age_days: Mapped[int] = mapped_column(default=0)
    privacy_contact_email: Mapped[str | None] = mapped_column(sa.String(254))
    # How long the tenant's audit events are kept [DPA-B.logging: at least 30 days back].
    audit_retention_days: Mapped[int] = mapped_column(default=400, server_default="400")
    # An IANA zone chosen by its admins; None: the first zone of its country (tenants/local_time).
    time_zone: Mapped[str | None] = mapped_column(sa.String(64))

    __table_args__ = (
        sa.CheckConstraint("password_min_length >= 8", name="password_min_length"),
        sa.CheckConstraint("password_max_age_days >= 0", name="password_max_age_days"),
        sa.CheckConstraint("audit_retention_days >= 30", name="audit_retention_days"),
        sa.CheckConstraint("jurisdiction in ('gdpr', 'ccpa', 'pdpa')", name="jurisdiction"),
        sa.CheckConstraint("status in ('active', 'cancelled', 'deleted')", name="status"),
    )

    @property
    def is_active(self) -> bool:
        return self.status == TenantStatus.ACTIVE

    def __repr__(self) -> str:
        return f"<Tenant {self.slug}>"


class TenantScoped:
    """Mixin for tenant-owned tables: a non-null tenant_id that leads the primary key or a unique key.

    References between tenant-owned rows are composite foreign keys (tenant_id, x_id), so the
    database itself refuses a row of tenant A pointing at a row of tenant B.
    """

    @declared_attr
    def tenant_id(cls) -> Mapped[uuid.UUID]:  # noqa: N805
        return mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)


def tenant_owned_tables() -> list[sa.Table]:
    return sorted(
        (m.local_table for m in db.Model.registry.mappers if issubclass(m.class_, TenantScoped)),
        key=lambda t: t.name,
    )


# The id is kept apart from the object: reading an expired Tenant's id would itself run a
# scoped query, which would ask for the current tenant's id again.
_current: contextvars.ContextVar[tuple[Tenant, uuid.UUID] | None] = contextvars.ContextVar(
    "tenantry_tenant", default=None
)
_cross: contextvars.ContextVar[bool] = contextvars.ContextVar("tenantry_all_tenants", default=False)


def get_current_tenant() -> Tenant | None:
    pair = _current.get()
    return pair[0] if pair is not None else None


def current_tenant_id() -> uuid.UUID | None:
    pair = _current.get()
    return pair[1] if pair is not None else None


current_tenant: Tenant = LocalProxy(get_current_tenant)  # type: ignore[assignment]


def activate(tenant: Tenant | None) -> contextvars.Token:
    """Make `tenant` current; returns a token for `deactivate`. Used once per request."""
    return _current.set((tenant, tenant.id) if tenant is not None else None)


def deactivate(token: contextvars.Token) -> None:
    _current.reset(token)


@contextlib.contextmanager
def tenant_context(tenant: Tenant) -> Iterator[Tenant]:
    # Cross-tenant mode goes off before the database hears of the tenant: inside all_tenants()
    # PostgreSQL would otherwise keep admitting every tenant's rows.
    cross = _cross.set(False)
    token = activate(tenant)
    try:
        yield tenant
        _flush_pending()
    finally:
        _cross.reset(cross)
        deactivate(token)


@contextlib.contextmanager
def all_tenants() -> Iterator[None]:
    """Explicitly cross-tenant work: sweeps, the operator's console, sign-up, login."""
    token = _cross.set(True)
    try:
        yield
        _flush_pending()
    finally:
        _cross.reset(token)


def _flush_pending() -> None:
    """Rows added or changed inside a context are written as that context, before it ends.

    Otherwise they would reach the database at the next flush or commit, under whatever
    context is current then: row-level security refuses them, or the wrong tenant is checked.
    """
    try:
        session = db.session()
    except RuntimeError:  # no application context
        return
    # A context can end inside a flush: the audit chain seals an event's changes in
    # before_flush, and a key lookup outside any tenant opens all_tenants(). That flush writes
    # what is pending itself; a nested one would only raise "Session is already flushing".
    if session._flushing:
        return
    if session.new or session.dirty or session.deleted:
        session.flush()


def crossing_tenants() -> bool:
    return _cross.get()


def _pg_settings() -> dict[str, str]:
    tid = current_tenant_id()
    return {"tid": str(tid) if tid else "", "cross": "on" if _cross.get() else "off"}


# On each PostgreSQL connection a session's transaction uses, the settings last sent in that
# transaction: (tenant id, cross). Absent outside a session's transaction (the connection is
# not ours to set then: a job's own connection may have set its tenant itself). The settings
# are transaction-local, so the record goes with the transaction or a rolled-back savepoint.
_APPLIED = "tenantry.pg_settings"
_UNSET = ("?", "?")
_UNDOING = ("?", "savepoint")


@event.listens_for(Session, "after_begin")
def _track_pg_settings(session, transaction, connection):
    if connection.dialect.name == "postgresql":
        connection.info[_APPLIED] = _UNSET


@event.listens_for(sa.Engine, "before_cursor_execute")
def _apply_pg_settings(connection, cursor, statement, parameters, context, executemany):
    """Before every statement of a session's transaction on PostgreSQL: the row-level security
    settings of the context current now, sent first if they differ from those last sent."""
    _send_pg_settings(connection, statement)


def pg_driver(session: Session) -> psycopg.Connection:
    """The psycopg connection of `session`'s transaction on PostgreSQL, with the current
    context's row-level security settings sent, as before any statement SQLAlchemy runs: for
    statements given to psycopg directly, which SQLAlchemy's events do not see."""
    connection = session.connection()
    _send_pg_settings(connection, "")
    return connection.connection.driver_connection


def _send_pg_settings(connection, statement: str) -> None:
    applied = connection.info.get(_APPLIED)
    if applied is None:
        return
    if applied is _UNDOING and statement.startswith("ROLLBACK TO SAVEPOINT"):
        return  # what is sent now would be undone with the savepoint
    wanted = _pg_settings()
    if (wanted["tid"], wanted["cross"]) == applied:
        return
    driver = connection.connection.driver_connection
    status = getattr(driver.info.transaction_status, "name", "")
    if status == "INERROR":
        # An aborted transaction refuses every command until it is rolled back; sending one
        # here would hide the error that aborted it, which the statement will raise.
        return
    if status == "IDLE" and driver.isolation_level is None and driver.read_only is None and driver.deferrable is None:
        _begin_with_settings(driver, wanted)
    else:
        driver.execute(_SET_PG_DRIVER, wanted).close()
    connection.info[_APPLIED] = (wanted["tid"], wanted["cross"])


_SET_PG_DRIVER = ("SELECT set_config('tenantry.tenant_id', %(tid)s, true), "
                  "set_config('tenantry.all_tenants', %(cross)s, true)")


def _begin_with_settings(driver, wanted: dict[str, str]) -> None:
    """BEGIN and the settings in one round trip, as one simple query, where psycopg would
    send its BEGIN first and wait for it (one round trip more on every request than an app
    without tenancy). psycopg sends no BEGIN of its own afterwards: it goes by the
    connection's transaction status, which is now "in a transaction". Only for a plain BEGIN:
    a connection with its own isolation level or access mode keeps psycopg's."""
    pgconn = driver.pgconn
    quote = pq.Escaping(pgconn).escape_literal
    result = pgconn.exec_(_BEGIN_WITH_SETTINGS % {key.encode(): quote(value.encode()) for key, value in wanted.items()})
    if result.status != pq.ExecStatus.TUPLES_OK:
        raise psycopg.errors.error_from_result(result, encoding=driver.info.encoding)


_BEGIN_WITH_SETTINGS = b"BEGIN; " + _SET_PG_DRIVER.encode()


@event.listens_for(sa.Engine, "commit")
@event.listens_for(sa.Engine, "rollback")
def _forget_pg_settings(connection) -> None:
    connection.info.pop(_APPLIED, None)


@event.listens_for(Pool, "checkin")
def _forget_pg_settings_on_checkin(_dbapi_connection, record) -> None:
    # However the transaction ended, the record must not outlive the checkout.
    if record is not None:
        record.info.pop(_APPLIED, None)


@event.listens_for(sa.Engine, "rollback_savepoint")
def _savepoint_undid_settings(connection, _name, _context) -> None:
    # What was sent inside the savepoint is undone with it; send again before the next statement
    # (this event comes before the ROLLBACK TO SAVEPOINT itself).
    if _APPLIED in connection.info:
        connection.info[_APPLIED] = _UNDOING


@event.listens_for(Session, "do_orm_execute")
def _scope_to_tenant(state):
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.execution_options.get("all_tenants") or _cross.get():
        return
    tid = current_tenant_id()
    if tid is None:
        if any(issubclass(m.class_, TenantScoped) for m in state.all_mappers):
            raise TenancyError(
                "tenant-owned data queried without a current tenant; use tenant_context() or all_tenants()"
            )
        # Joined tenant-owned entities match nothing rather than everything.
        state.statement = state.statement.options(
            with_loader_criteria(TenantScoped, lambda cls: sa.false(), include_aliases=True,
                                 propagate_to_loaders=False)
        )
        return
    # Not propagated to loaders. A propagated criterion is kept in the loaded objects' load
    # options, and since each refresh passes through here too, an object refreshed after each
    # commit (a job's tenant, a sweep's rows) gathered one more per transaction: every load of
    # it grew slower. SQLAlchemy applies none of them to a refresh by primary key anyway (the
    # row is the session's own; RLS still checks it), and the models' relationships are all
    # joined many-to-one, loaded with the statement that carries the criterion.
    state.statement = state.statement.options(
        with_loader_criteria(TenantScoped, lambda cls: cls.tenant_id == tid, include_aliases=True,
                             propagate_to_loaders=False)
    )


@event.listens_for(Session, "before_flush")
def _stamp_tenant(session, _flush_context, _instances):
    tid = current_tenant_id()
    cross = _cross.get()
    for obj in list(session.new) + list(session.dirty):
        if not isinstance(obj, TenantScoped):
            continue
        if obj.tenant_id is None:
            if tid is None:
                raise TenancyError(f"cannot save {type(obj).__name__} without a current tenant")
            obj.tenant_id = tid
        elif tid is None and not cross:
            # PostgreSQL's row-level security refuses this write; refuse it here too, so the
            # mistake shows on SQLite and with a clear message.
            raise TenancyError(
                f"cannot save {type(obj).__name__} without a current tenant; use tenant_context() or all_tenants()"
            )
        elif tid is not None and obj.tenant_id != tid and not cross:
            raise TenancyError(f"{type(obj).__name__} belongs to another tenant than the current one")


def get_by_slug(slug: str) -> Tenant | None:
    return db.session.execute(sa.select(Tenant).where(Tenant.slug == slug)).scalar_one_or_none()
