"""Migrations: one head; the migrated schema is exactly the models' (on both databases); on
PostgreSQL every tenant-owned table is under forced row-level security and not owned by the
application role; and the chain downgrades to nothing and up again."""

from __future__ import annotations

import gc
import time

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from tenantry.platform.db import db
from tenantry.platform.tenancy import tenant_owned_tables
from tests.conftest import ROOT, migrate, pg_url, with_database


def _scripts() -> ScriptDirectory:
    config = Config(str(ROOT / "migrations" / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    return ScriptDirectory.from_config(config)


def test_there_is_exactly_one_head():
    heads = _scripts().get_heads()
    assert len(heads) == 1, f"several alembic heads, merge them: {heads}"


def test_the_database_is_at_the_head(database):
    engine = database.engine(owner=True)  # the app role has no business reading alembic_version
    with engine.connect() as conn:
        current = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    engine.dispose()
    assert current == list(_scripts().get_heads())


def test_migrations_match_the_models(app_ctx, db_kind):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": False})
        diff = compare_metadata(context, db.metadata)
    assert diff == [], f"the models and migrations differ on {db_kind}; run `flask db migrate`:\n{diff}"


@pytest.mark.postgres_only
@pytest.mark.obligation("DPA-B.access-control")
def test_every_tenant_owned_table_has_forced_rls_and_is_not_owned_by_the_app_role(app_ctx):
    names = [t.name for t in tenant_owned_tables()]
    assert names
    rows = db.session.execute(
        sa.text(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, pg_get_userbyid(c.relowner) AS owner, "
            "(SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relname = ANY(:names)"
        ),
        {"names": names},
    ).mappings().all()
    by_name = {r["relname"]: r for r in rows}
    assert sorted(by_name) == sorted(names), "a tenant-owned model has no table"
    for name in names:
        row = by_name[name]
        assert row["relrowsecurity"] and row["relforcerowsecurity"], f"{name}: row-level security not forced"
        assert row["policies"] >= 1, f"{name}: no policy"
        assert row["owner"] != "tenantry_app", f"{name} is owned by the application role"


@pytest.mark.postgres_only
def test_the_app_role_owns_nothing_and_cannot_bypass_rls(app_ctx):
    role = db.session.execute(
        sa.text("SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user")
    ).one()
    assert tuple(role) == (False, False, False, False)
    owned = db.session.execute(
        sa.text("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) = current_user")
    ).scalar()
    assert owned == 0
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
        db.session.execute(sa.text("CREATE TABLE intruder (id int)"))
    db.session.rollback()


def _drop_database(conn, name: str) -> None:
    """DROP ... WITH (FORCE) as the owner, once the sessions the migrate commands opened are
    gone. FORCE may not end another role's session (the app role's, which an app made for a
    migration may still hold until its engine's connections are collected): waiting for them
    is what made the drop stop failing now and then."""
    for _ in range(100):
        if conn.execute(sa.text("SELECT 1 FROM pg_stat_activity WHERE datname = :name"), {"name": name}).first() is None:
            break
        gc.collect()  # a connection dropped without close() is closed when collected
        time.sleep(0.05)
    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_downgrade_to_base_and_upgrade_again(database, tmp_path):
    """The whole chain runs both ways, on a database of its own."""
    if database.kind == "sqlite":
        url, owner_url = f"sqlite:///{tmp_path / 'roundtrip.sqlite3'}", None
        cleanup = None
    else:
        name = f"{sa.make_url(database.url).database}_roundtrip"
        admin = sa.create_engine(pg_url(database.owner_url), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        with admin.connect() as conn:
            _drop_database(conn, name)
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url, owner_url = with_database(database.url, name), with_database(database.owner_url, name)

        def cleanup():
            with admin.connect() as conn:
                _drop_database(conn, name)
            admin.dispose()

    try:
        migrate(url, owner_url, tmp_path / "instance")
        migrate(url, owner_url, tmp_path / "instance", revision="base", direction="downgrade")
        engine = sa.create_engine(pg_url(url) if owner_url else url, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            left = set(sa.inspect(conn).get_table_names()) - {"alembic_version"}
        engine.dispose()
        assert left == set(), f"downgrade left tables behind: {sorted(left)}"
        migrate(url, owner_url, tmp_path / "instance")
    finally:
        if cleanup:
            cleanup()
