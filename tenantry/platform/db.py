"""The database: one SQLAlchemy instance, UTC-aware timestamps, and constraint names Alembic can diff."""

from __future__ import annotations

import functools
import time
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, registry

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(sa.types.TypeDecorator):
    """Timestamps are stored in UTC and always come back timezone-aware, SQLite included."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use tenantry.platform.clock.now()")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    registry = registry(
        metadata=sa.MetaData(naming_convention=NAMING),
        type_annotation_map={datetime: UTCDateTime(), uuid.UUID: sa.Uuid()},
    )


db = SQLAlchemy(model_class=Base)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record):
    # Composite foreign keys are half of tenant isolation; SQLite ignores them unless told.
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()


# pool_pre_ping pings a connection at every checkout: one more round trip in every request
# (bench/crm.py, issue 3). A connection back in the pool moments ago is as alive as a ping
# would show; one idle longer (the database restarted, a firewall dropped it) is pinged first,
# and replaced when it does not answer.
IDLE_BEFORE_PING = 10.0
_LAST_USED = "tenantry.last_used"


def ping_when_idle(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _fresh(_dbapi_connection, record) -> None:
        record.info[_LAST_USED] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection, record) -> None:
        if record is not None:
            record.info[_LAST_USED] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, _proxy) -> None:
        used = record.info.get(_LAST_USED)
        if used is not None and time.monotonic() - used < IDLE_BEFORE_PING:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error:
            alive = False
        if not alive:
            # The pool drops this connection and checks out another (a fresh one, if need be).
            raise sa.exc.DisconnectionError("the database connection did not answer a ping")
        record.info[_LAST_USED] = time.monotonic()


def is_postgres() -> bool:
    return db.engine.dialect.name == "postgresql"


def by_id(model, row_id):
    """The row of `model` with primary key `row_id`, or None: session.get's answer for a
    single-column key, by one statement built once per model. session.get builds its
    statement anew on every call (0.07 ms of a 1.8 ms API detail read, bench/crm.py), and answers
    from the identity map without asking the database, where this always asks, under the
    current tenant's criteria like every other query."""
    return db.session.execute(_by_id(model), {"row_id": row_id}).scalar_one_or_none()


@functools.cache
def _by_id(model) -> sa.Select:
    (key,) = sa.inspect(model).primary_key
    return sa.select(model).where(key == sa.bindparam("row_id"))
