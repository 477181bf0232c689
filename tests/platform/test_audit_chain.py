"""The audit trail's hash chain: events chain per tenant and for the platform, and `tenantry
audit verify` catches an edited, deleted, reordered or cut-off event, naming the first bad one.
Tampering is done the way an intruder with database access would: raw SQL as the schema owner."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from tenantry.platform import audit, audit_chain
from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.tenancy import all_tenants, tenant_context
from tests.factories import make_tenant


def _chain_rows(chain: str) -> list[AuditEvent]:
    rows = list(db.session.execute(
        sa.select(AuditEvent).where(AuditEvent.chain == chain).order_by(AuditEvent.seq)
    ).scalars())
    # Detached, so the tests can still read them after raw SQL changed or removed the rows.
    for row in rows:
        db.session.expunge(row)
    return rows


def _verify(app, *args: str):
    return app.test_cli_runner().invoke(args=["tenantry", "audit", "verify", *args])


@pytest.fixture
def trail(app, app_ctx):
    """A tenant with ten events of its own on top of those its creation wrote, committed."""
    tenant = make_tenant("acme")
    for i in range(10):
        audit.record("test.event", tenant_id=tenant.id, target_type="contact", target_id=i, details={"n": i})
    db.session.commit()
    return tenant


def _owner_sql(database, sql: str, **params) -> None:
    engine = database.engine(owner=True)
    with engine.begin() as conn:
        conn.execute(sa.text(sql), params)
    engine.dispose()


def test_events_chain_per_tenant_and_for_the_platform_in_the_order_they_were_added(app, app_ctx):
    first, second = make_tenant("first"), make_tenant("second")
    db.session.commit()
    before = {t.slug: len(_chain_rows(str(t.id))) for t in (first, second)}
    # Interleaved chains and a flush in the middle: each chain still numbers its own events.
    for i in range(3):
        audit.record("test.a", tenant_id=first.id, details={"i": i})
        audit.record("test.b", tenant_id=second.id, details={"i": i})
        audit.record("test.platform", details={"i": i})
        db.session.flush()
    audit.record("test.a", tenant_id=first.id, details={"i": 3})
    db.session.commit()

    rows = _chain_rows(str(first.id))
    assert [r.seq for r in rows] == list(range(1, before["first"] + 5))
    assert [r.details["i"] for r in rows if r.action == "test.a"] == [0, 1, 2, 3]
    assert [r.seq for r in _chain_rows(str(second.id))] == list(range(1, before["second"] + 4))
    platform = _chain_rows(audit_chain.PLATFORM_CHAIN)
    assert [r.details for r in platform if r.action == "test.platform"] == [{"i": 0}, {"i": 1}, {"i": 2}]
    # Each hash covers its predecessor's.
    assert rows[0].hash == audit_chain.link(audit_chain.GENESIS, audit_chain.fields_of(rows[0]))
    assert rows[1].hash == audit_chain.link(rows[0].hash, audit_chain.fields_of(rows[1]))
    head = db.session.get(audit_chain.AuditHead, str(first.id))
    assert (head.seq, head.hash) == (rows[-1].seq, rows[-1].hash)

    for args in (["first"], ["second"], ["--platform"]):
        result = _verify(app, *args)
        assert result.exit_code == 0, result.output
        assert "OK" in result.output


def test_a_rolled_back_event_leaves_no_gap(app, app_ctx):
    tenant = make_tenant("rolled")
    db.session.commit()
    audit.record("test.kept", tenant_id=tenant.id)
    db.session.commit()
    audit.record("test.lost", tenant_id=tenant.id)
    db.session.flush()
    db.session.rollback()
    audit.record("test.kept", tenant_id=tenant.id)
    db.session.commit()
    assert _verify(app, "rolled").exit_code == 0


def test_an_edited_event_is_named(app, trail, database):
    victim = _chain_rows(str(trail.id))[-5]
    db.session.commit()
    _owner_sql(database, "UPDATE audit_events SET target_id = 'someone-else' WHERE id = :id", id=victim.id)
    result = _verify(app, "acme")
    assert result.exit_code == 1
    assert f"seq {victim.seq} (event id {victim.id})" in result.output
    assert "does not match its hash" in result.output


def test_an_event_edited_with_its_hash_recomputed_still_breaks_the_next_link(app, trail, database):
    rows = _chain_rows(str(trail.id))
    victim, following = rows[-3], rows[-2]
    fields = dict(audit_chain.fields_of(victim), outcome="failure")
    forged = audit_chain.link(rows[-4].hash, fields)
    db.session.commit()
    _owner_sql(database, "UPDATE audit_events SET outcome = 'failure', hash = :h WHERE id = :id", h=forged, id=victim.id)
    result = _verify(app, "acme")
    assert result.exit_code == 1
    assert f"seq {following.seq} (event id {following.id})" in result.output


def test_a_deleted_event_is_named_by_the_gap_it_leaves(app, trail, database):
    rows = _chain_rows(str(trail.id))
    victim, following = rows[-6], rows[-5]
    db.session.commit()
    _owner_sql(database, "DELETE FROM audit_events WHERE id = :id", id=victim.id)
    result = _verify(app, "acme")
    assert result.exit_code == 1
    assert f"seq {following.seq} (event id {following.id})" in result.output
    assert f"expected seq {victim.seq}" in result.output


def test_reordered_events_are_named(app, trail, database):
    rows = _chain_rows(str(trail.id))
    a, b = rows[-4], rows[-3]
    db.session.commit()
    # Swap their places in the chain (through a free seq, as the unique constraint demands).
    _owner_sql(database, "UPDATE audit_events SET seq = -1 WHERE id = :id", id=a.id)
    _owner_sql(database, "UPDATE audit_events SET seq = :s WHERE id = :id", s=a.seq, id=b.id)
    _owner_sql(database, "UPDATE audit_events SET seq = :s WHERE id = :id", s=b.seq, id=a.id)
    result = _verify(app, "acme")
    assert result.exit_code == 1
    assert f"seq {a.seq} (event id {b.id})" in result.output


def test_a_cut_off_tail_is_caught_by_the_head(app, trail, database):
    rows = _chain_rows(str(trail.id))
    kept = rows[-4]
    db.session.commit()
    _owner_sql(database, "DELETE FROM audit_events WHERE chain = :c AND seq > :s", c=str(trail.id), s=kept.seq)
    result = _verify(app, "acme")
    assert result.exit_code == 1
    assert f"seq {kept.seq + 1}" in result.output
    assert f"the head records {rows[-1].seq} events" in result.output
    assert f"the table holds {kept.seq}" in result.output


def test_a_chain_whose_head_was_removed_fails(app, trail, database):
    db.session.commit()
    _owner_sql(database, "DELETE FROM audit_heads WHERE chain = :c", c=str(trail.id))
    result = _verify(app, "acme")
    assert result.exit_code == 1
    assert "chain head is missing" in result.output


def test_tampering_with_one_tenant_leaves_the_others_green(app, trail, database):
    other = make_tenant("other")
    db.session.commit()
    victim = _chain_rows(str(trail.id))[0]
    db.session.commit()
    _owner_sql(database, "UPDATE audit_events SET action = 'x' WHERE id = :id", id=victim.id)
    assert _verify(app, "acme").exit_code == 1
    assert _verify(app, other.slug).exit_code == 0


def test_verify_wants_a_known_tenant_or_the_platform(app, app_ctx):
    assert _verify(app, "nobody").exit_code != 0
    assert _verify(app).exit_code != 0
    assert _verify(app, "--platform").exit_code == 0


@pytest.mark.postgres_only
def test_the_app_role_cannot_update_or_delete_audit_events(app, trail):
    # A refused UPDATE of events surfaces as AuditWriteError, the trail's own "refused" error.
    for sql in ("UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events", "TRUNCATE audit_events"):
        with pytest.raises((sa.exc.ProgrammingError, audit.AuditWriteError), match="permission denied"):
            db.session.execute(sa.text(sql))
        db.session.rollback()
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
        db.session.execute(sa.text("DELETE FROM audit_heads"))
    db.session.rollback()


def _eight_writers(app, slug: str, write) -> tuple[list[AuditEvent], int]:
    """Eight threads, each calling write(n, i, tenant_id) for i in 0..14 in its own app context,
    all started together; returns the chain's rows and how many the tenant's creation wrote."""
    tenant = make_tenant(slug)
    db.session.commit()
    tenant_id, start = tenant.id, len(_chain_rows(str(tenant.id)))
    db.session.remove()
    barrier, errors = threading.Barrier(8), []

    def writer(n: int) -> None:
        try:
            with app.app_context():
                barrier.wait()
                for i in range(15):
                    write(n, i, tenant_id)
                db.session.commit()
        except Exception as exc:  # noqa: BLE001  (reported by the assertion below)
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    rows = _chain_rows(str(tenant_id))
    assert [r.seq for r in rows] == list(range(1, start + 8 * 15 + 1))
    report = audit_chain.verify(AuditEvent, str(tenant_id))
    assert report.ok and report.checked == start + 120, report.problem
    # Each writer's own events keep their order within the chain.
    for n in range(8):
        assert [r.details["i"] for r in rows if r.details and r.details.get("writer") == n] == list(range(15))
    return rows, start


@pytest.mark.postgres_only
def test_eight_parallel_writers_produce_one_valid_chain(app, app_ctx):
    def write(n: int, i: int, tenant_id) -> None:
        audit.record("test.parallel", tenant_id=tenant_id, details={"writer": n, "i": i})
        if i % 3 == 0:  # some transactions carry several events
            db.session.flush()
        else:
            db.session.commit()

    _eight_writers(app, "busy", write)


def test_the_canonical_text_splits_around_seq_so_the_database_can_hash_it():
    from datetime import UTC, datetime

    fields = {"tenant_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "chain": "c", "seq": 41,
              "occurred_at": datetime(2026, 12, 1, 8, 30, tzinfo=UTC), "actor_type": "api_client",
              "actor_id": "9", "action": "crm.contact.viewed", "target_type": "contact", "target_id": "x",
              "outcome": "success", "ip": None, "user_agent": "Příliš žluťoučký \"kůň\" seq:",
              "details": {"seq": 1, "ids": ["x"], "via": "api"}}
    prefix, suffix = audit_chain.canonical_around_seq(fields)
    assert (prefix + "41" + suffix).encode() == audit_chain.canonical(fields)
    assert audit_chain.canonical_around_seq({**fields, "changes": b"\x01"})[0].count('"changes":') == 1


@pytest.mark.postgres_only
def test_reads_chained_in_one_statement_interleave_with_orm_events_into_one_valid_chain(app, app_ctx, monkeypatch):
    direct = []
    real = audit_chain.append_direct
    monkeypatch.setattr(audit_chain, "append_direct", lambda *a: direct.append(real(*a)) or direct[-1])

    def write(n: int, i: int, tenant_id) -> None:
        if n % 2:
            audit.record("test.parallel", tenant_id=tenant_id, details={"writer": n, "i": i})
        else:
            audit.record_read("test.read", target_type="contact", target_ids=[f"{n}-{i}"],
                              tenant_id=tenant_id, in_transaction=True, details={"writer": n, "i": i})
        db.session.commit()

    rows, _start = _eight_writers(app, "reads", write)
    assert len(direct) == 60 and all(got is not None for got in direct)
    read = next(r for r in rows if r.action == "test.read")
    assert read.details["ids"] == [read.target_id] and read.actor_type == "system" and read.occurred_at


@pytest.mark.postgres_only
def test_a_read_chained_in_one_statement_keeps_its_place_among_the_transactions_events(app, app_ctx):
    tenant = make_tenant("order")
    db.session.commit()
    audit.record("test.first", tenant_id=tenant.id)
    audit.record_read("test.read", target_type="contact", target_ids=["a", "b"], tenant_id=tenant.id,
                      in_transaction=True)
    audit.record("test.last", tenant_id=tenant.id)
    db.session.commit()
    actions = [r.action for r in _chain_rows(str(tenant.id))][-3:]
    assert actions == ["test.first", "test.read", "test.last"]
    assert audit_chain.verify(AuditEvent, str(tenant.id)).ok


@pytest.mark.postgres_only
def test_a_writes_events_go_in_with_the_heads_move_in_one_statement(app, app_ctx, monkeypatch):
    tenant = make_tenant("fused")
    db.session.commit()
    heard = []
    monkeypatch.setattr(audit, "direct_append_listeners", [*audit.direct_append_listeners, heard.extend])
    statements = []
    engine = db.engine

    def seen(_conn, _cursor, statement, *_args):
        statements.append(" ".join(statement.split()[:6]))

    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        with tenant_context(tenant):  # sealing the changes takes the tenant's key
            first = audit.record("test.changed", tenant_id=tenant.id, target_type="contact", target_id="c1",
                                 changes={"first_name": ("Jana", "Jána \\x00 ☃"), "notes": (None, "x")})
            second = audit.record("test.changed", tenant_id=tenant.id, details={"n": 2})
            db.session.flush()
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    moved = [s for s in statements if "audit_heads" in s or "audit_events" in s]
    assert moved == ["SELECT seq, hash FROM audit_heads WHERE", "WITH head AS (UPDATE audit_heads SET"]
    # Persistent with their ids, as a flush would have left them, and told to the listeners.
    assert first.id is not None and second.id == first.id + 1 and first not in db.session.new
    assert sa.inspect(first).persistent and [event_id for _values, event_id in heard] == [first.id, second.id]
    db.session.commit()

    rows = _chain_rows(str(tenant.id))
    assert [r.id for r in rows[-2:]] == [first.id, second.id] and rows[-1].details == {"n": 2}
    with tenant_context(tenant):
        opened = audit.changes_of(rows[-2])
    assert opened == {"first_name": ("Jana", "Jána \\x00 ☃"), "notes": (None, "x")}
    assert audit_chain.verify(AuditEvent, str(tenant.id)).ok


def test_changes_for_a_tenant_recorded_across_tenants_are_sealed_under_its_key(app, app_ctx):
    """The operator's console and the sweeps work across tenants. Sealing an event's changes
    there looks the key up under all_tenants() in the middle of the flush, whose end must not
    start a second flush ("Session is already flushing")."""
    tenant = make_tenant("crossed")
    db.session.commit()
    with all_tenants():
        event = audit.record("test.changed", tenant_id=tenant.id, target_type="tenant", target_id=str(tenant.id),
                             changes={"name": ("Old", "New")})
        db.session.commit()
    assert event.changes is not None and b"New" not in event.changes
    with tenant_context(tenant):
        assert audit.changes_of(_chain_rows(str(tenant.id))[-1]) == {"name": ("Old", "New")}
    assert audit_chain.verify(AuditEvent, str(tenant.id)).ok


@pytest.mark.postgres_only
def test_an_event_inserted_with_the_head_and_rolled_back_leaves_no_trace(app, app_ctx):
    tenant = make_tenant("undone")
    db.session.commit()
    count = len(_chain_rows(str(tenant.id)))
    with db.session.begin_nested():
        audit.record("test.kept", tenant_id=tenant.id)
    savepoint = db.session.begin_nested()
    audit.record("test.undone", tenant_id=tenant.id)
    db.session.flush()
    savepoint.rollback()
    db.session.commit()
    lost = audit.record("test.lost", tenant_id=tenant.id)
    db.session.flush()
    assert sa.inspect(lost).persistent and lost.id is not None
    db.session.rollback()
    # As for a row the flush inserted: transient again, its values still readable.
    assert sa.inspect(lost).transient and lost.action == "test.lost"
    audit.record("test.last", tenant_id=tenant.id)
    db.session.commit()
    rows = _chain_rows(str(tenant.id))
    assert [r.action for r in rows[count:]] == ["test.kept", "test.last"]
    assert audit_chain.verify(AuditEvent, str(tenant.id)).ok


def test_a_decimal_changes_by_its_value_not_its_scale():
    """1000 as typed and 1000.000 as NUMERIC(18, 3) gives it back are the same value: no change
    to record (a deal saved from its form recorded one on every save)."""
    from decimal import Decimal

    assert audit.diff({"value": Decimal("1000.000")}, {"value": Decimal("1000")}) == {}
    assert audit.diff({"value": Decimal("1000.000")}, {"value": Decimal("1000.5")}) == {"value": ("1000", "1000.5")}
    assert audit.diff(None, {"value": Decimal("0.000")}) == {"value": (None, "0")}
    assert audit.diff(None, {"value": Decimal("1E+3")}) == {"value": (None, "1000")}  # never an exponent


def test_verify_with_storage_down_gives_no_verdict_rather_than_tampered(app, trail, monkeypatch):
    """The signed checkpoints' copies live in object storage: one that cannot be read now is
    not a broken one, so an outage must not be reported as tampering."""
    from tenantry.platform import audit_checkpoints
    from tenantry.platform.storage import StorageUnavailable

    class Down:
        def list(self, prefix):
            raise StorageUnavailable(f"object storage did not answer for {prefix!r}")

    monkeypatch.setattr(audit_checkpoints, "storage", lambda: Down())
    result = _verify(app, "acme")
    assert result.exit_code == 3
    assert "NOT VERIFIED" in result.output and "TAMPERED" not in result.output
