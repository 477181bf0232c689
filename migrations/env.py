"""Alembic environment. On PostgreSQL, migrations run as the schema owner
(TENANTRY_MIGRATE_DATABASE_URL); the application role only gets grants."""

import logging
import os
from logging.config import fileConfig

import sqlalchemy as sa
from alembic import context
from flask import current_app

config = context.config
if config.config_file_name and not logging.getLogger().handlers:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_db = current_app.extensions["migrate"].db


def _url() -> str:
    owner = os.environ.get("TENANTRY_MIGRATE_DATABASE_URL")
    if owner:
        for prefix in ("postgres://", "postgresql://"):
            if owner.startswith(prefix):
                owner = "postgresql+psycopg://" + owner[len(prefix):]
        return owner
    return target_db.engine.url.render_as_string(hide_password=False)


def _configure(**kw):
    context.configure(
        target_metadata=target_db.metadata,
        compare_type=True,
        render_as_batch=True,
        **kw,
    )


def run_migrations_offline():
    _configure(url=_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def _sqlite_engine(url: str) -> sa.Engine:
    """An engine whose transactions hold DDL too. pysqlite opens a transaction only before
    INSERT, UPDATE or DELETE, so a migration's CREATE and ALTER ran each on its own and one
    that failed half-way left the schema half changed, not re-runnable. SQLite's DDL is
    transactional when asked: the driver is told to keep out (autocommit) and the BEGIN is
    ours. Foreign keys go off for the whole connection, before any transaction (the pragma
    is a no-op inside one): a batch migration copies a table and drops the old one, which
    SQLite refuses while another table's keys point at it (deals, from activities); SQLite's
    own way to alter a table is keys off for the change, then checked (run_migrations_online)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)

    @sa.event.listens_for(engine, "connect")
    def _driver_keeps_out(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA foreign_keys=OFF")

    @sa.event.listens_for(engine, "begin")
    def _begin(connection):
        connection.exec_driver_sql("BEGIN")

    return engine


def run_migrations_online():
    url = _url()
    sqlite = sa.make_url(url).get_backend_name() == "sqlite"
    engine = _sqlite_engine(url) if sqlite else sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        # One transaction for the whole upgrade on both databases (Alembic assumes SQLite's
        # DDL is not transactional unless told).
        _configure(connection=connection, transactional_ddl=True)
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(f"the migration left rows whose foreign keys point nowhere: {broken[:5]}")
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
