"""Migrations: one head; the migrated schema is exactly the models' (on both databases); on
PostgreSQL every tenant-owned table is under forced row-level security and not owned by the
application role; and the chain downgrades to nothing and up again."""

from __future__ import annotations

import contextlib
import gc
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from tenantry.platform import clock
from tenantry.platform.db import db
from tenantry.platform.tenancy import tenant_owned_tables
from tests.conftest import ROOT, migrate, pg_url, with_database

LAST_CHANGE = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


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


@contextlib.contextmanager
def _own_database(database, tmp_path, suffix: str):
    """(url, owner_url) of a new, empty database beside the test database, dropped afterwards
    (on SQLite a file; owner_url None)."""
    if database.kind == "sqlite":
        yield f"sqlite:///{tmp_path / (suffix + '.sqlite3')}", None
        return
    name = f"{sa.make_url(database.url).database}_{suffix}"
    admin = sa.create_engine(pg_url(database.owner_url), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        _drop_database(conn, name)
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield with_database(database.url, name), with_database(database.owner_url, name)
    finally:
        with admin.connect() as conn:
            _drop_database(conn, name)
        admin.dispose()


def test_downgrade_to_base_and_upgrade_again(database, tmp_path):
    """The whole chain runs both ways, on a database of its own."""
    with _own_database(database, tmp_path, "roundtrip") as (url, owner_url):
        migrate(url, owner_url, tmp_path / "instance")
        migrate(url, owner_url, tmp_path / "instance", revision="base", direction="downgrade")
        engine = sa.create_engine(pg_url(url) if owner_url else url, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            left = set(sa.inspect(conn).get_table_names()) - {"alembic_version"}
        engine.dispose()
        assert left == set(), f"downgrade left tables behind: {sorted(left)}"
        migrate(url, owner_url, tmp_path / "instance")


def _two_tenants(url: str, instance, seed) -> None:
    """acme and globex at the head of the chain, each given its rows by seed(tenant) in its
    own context, committed."""
    from tenantry import create_app
    from tenantry.platform.tenancy import tenant_context
    from tests import factories
    from tests.conftest import dispose

    app = create_app({"TENANTRY_ENV": "test", "DATABASE_URL": url, "TENANTRY_INSTANCE_DIR": str(instance),
                      "TENANTRY_SECRET_KEY": "m" * 40, "REDIS_URL": ""})
    try:
        with app.app_context():
            for slug in ("acme", "globex"):
                tenant = factories.make_tenant(slug)
                with tenant_context(tenant):
                    seed(tenant)
                db.session.commit()
    finally:
        dispose(app)


def _two_tenants_with_a_deal(url: str, instance) -> None:
    """Each with a deal in its first default stage and an activity on it (which points at the
    deal: SQLite's table copies must keep it)."""
    from tenantry.tenants.crm import activities, deals, stages

    def seed(_tenant):
        deal = deals.create(deals.DealData(title="Gates", value=Decimal("1"), currency="CZK",
                                           stage_id=stages.ensure_defaults()[0].id))
        activities.create("deal", deal.id, activities.ActivityData(kind="call", note="Call back"))

    _two_tenants(url, instance, seed)


def _as_owner(url: str, owner_url: str | None):
    """An engine of the schema owner, and the statement that lets it see every tenant's rows."""
    owner = sa.create_engine(pg_url(owner_url) if owner_url else url, poolclass=sa.pool.NullPool)
    return owner, sa.text("SELECT set_config('tenantry.all_tenants', 'on', false)" if owner_url else "SELECT 1")


def test_existing_deals_take_their_last_change_as_when_they_entered_their_stage(database, tmp_path):
    """0028 fills stage_changed_at of every tenant's deals, row-level security and all (the
    table obeys it even for its owner, who runs the migration)."""
    from tenantry.tenants.crm.models import Deal

    instance = tmp_path / "instance"
    with _own_database(database, tmp_path, "stage_changed") as (url, owner_url):
        migrate(url, owner_url, instance)
        _two_tenants_with_a_deal(url, instance)
        migrate(url, owner_url, instance, revision="0027", direction="downgrade")
        owner, across = _as_owner(url, owner_url)
        with owner.begin() as conn:
            conn.execute(across)
            # Typed, as the app stores it; a bare table of the old schema (the model's would set changed_at too).
            deals = sa.table("deals", sa.column("updated_at", Deal.__table__.c.updated_at.type))
            conn.execute(sa.update(deals).values(updated_at=LAST_CHANGE))
        migrate(url, owner_url, instance)
        with owner.begin() as conn:
            conn.execute(across)
            filled = conn.execute(sa.select(Deal.__table__.c.stage_changed_at)).scalars().all()
        owner.dispose()
        assert len(filled) == 2 and all(clock.aware(when) == LAST_CHANGE for when in filled), filled


def test_existing_stages_take_a_probability_of_100_and_lost_ones_0(database, tmp_path):
    """0030 fills the probability of every tenant's stages, in place (its deals stay: a copy of
    the table on SQLite would trip their foreign keys), row-level security and all."""
    from tenantry.tenants.crm import stages
    from tenantry.tenants.crm.models import Deal, PipelineStage

    instance = tmp_path / "instance"
    with _own_database(database, tmp_path, "stage_probability") as (url, owner_url):
        migrate(url, owner_url, instance)
        _two_tenants_with_a_deal(url, instance)
        migrate(url, owner_url, instance, revision="0029", direction="downgrade")
        migrate(url, owner_url, instance)
        owner, across = _as_owner(url, owner_url)
        table = PipelineStage.__table__
        with owner.begin() as conn:
            conn.execute(across)
            filled = conn.execute(sa.select(table.c.name, table.c.probability)).all()
            kept = conn.execute(sa.select(sa.func.count()).select_from(Deal.__table__)).scalar_one()
        owner.dispose()
        assert sorted(filled) == sorted([(name, 0 if name == "Lost" else 100) for name, *_ in stages.DEFAULTS] * 2)
        assert kept == 2


def test_the_table_copies_of_sqlite_keep_the_rows_that_point_at_the_table(database, tmp_path):
    """A batch migration on SQLite copies a table and drops the old one; with deals that have
    activities, the drop failed on their foreign keys (0028, both ways), so an embedded database
    with a deal's activity could not be upgraded past 0027. env.py turns the keys off for the
    change and checks them after, as SQLite prescribes."""
    from tenantry.tenants.crm.models import Activity, Deal

    instance = tmp_path / "instance"
    with _own_database(database, tmp_path, "table_copies") as (url, owner_url):
        migrate(url, owner_url, instance)
        _two_tenants_with_a_deal(url, instance)
        migrate(url, owner_url, instance, revision="0026", direction="downgrade")
        migrate(url, owner_url, instance)
        owner, across = _as_owner(url, owner_url)
        with owner.begin() as conn:
            conn.execute(across)
            linked = conn.execute(sa.select(sa.func.count()).select_from(Activity.__table__.join(
                Deal.__table__, sa.and_(Activity.__table__.c.deal_id == Deal.__table__.c.id,
                                        Activity.__table__.c.tenant_id == Deal.__table__.c.tenant_id)))).scalar_one()
            if owner_url is None:  # the keys are on again for the app, and hold
                assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
        owner.dispose()
        assert linked == 2


def test_a_migration_that_fails_half_way_leaves_nothing_half_done(database, tmp_path):
    """0031 creates lost_reasons and then adds a column to deals. With an obstacle to the
    second step (PostgreSQL: the column is there already; SQLite: the table its copy of deals
    is built in), it fails; the first step must be undone with it and the version stay at
    0030, so that once the obstacle is gone the same upgrade runs again. PostgreSQL's DDL is
    transactional; SQLite's is too, but pysqlite runs it outside a transaction unless told."""
    instance = tmp_path / "instance"
    with _own_database(database, tmp_path, "half_way") as (url, owner_url):
        migrate(url, owner_url, instance, revision="0030")
        owner, _across = _as_owner(url, owner_url)
        obstacle = ("ALTER TABLE deals ADD COLUMN lost_reason_id VARCHAR(36)" if owner_url
                    else "CREATE TABLE _alembic_tmp_deals (id INTEGER)")
        with owner.begin() as conn:
            conn.exec_driver_sql(obstacle)
        with pytest.raises(Exception, match="lost_reason_id|_alembic_tmp_deals"):
            migrate(url, owner_url, instance)
        with owner.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
        assert "lost_reasons" not in tables
        assert version == "0030"
        with owner.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE deals DROP COLUMN lost_reason_id" if owner_url
                                 else "DROP TABLE _alembic_tmp_deals")
        owner.dispose()
        migrate(url, owner_url, instance)
        _two_tenants_with_a_deal(url, instance)


def test_special_category_values_lose_the_digests_0034_gave_them(database, tmp_path):
    """0035 drops the blind indexes of special-category custom values (every tenant's, row-level
    security and all) and keeps the others'; its downgrade sends those tenants back to index
    version 4, so that 0034's code decrypts until the sweep has refilled them."""
    from datetime import date

    from tenantry.dpa import special_categories
    from tenantry.tenants.crm import contacts, custom_fields, index_builds
    from tenantry.tenants.crm.models import SearchIndexBuild
    from tests import factories

    def seed(tenant):
        index_builds.start_current(tenant.id)  # as sign-up does
        special_categories.record(tenant.id, special_categories.AgreementData(
            reference="Annex 3", signed_by="Jan Novák", signed_on=date(2026, 1, 5),
            categories=["health"], scope="Allergies"), staff=factories.make_staff("dpo"))
        made = [custom_fields.create(custom_fields.DefinitionData(
            label=key, key=key, type="text", options=[], required=False, special_category=special))
            for key, special in (("allergy", True), ("segment", False))]
        contact = contacts.create(contacts.ContactData(first_name="Jana"))
        custom_fields.save(contact, {made[0].id: "Peanuts", made[1].id: "SMB"}, only=made)

    values = custom_fields.CustomValue.__table__
    instance = tmp_path / "instance"
    with _own_database(database, tmp_path, "special_digests") as (url, owner_url):
        migrate(url, owner_url, instance)
        _two_tenants(url, instance, seed)
        migrate(url, owner_url, instance, revision="0034", direction="downgrade")
        owner, across = _as_owner(url, owner_url)
        builds = SearchIndexBuild.__table__
        with owner.begin() as conn:
            conn.execute(across)
            assert conn.execute(sa.select(builds.c.version)).scalars().all() == [4, 4]
            conn.execute(sa.update(values).where(values.c.digest.is_(None)).values(digest="f" * 64))  # as 0034 wrote
        migrate(url, owner_url, instance)
        with owner.begin() as conn:
            conn.execute(across)
            fields_ = custom_fields.CustomField.__table__
            kept = dict(conn.execute(sa.select(fields_.c.key, sa.func.count(values.c.digest))
                                     .join(values, values.c.field_id == fields_.c.id).group_by(fields_.c.key)).all())
        owner.dispose()
        assert kept == {"allergy": 0, "segment": 2}
