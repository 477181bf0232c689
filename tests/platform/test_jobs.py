"""Jobs run only after the transaction that asked for them commits, with their tenant current:
inline without Redis, in a real RQ worker with it. Redis being down does not fail the request."""

from __future__ import annotations

import logging
import uuid

import pytest
import sqlalchemy as sa

from tenantry.platform import audit, jobs, tenancy
from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.identity.models import Membership, User
from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context
from tests.conftest import free_port

PROBE = "tests.platform.test_jobs:probe"


def probe(marker: str, membership_id: str | None = None) -> str:
    """The job under test: records what it saw as an audit event."""
    found = None
    if membership_id is not None:
        found = db.session.get(Membership, uuid.UUID(membership_id)) is not None
    members = db.session.execute(sa.select(sa.func.count()).select_from(Membership)).scalar()
    tid = tenancy.current_tenant_id()
    audit.record(
        "test.job_ran",
        actor_type="system",
        tenant_id=tid,
        details={"marker": marker, "tenant": str(tid) if tid else None, "members": members, "found": found},
    )
    return marker


def failing_job() -> None:
    raise RuntimeError("job exploded")


def runs(marker: str | None = None) -> list[dict]:
    rows = db.session.execute(sa.select(AuditEvent).where(AuditEvent.action == "test.job_ran")).scalars().all()
    return [r.details for r in rows if marker is None or r.details["marker"] == marker]


def setup_tenants() -> tuple[Tenant, Tenant]:
    """Tenant A with one member, tenant B with two."""
    tenants = []
    for slug, count in (("alpha", 1), ("beta", 2)):
        tenant = Tenant(slug=slug, name=slug.title(), country="CZ")
        db.session.add(tenant)
        db.session.flush()
        with tenant_context(tenant):
            for i in range(count):
                user = User(email=f"{slug}{i}@example.com")
                db.session.add(user)
                db.session.flush()
                db.session.add(Membership(user_id=user.id, role="member"))
        tenants.append(tenant)
    db.session.commit()
    return tenants[0], tenants[1]


def add_member_and_enqueue(tenant: Tenant, marker: str) -> str:
    """In the current transaction: a new member of `tenant`, and a job that looks for it."""
    with tenant_context(tenant):
        user = User(email=f"{marker}@example.com")
        db.session.add(user)
        db.session.flush()
        membership = Membership(user_id=user.id, role="viewer")
        db.session.add(membership)
        db.session.flush()
        jobs.enqueue("maintenance", PROBE, tenant_id=tenant.id, marker=marker, membership_id=str(membership.id))
    return str(membership.id)


def test_inline_job_runs_only_after_commit_with_its_tenant_current(app):
    with app.app_context():
        a, _ = setup_tenants()
        a_id = a.id
        add_member_and_enqueue(a, "inline")
        assert jobs._ready() == []  # held by the transaction
        db.session.commit()
        assert runs() == []  # dispatched, and run once the request's context is over
    with app.app_context():
        [seen] = runs("inline")
    assert seen == {"marker": "inline", "tenant": str(a_id), "members": 2, "found": True}


def test_inline_job_without_tenant_runs_with_none(app):
    with app.app_context():
        setup_tenants()
        db.session.add(User(email="x@example.com"))
        db.session.flush()
        jobs.enqueue("mail", "tests.platform.test_jobs:count_users")
        db.session.commit()
    with app.app_context():
        assert db.session.execute(sa.select(AuditEvent.details).where(AuditEvent.action == "test.users")).scalar() == {
            "users": 4, "tenant": None}


def count_users() -> None:
    audit.record("test.users", actor_type="system", details={
        "users": db.session.execute(sa.select(sa.func.count()).select_from(User)).scalar(),
        "tenant": tenancy.current_tenant_id(),
    })


def test_a_rolled_back_transaction_drops_its_job(app):
    with app.app_context():
        a, _ = setup_tenants()
        add_member_and_enqueue(a, "rolled-back")
        db.session.rollback()
        assert jobs._ready() == []
        db.session.commit()  # a later commit does not revive it
    with app.app_context():
        assert runs() == []
        with all_tenants():
            assert db.session.execute(sa.select(sa.func.count()).select_from(Membership)).scalar() == 3


def test_a_transaction_never_committed_drops_its_job(app):
    with app.app_context():
        a, _ = setup_tenants()
        add_member_and_enqueue(a, "abandoned")
    with app.app_context():
        db.session.add(User(email="later@example.com"))
        db.session.commit()
    with app.app_context():
        assert runs() == []


def test_a_failing_inline_job_is_logged_not_raised(app, caplog):
    with app.app_context():
        setup_tenants()
        db.session.add(User(email="y@example.com"))
        db.session.flush()
        jobs.enqueue("maintenance", "tests.platform.test_jobs:failing_job")
        db.session.commit()
        with caplog.at_level(logging.ERROR, logger="tenantry.platform.jobs"):
            assert jobs.drain() == 1
    assert "failing_job failed" in caplog.text


def test_a_job_for_a_tenant_that_is_gone_is_skipped(app, caplog):
    with app.app_context(), caplog.at_level(logging.WARNING, logger="tenantry.platform.jobs"):
        assert jobs.run(PROBE, str(uuid.uuid4()), {"marker": "gone"}) is None
        assert runs() == []
    assert "tenant that is gone" in caplog.text


def test_unknown_queue_is_refused(app_ctx):
    with pytest.raises(ValueError, match="unknown queue"):
        jobs.enqueue("nope", PROBE, marker="x")


@pytest.mark.redis
def test_real_rq_worker_runs_the_job_after_commit_and_sees_the_committed_row(make_app, redis_url, rq_worker):
    app = make_app(REDIS_URL=redis_url)
    with app.app_context():
        a, _ = setup_tenants()
        a_id = a.id
        add_member_and_enqueue(a, "rq")
        queue = jobs.rq_queue("maintenance")
        assert queue.count == 0  # nothing reaches Redis before the commit
        db.session.commit()
        assert queue.count == 1
    worker = rq_worker(app, "maintenance")
    with app.app_context():
        assert runs("rq") == [{"marker": "rq", "tenant": str(a_id), "members": 2, "found": True}], (
            worker.stdout + worker.stderr
        )
        assert jobs.rq_queue("maintenance").count == 0
        assert len(jobs.rq_queue("maintenance").failed_job_registry) == 0


@pytest.mark.redis
def test_rolled_back_transaction_sends_nothing_to_redis(make_app, redis_url):
    app = make_app(REDIS_URL=redis_url)
    with app.app_context():
        a, _ = setup_tenants()
        add_member_and_enqueue(a, "never")
        db.session.rollback()
        db.session.commit()
        assert jobs.rq_queue("maintenance").count == 0


def test_redis_down_at_enqueue_time_does_not_raise(make_app, caplog):
    port = free_port()  # nothing listens there
    app = make_app(REDIS_URL=f"redis://127.0.0.1:{port}/0")
    with app.app_context(), caplog.at_level(logging.ERROR, logger="tenantry.platform.jobs"):
        a, _ = setup_tenants()
        membership_id = add_member_and_enqueue(a, "redis-down")
        db.session.commit()  # the change is kept; the job waits for the sweep
        with tenant_context(a):
            assert db.session.get(Membership, uuid.UUID(membership_id)) is not None
    assert "could not queue tests.platform.test_jobs:probe" in caplog.text


@pytest.mark.redis
def test_the_worker_s_command_listener_stops_with_the_worker(redis_url):
    """RQ's listener waited up to a minute between checks of whether to stop, and a worker
    that stopped during such a wait took the rest of the minute to exit (burst runs of 60 s)."""
    from redis import Redis

    from tenantry.platform import rq_worker

    connection = Redis.from_url(redis_url)
    worker = rq_worker.Worker(["maintenance"], connection=connection)
    worker.subscribe()
    thread = worker.pubsub_thread
    assert thread.is_alive() and thread.sleep_time == rq_worker.PUBSUB_WAIT_SECONDS
    worker.unsubscribe()
    thread.join(10 * rq_worker.PUBSUB_WAIT_SECONDS)  # a bound far above its wait, not a measurement
    assert not thread.is_alive()
    connection.close()
