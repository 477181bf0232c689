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


def run_migrations_online():
    engine = sa.create_engine(_url(), poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # A batch migration copies a table and drops the old one, which SQLite refuses while
            # another table's foreign keys point at it (deals, from activities). SQLite's own way
            # to alter a table: keys off for the change, then checked (below). The pragma is a
            # no-op inside a transaction, hence before it.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(f"the migration left rows whose foreign keys point nowhere: {broken[:5]}")
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
