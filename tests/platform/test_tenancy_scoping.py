"""Tenant scoping: the ORM filters every tenant-owned query to the current tenant, refuses
tenant-owned work without one, and on PostgreSQL row-level security holds even for raw SQL."""

import uuid

import pytest
import sqlalchemy as sa

from tenantry.platform.db import db
from tenantry.platform.identity.models import Membership, User
from tenantry.platform.tenancy import TenancyError, Tenant, all_tenants, tenant_context, tenant_owned_tables


@pytest.fixture
def two_tenants(app_ctx):
    """Tenants A and B, created straight through the ORM, with two and three members."""
    a = Tenant(slug="alpha", name="Alpha", country="CZ")
    b = Tenant(slug="beta", name="Beta", country="DE")
    db.session.add_all([a, b])
    db.session.flush()
    for tenant, count in ((a, 2), (b, 3)):
        with tenant_context(tenant):
            for i in range(count):
                user = User(email=f"{tenant.slug}{i}@example.com", name=f"{tenant.slug} {i}")
                db.session.add(user)
                db.session.flush()
                db.session.add(Membership(user_id=user.id, role="member"))
            db.session.flush()
    db.session.commit()
    return a, b


def _memberships():
    return db.session.execute(sa.select(Membership)).scalars().all()


@pytest.mark.obligation("DPA-B.access-control")
def test_queries_in_a_tenant_context_never_return_another_tenants_rows(two_tenants):
    a, b = two_tenants
    with tenant_context(a):
        rows = _memberships()
        assert len(rows) == 2 and {m.tenant_id for m in rows} == {a.id}
        # Also when the query names the other tenant outright, or goes by primary key.
        assert db.session.execute(sa.select(Membership).where(Membership.tenant_id == b.id)).all() == []
        assert db.session.execute(sa.select(sa.func.count(Membership.id))).scalar() == 2
    with all_tenants():
        b_row = db.session.execute(sa.select(Membership).where(Membership.tenant_id == b.id)).scalars().first()
        b_id = b_row.id
    db.session.expunge_all()  # no identity-map shortcut
    with tenant_context(a):
        assert db.session.execute(sa.select(Membership).where(Membership.id == b_id)).scalar_one_or_none() is None
        # Bulk UPDATE and DELETE are scoped too.
        db.session.execute(sa.update(Membership).values(role="viewer"))
        db.session.execute(sa.delete(Membership).where(Membership.id == b_id))
        db.session.commit()
    with tenant_context(b):
        rows = _memberships()
        assert len(rows) == 3 and {m.role for m in rows} == {"member"} and {m.tenant_id for m in rows} == {b.id}


def test_an_object_refreshed_after_every_commit_gathers_no_criteria(two_tenants):
    """A job keeps its rows across many commits; each refresh must cost what the first did."""
    a, b = two_tenants
    with tenant_context(a):
        member = _memberships()[0]
        db.session.commit()
        _ = member.role
        options = len(sa.inspect(member).load_options)
        for _i in range(5):
            db.session.commit()
            assert member.role == "member"
        assert len(sa.inspect(member).load_options) == options
        db.session.commit()
    if db.engine.dialect.name == "postgresql":
        # A refresh by primary key carries no ORM criterion (SQLAlchemy applies none to it);
        # row-level security is what keeps it from reading the row in another tenant's context.
        with tenant_context(b), pytest.raises(sa.orm.exc.ObjectDeletedError):
            _ = member.role
        db.session.rollback()


@pytest.mark.obligation("DPA-B.access-control")
def test_joined_tenant_owned_entities_are_scoped(two_tenants):
    a, _ = two_tenants
    with tenant_context(a):
        emails = db.session.execute(
            sa.select(User.email).join(Membership, Membership.user_id == User.id).order_by(User.email)
        ).scalars().all()
    assert emails == ["alpha0@example.com", "alpha1@example.com"]


@pytest.mark.obligation("DPA-B.access-control")
def test_a_tenant_owned_query_without_a_tenant_raises(two_tenants):
    with pytest.raises(TenancyError, match="without a current tenant"):
        _memberships()
    db.session.rollback()
    with pytest.raises(TenancyError):
        db.session.execute(sa.update(Membership).values(role="viewer"))
    db.session.rollback()


def test_platform_tables_need_no_tenant(two_tenants):
    assert {t.slug for t in db.session.execute(sa.select(Tenant)).scalars()} == {"alpha", "beta"}


def test_all_tenants_sees_both(two_tenants):
    a, b = two_tenants
    with all_tenants():
        rows = _memberships()
    assert len(rows) == 5 and {m.tenant_id for m in rows} == {a.id, b.id}


def test_all_tenants_ends_with_its_block(two_tenants):
    with all_tenants():
        _memberships()
    with pytest.raises(TenancyError):
        _memberships()
    db.session.rollback()


@pytest.mark.obligation("DPA-B.access-control")
def test_saving_a_row_of_tenant_b_inside_tenant_a_raises(two_tenants):
    a, b = two_tenants
    with all_tenants():
        user = db.session.execute(sa.select(User).where(User.email == "beta0@example.com")).scalar_one()
    with pytest.raises(TenancyError, match="another tenant"), tenant_context(a):
        db.session.add(Membership(tenant_id=b.id, user_id=user.id, role="owner"))
        db.session.flush()
    db.session.rollback()


@pytest.mark.obligation("DPA-B.access-control")
def test_moving_a_row_to_another_tenant_raises(two_tenants):
    a, b = two_tenants
    with pytest.raises(TenancyError, match="another tenant"), tenant_context(a):
        membership = _memberships()[0]
        membership.tenant_id = b.id
        db.session.flush()
    db.session.rollback()


def test_a_new_row_takes_the_current_tenant(two_tenants):
    a, _ = two_tenants
    user = User(email="new@example.com")
    db.session.add(user)
    db.session.flush()
    with tenant_context(a):
        membership = Membership(user_id=user.id, role="viewer")
        db.session.add(membership)
        db.session.flush()
        assert membership.tenant_id == a.id
    db.session.commit()


def test_saving_a_tenant_owned_row_without_a_tenant_raises(two_tenants):
    a, _ = two_tenants
    user = User(email="orphan@example.com")
    db.session.add(user)
    db.session.flush()
    db.session.add(Membership(user_id=user.id, role="viewer"))
    with pytest.raises(TenancyError, match="without a current tenant"):
        db.session.flush()
    db.session.rollback()


def test_saving_with_an_explicit_tenant_but_no_context_raises_on_every_database(two_tenants):
    """PostgreSQL's row-level security refuses this write; the ORM refuses it first, so the
    mistake shows on SQLite too instead of only in production."""
    a, _ = two_tenants
    user = User(email="explicit@example.com")
    db.session.add(user)
    db.session.flush()
    db.session.add(Membership(tenant_id=a.id, user_id=user.id, role="viewer"))
    with pytest.raises(TenancyError, match="without a current tenant"):
        db.session.flush()
    db.session.rollback()


def test_rows_added_in_a_context_are_written_as_that_tenant_when_it_ends(two_tenants):
    """Committing after the block is the common pattern: the rows must not wait for a flush
    outside the context, where PostgreSQL's row-level security would refuse them."""
    a, _ = two_tenants
    user = User(email="late@example.com")
    db.session.add(user)
    db.session.flush()
    with tenant_context(a):
        db.session.add(Membership(user_id=user.id, role="viewer"))
    db.session.commit()
    with tenant_context(a):
        assert len(_memberships()) == 3


def test_every_tenant_owned_table_leads_a_key_with_tenant_id(app_ctx):
    tables = tenant_owned_tables()
    assert {"memberships", "invitations", "agreement_acceptances"} <= {t.name for t in tables}
    for table in tables:
        assert table.c.tenant_id.nullable is False
        keys = [list(table.primary_key.columns)] + [
            list(c.columns) for c in table.constraints if isinstance(c, sa.UniqueConstraint)
        ]
        assert any(cols and cols[0].name == "tenant_id" for cols in keys), table.name


# --- PostgreSQL: row-level security is the second line ---------------------------------------


def _raw_memberships():
    return db.session.execute(sa.text("SELECT * FROM memberships")).mappings().all()


@pytest.mark.postgres_only
@pytest.mark.obligation("DPA-B.access-control")
def test_rls_alone_hides_other_tenants_rows_from_raw_sql(two_tenants):
    a, b = two_tenants
    assert db.session.execute(sa.text("SELECT current_user")).scalar() == "tenantry_app"
    with tenant_context(a):
        # Plain SQL, no WHERE: the ORM adds nothing, only the database's policy filters.
        rows = _raw_memberships()
        assert len(rows) == 2 and {r["tenant_id"] for r in rows} == {a.id}
        assert db.session.execute(sa.text("SELECT count(*) FROM memberships WHERE tenant_id = :b"),
                                  {"b": b.id}).scalar() == 0
    db.session.commit()
    # Without any tenant, raw SQL sees nothing at all; the explicit cross-tenant mode sees both.
    assert _raw_memberships() == []
    with all_tenants():
        assert len(_raw_memberships()) == 5
    db.session.commit()


@pytest.mark.postgres_only
@pytest.mark.obligation("DPA-B.access-control")
def test_rls_refuses_a_raw_insert_for_another_tenant(two_tenants):
    a, b = two_tenants
    with all_tenants():
        user_id = db.session.execute(sa.text("SELECT id FROM users WHERE email = 'beta0@example.com'")).scalar()
    db.session.commit()
    with tenant_context(a), pytest.raises(sa.exc.ProgrammingError, match="row-level security"):
        db.session.execute(
            sa.text("INSERT INTO memberships (id, tenant_id, user_id, role, created_at) "
                    "VALUES (:id, :tenant, :user, 'owner', now())"),
            {"id": uuid.uuid4(), "tenant": b.id, "user": user_id},
        )
    db.session.rollback()
    with tenant_context(b):
        assert len(_raw_memberships()) == 3


@pytest.mark.postgres_only
@pytest.mark.obligation("DPA-B.access-control")
def test_rls_refuses_raw_updates_and_deletes_across_tenants(two_tenants):
    a, b = two_tenants
    with tenant_context(a):
        updated = db.session.execute(sa.text("UPDATE memberships SET role = 'viewer' WHERE tenant_id = :b"),
                                     {"b": b.id})
        deleted = db.session.execute(sa.text("DELETE FROM memberships WHERE tenant_id = :b"), {"b": b.id})
        assert updated.rowcount == 0 and deleted.rowcount == 0
        with pytest.raises(sa.exc.ProgrammingError, match="row-level security"):
            db.session.execute(sa.text("UPDATE memberships SET tenant_id = :b"), {"b": b.id})
    db.session.rollback()


@pytest.mark.postgres_only
@pytest.mark.obligation("DPA-B.access-control")
def test_a_tenant_context_inside_all_tenants_is_one_tenant_for_rls_too(two_tenants):
    a, _ = two_tenants
    with all_tenants():
        assert len(_raw_memberships()) == 5
        with tenant_context(a):
            assert {r["tenant_id"] for r in _raw_memberships()} == {a.id}
        assert len(_raw_memberships()) == 5
    db.session.commit()


@pytest.mark.postgres_only
def test_the_app_role_cannot_switch_rls_off(two_tenants):
    with pytest.raises(sa.exc.ProgrammingError, match="must be owner"):
        db.session.execute(sa.text("ALTER TABLE memberships DISABLE ROW LEVEL SECURITY"))
    db.session.rollback()


class _SettingsSent:
    """Counts the row-level security settings sent to PostgreSQL (they go to the driver
    directly, before the statement that needs them)."""

    def __init__(self, monkeypatch):
        import psycopg

        from tenantry.platform import tenancy

        self.sent: list[dict] = []

        original = psycopg.Connection.execute
        begin = tenancy._begin_with_settings

        def execute(conn, query, params=None, *args, **kwargs):
            if query is tenancy._SET_PG_DRIVER:
                self.sent.append(dict(params))
            return original(conn, query, params, *args, **kwargs)

        def begin_with_settings(driver, wanted):
            self.sent.append(dict(wanted))
            return begin(driver, wanted)

        monkeypatch.setattr(psycopg.Connection, "execute", execute)
        monkeypatch.setattr(tenancy, "_begin_with_settings", begin_with_settings)


def _setting() -> tuple[str, str]:
    return tuple(db.session.execute(sa.text(
        "SELECT current_setting('tenantry.tenant_id', true), current_setting('tenantry.all_tenants', true)")).one())


@pytest.mark.postgres_only
@pytest.mark.obligation("DPA-B.access-control")
def test_a_context_change_reaches_postgresql_with_the_next_statement_and_only_once(two_tenants, monkeypatch):
    a, b = two_tenants
    watch = _SettingsSent(monkeypatch)
    a_id = a.id  # a refresh: a statement of its own, outside any tenant
    watch.sent.clear()
    with all_tenants():
        assert len(_raw_memberships()) == 5
        assert watch.sent == [{"tid": "", "cross": "on"}]
    # Leaving all_tenants() and entering a tenant's context with no statement in between: the
    # database hears of the tenant once, with the statement that needs it.
    with tenant_context(a):
        assert {r["tenant_id"] for r in _raw_memberships()} == {a_id}
        sent = len(watch.sent)
        assert {r["tenant_id"] for r in _raw_memberships()} == {a_id}
        assert _setting() == (str(a_id), "off")
        assert len(watch.sent) == sent  # unchanged context, nothing more sent
    assert watch.sent == [{"tid": "", "cross": "on"}, {"tid": str(a_id), "cross": "off"}]
    # After the context, the next statement runs with no tenant: nothing visible.
    assert _raw_memberships() == []
    db.session.commit()
    with tenant_context(b):
        assert {r["tenant_id"] for r in _raw_memberships()} == {b.id}
    db.session.commit()


@pytest.mark.postgres_only
@pytest.mark.obligation("DPA-B.access-control")
def test_a_rolled_back_savepoint_does_not_leave_its_tenant_setting_behind(two_tenants):
    a, b = two_tenants
    with tenant_context(a):
        assert _setting()[0] == str(a.id)
        savepoint = db.session.begin_nested()
        with tenant_context(b):
            assert {r["tenant_id"] for r in _raw_memberships()} == {b.id}
        assert _setting()[0] == str(a.id)
        with tenant_context(b):
            assert _setting()[0] == str(b.id)
            # Rolling back undoes what PostgreSQL was told inside the savepoint (b); the
            # next statement must be told again, not assumed to run as b.
            savepoint.rollback()
            assert _setting()[0] == str(b.id)
        assert {r["tenant_id"] for r in _raw_memberships()} == {a.id}
    db.session.rollback()


@pytest.mark.postgres_only
def test_a_connection_of_its_own_keeps_the_settings_it_sets(two_tenants):
    """Code that opens its own connection (an export's progress) sets its tenant itself; the
    session's settings must not overwrite it, whatever context is current."""
    a, b = two_tenants
    with tenant_context(a):
        assert _setting()[0] == str(a.id)
        with db.engine.begin() as conn:
            conn.execute(sa.text("SELECT set_config('tenantry.tenant_id', :tid, true)"), {"tid": str(b.id)})
            rows = conn.execute(sa.text("SELECT tenant_id FROM memberships")).scalars().all()
        assert set(rows) == {b.id}
    db.session.rollback()


def _sent_to_postgresql(driver, tmp_path, work) -> list[str]:
    """The messages that run a statement (a simple Query, or a Bind of the extended protocol)
    which libpq sends while `work` runs, from its protocol trace."""
    from psycopg import pq

    trace = tmp_path / "libpq.trace"
    with open(trace, "w") as out:
        driver.pgconn.trace(out.fileno())
        driver.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            work()
        finally:
            driver.pgconn.untrace()
    return [line for line in trace.read_text().splitlines()
            if line.startswith("F\t") and line.split("\t")[2] in ("Query", "Bind")]


@pytest.mark.postgres_only
@pytest.mark.obligation("DPA-B.access-control")
def test_a_transaction_begins_together_with_its_tenant_settings(two_tenants, tmp_path):
    """BEGIN and the settings go in one round trip, not BEGIN first and the settings after."""
    a, _ = two_tenants
    a_id = a.id
    db.session.expunge(a)  # no refresh of it inside the traced work
    db.session.rollback()
    driver = db.session.connection().connection.driver_connection  # no BEGIN sent yet
    seen = {}

    def read():
        with tenant_context(a):
            seen["rows"] = _raw_memberships()
            seen["setting"] = _setting()

    sent = _sent_to_postgresql(driver, tmp_path, read)
    assert {r["tenant_id"] for r in seen["rows"]} == {a_id} and seen["setting"] == (str(a_id), "off")
    assert "BEGIN; SELECT set_config('tenantry.tenant_id'" in sent[0] and str(a_id) in sent[0]
    assert len(sent) == 3, sent  # that, the memberships, the settings read back: no BEGIN of its own
    assert not any('"BEGIN"' in line for line in sent)
    db.session.rollback()


@pytest.mark.postgres_only
@pytest.mark.obligation("DPA-B.access-control")
def test_a_transaction_with_its_own_isolation_level_still_gets_the_tenant_settings(two_tenants):
    a, _ = two_tenants
    db.session.commit()
    conn = db.session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    assert conn.connection.driver_connection.isolation_level is not None  # psycopg's BEGIN is kept
    with tenant_context(a):
        assert {r["tenant_id"] for r in _raw_memberships()} == {a.id}
        assert _setting() == (str(a.id), "off")
        assert db.session.execute(sa.text("SHOW transaction_isolation")).scalar() == "repeatable read"
    db.session.rollback()
