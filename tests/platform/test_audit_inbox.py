"""Read events through the Redis inbox: off the request path, into the chain in batches, and
never lost (Redis refusing a push, a drainer dying, a drainer losing its lock, bad items)."""

from __future__ import annotations

import json
import uuid

import pytest
import sqlalchemy as sa
from redis import Redis

from tenantry.platform import audit, audit_chain, audit_inbox, cron
from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.tenancy import all_tenants
from tests.identity.support import NO_LIMIT, T0, in_app, new_tenant

api = pytest.importorskip("tests.tenants.api.conftest")

pytestmark = pytest.mark.redis


@pytest.fixture
def app(make_app, redis_url):
    return make_app(WTF_CSRF_ENABLED=False, REDIS_URL=redis_url, TENANTRY_RATELIMIT_LOGIN=NO_LIMIT,
                    TENANTRY_API_RATE_LIMIT=NO_LIMIT, TENANTRY_API_TOKEN_RATE_LIMIT=NO_LIMIT)


@pytest.fixture
def redis(redis_url):
    client = Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def acme(app):
    return new_tenant(app, "acme")


@pytest.fixture
def bearer(app, acme):
    http = app.test_client()
    return api.Bearer(http, api.token_for(http, api.new_client(app, acme)))


def _new_contact(bearer, surname: str) -> str:
    response = bearer.post("/api/v1/contacts", json={"first_name": "Jana", "last_name": surname})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["id"]


def _reads(app) -> list[AuditEvent]:
    with in_app(app, commit=False), all_tenants():
        rows = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action.like("crm.contact.%ed"),
                                                              AuditEvent.action != "crm.contact.created")
                                  .order_by(AuditEvent.seq)).all()
        db.session.expunge_all()
        return rows


def _drain(app, **kw) -> int:
    with in_app(app):
        return audit_inbox.drain(**kw)


def _chain_ok(app, tenant) -> bool:
    with in_app(app, commit=False), all_tenants():
        return audit_chain.verify(AuditEvent, audit_chain.chain_of(tenant.id)).ok


@pytest.mark.obligation("DPA-B.logging", "TT-activity-log")
def test_api_reads_go_through_the_inbox_and_reach_the_chain_with_the_time_of_the_read(app, acme, bearer, redis, time_machine):
    time_machine.move_to(T0, tick=False)
    first, second = _new_contact(bearer, "Novak"), _new_contact(bearer, "Svoboda")
    assert bearer.get(f"/api/v1/contacts/{first}").status_code == 200
    assert bearer.get("/api/v1/contacts?limit=50").status_code == 200
    # Nothing was written on the request path: both events wait in Redis.
    assert _reads(app) == []
    assert redis.llen(audit_inbox.INBOX) == 2

    time_machine.shift(30)
    assert _drain(app) == 2
    viewed, listed = _reads(app)
    assert (viewed.action, viewed.target_id, viewed.actor_type, viewed.details["ids"]) == (
        "crm.contact.viewed", first, "api_client", [first])
    assert (listed.action, sorted(listed.details["ids"])) == ("crm.contact.listed", sorted([first, second]))
    assert viewed.occurred_at == listed.occurred_at == T0
    assert viewed.tenant_id == acme.id and viewed.inbox_key and viewed.ip == "127.0.0.1"
    assert redis.llen(audit_inbox.INBOX) == 0
    assert _chain_ok(app, acme)


@pytest.mark.obligation("DPA-B.logging")
@pytest.mark.parametrize("failure", ["refused", "down"])
def test_a_push_redis_does_not_take_is_written_in_the_request_instead(app, acme, bearer, redis, monkeypatch, failure):
    contact = _new_contact(bearer, "Novak")
    if failure == "refused":
        redis.set(audit_inbox.INBOX, "not a list")  # RPUSH fails with WRONGTYPE
    else:  # the inbox's Redis only: the rate limiter and the request counts keep theirs
        monkeypatch.setattr(audit_inbox, "_push_client", lambda: Redis(
            host="127.0.0.1", port=1, socket_connect_timeout=0.5, single_connection_client=True))
    assert bearer.get(f"/api/v1/contacts/{contact}").status_code == 200
    [viewed] = _reads(app)
    assert viewed.target_id == contact and viewed.inbox_key is None
    assert _chain_ok(app, acme)


@pytest.mark.obligation("DPA-B.logging")
def test_a_refused_push_that_cannot_be_written_either_withholds_the_response(app, acme, bearer, redis, monkeypatch):
    contact = _new_contact(bearer, "Novak")
    redis.set(audit_inbox.INBOX, "not a list")  # the answer, read after the view's commit, is an error

    def trail_down(_events, **_options):
        raise audit.AuditWriteError("the trail is down")

    monkeypatch.setattr(audit, "write_batch", trail_down)
    response = bearer.get(f"/api/v1/contacts/{contact}")
    assert response.status_code == 503
    assert "Novak" not in response.get_data(as_text=True)
    assert _reads(app) == []


def test_a_push_whose_answer_was_never_read_cannot_pass_for_the_next(app, acme, redis, caplog):
    values = {"tenant_id": acme.id, "occurred_at": T0, "actor_type": "system", "action": "crm.contact.viewed",
              "target_type": "contact", "target_id": str(uuid.uuid4()), "outcome": "success", "details": {"ids": []}}
    with in_app(app, commit=False):
        assert audit_inbox.send([values]) is not None  # its answer is never read
        second = audit_inbox.send([values])
        assert second is not None and second.taken()
    assert "never answered" in caplog.text
    assert redis.llen(audit_inbox.INBOX) == 2


def test_scripts_redis_forgot_are_sent_again(app, acme, bearer, redis):
    # A restarted Redis (or SCRIPT FLUSH) no longer knows the scripts run by their SHA1.
    contact = _new_contact(bearer, "Novak")
    redis.script_flush()
    assert bearer.get(f"/api/v1/contacts/{contact}").status_code == 200
    assert redis.llen(audit_inbox.INBOX) == 1
    redis.script_flush()
    assert _drain(app) == 1
    [viewed] = _reads(app)
    assert viewed.target_id == contact and viewed.inbox_key
    assert redis.llen(audit_inbox.INBOX) == 0 and not redis.exists(audit_inbox.LOCK)



@pytest.mark.obligation("DPA-B.logging")
def test_a_drainer_that_died_after_its_commit_leaves_nothing_written_twice(app, acme, bearer, redis):
    contact = _new_contact(bearer, "Novak")
    for _ in range(3):
        assert bearer.get(f"/api/v1/contacts/{contact}").status_code == 200
    items = [audit_inbox._parse(raw) for raw in redis.lrange(audit_inbox.INBOX, 0, -1)]
    with in_app(app):
        assert audit_inbox._write(items[:2]) == 2  # committed, then the drainer died: no trim
    assert redis.llen(audit_inbox.INBOX) == 3
    assert _drain(app) == 1
    assert len(_reads(app)) == 3
    assert redis.llen(audit_inbox.INBOX) == 0
    assert _chain_ok(app, acme)


@pytest.mark.obligation("DPA-B.logging")
def test_a_drainer_whose_lock_expired_trims_nothing_and_leaves_the_other_lock(app, acme, bearer, redis, monkeypatch):
    contact = _new_contact(bearer, "Novak")
    for _ in range(2):
        assert bearer.get(f"/api/v1/contacts/{contact}").status_code == 200
    real_write = audit_inbox._write

    def slow_write(items):
        redis.set(audit_inbox.LOCK, "another-drainer")  # ours expired and another took it
        return real_write(items)

    monkeypatch.setattr(audit_inbox, "_write", slow_write)
    assert _drain(app) == 2
    assert redis.llen(audit_inbox.INBOX) == 2  # not trimmed: the other drainer may be reading them
    assert redis.get(audit_inbox.LOCK) == b"another-drainer"
    assert _drain(app) == 0  # locked out

    monkeypatch.setattr(audit_inbox, "_write", real_write)
    redis.delete(audit_inbox.LOCK)
    assert _drain(app) == 0  # both already written: skipped by their keys
    assert redis.llen(audit_inbox.INBOX) == 0
    assert len(_reads(app)) == 2
    assert _chain_ok(app, acme)


def test_unreadable_items_go_to_the_dead_letter_list_and_the_rest_is_written(app, acme, bearer, redis):
    contact = _new_contact(bearer, "Novak")
    assert bearer.get(f"/api/v1/contacts/{contact}").status_code == 200
    good = redis.lpop(audit_inbox.INBOX)
    sealed = json.loads(good)
    sealed["event"]["changes"] = "c2VjcmV0"  # only unsealed events may come this way
    bad = [b"not json", json.dumps({"key": "short", "event": {}}).encode(), json.dumps(sealed).encode()]
    redis.rpush(audit_inbox.INBOX, bad[0], good, bad[1], bad[2])
    assert _drain(app) == 1
    assert redis.lrange(audit_inbox.DEAD, 0, -1) == bad
    assert redis.llen(audit_inbox.INBOX) == 0
    [viewed] = _reads(app)
    assert viewed.target_id == contact


def test_events_of_a_tenant_deleted_meanwhile_are_dropped_with_its_trail(app, acme, bearer, redis):
    contact = _new_contact(bearer, "Novak")
    assert bearer.get(f"/api/v1/contacts/{contact}").status_code == 200
    item = json.loads(redis.lpop(audit_inbox.INBOX))
    item["event"]["tenant_id"] = str(uuid.uuid4())
    redis.rpush(audit_inbox.INBOX, json.dumps(item))
    assert _drain(app) == 0
    assert redis.llen(audit_inbox.INBOX) == 0 and redis.llen(audit_inbox.DEAD) == 0


@pytest.mark.obligation("DPA-B.logging")
def test_many_reads_are_written_in_batches_and_the_chain_holds(app, acme, bearer, redis, monkeypatch):
    contact = _new_contact(bearer, "Novak")
    monkeypatch.setattr(audit_inbox, "BATCH", 4)
    for _ in range(10):
        assert bearer.get(f"/api/v1/contacts/{contact}").status_code == 200
    assert _drain(app, max_batches=2) == 8
    assert redis.llen(audit_inbox.INBOX) == 2
    assert _drain(app) == 2
    reads = _reads(app)
    assert [e.seq for e in reads] == sorted(e.seq for e in reads) and len(reads) == 10
    assert _chain_ok(app, acme)


def test_the_first_push_asks_for_a_drain_and_a_worker_drains_it(app, acme, bearer, redis, rq_worker):
    from rq import Queue

    contact = _new_contact(bearer, "Novak")
    queue = Queue("maintenance", connection=redis)
    queue.empty()
    redis.delete(audit_inbox.KICK)
    for _ in range(3):
        assert bearer.get(f"/api/v1/contacts/{contact}").status_code == 200
    assert queue.count == 1  # one drain asked for, not one per read
    rq_worker(app, "maintenance")
    assert len(_reads(app)) == 3
    assert redis.llen(audit_inbox.INBOX) == 0
    assert not redis.exists(audit_inbox.KICK)  # the drain is over: the next push asks again


def test_a_lingering_drain_takes_reads_that_keep_coming_and_ends_once_they_stop(app, acme, bearer, redis,
                                                                                   monkeypatch):
    import threading
    import time

    contact = _new_contact(bearer, "Novak")
    monkeypatch.setattr(audit_inbox, "POLL", 0.05)
    done: list[int] = []

    def drainer():
        with app.app_context():
            # Far longer than the gaps between reads, even on a loaded CI machine.
            done.append(audit_inbox.drain(linger=2.0))

    thread = threading.Thread(target=drainer)
    thread.start()
    for _ in range(5):
        assert bearer.get(f"/api/v1/contacts/{contact}").status_code == 200
        time.sleep(0.1)
    thread.join(timeout=30)
    assert done == [5]
    assert len(_reads(app)) == 5 and redis.llen(audit_inbox.INBOX) == 0
    assert not redis.exists(audit_inbox.KICK) and not redis.exists(audit_inbox.LOCK)
    assert _chain_ok(app, acme)


def test_the_sweep_drains_what_no_job_did(app, acme, bearer, redis):
    contact = _new_contact(bearer, "Novak")
    assert bearer.get(f"/api/v1/contacts/{contact}").status_code == 200
    with in_app(app):
        assert cron.sweep()["audit_inbox"] == 1
    assert len(_reads(app)) == 1


@pytest.mark.obligation("DPA-B.logging")
def test_a_web_page_s_read_events_go_through_the_inbox(app, acme, bearer, redis):
    from tests.identity.support import new_member, sign_in

    contact = _new_contact(bearer, "Novak")
    person = new_member(app, acme, "member")
    web = app.test_client()
    sign_in(web, person)
    assert web.get(f"/t/acme/crm/contacts/{contact}").status_code == 200
    assert _reads(app) == []
    assert _drain(app) == 1
    [viewed] = _reads(app)
    assert (viewed.actor_type, viewed.actor_id, viewed.target_id) == ("user", str(person.id), contact)


@pytest.mark.obligation("DPA-B.logging")
def test_a_web_page_whose_read_events_cannot_be_written_is_withheld(app, acme, bearer, redis, monkeypatch):
    from tests.identity.support import new_member, sign_in

    contact = _new_contact(bearer, "Novak")
    web = app.test_client()
    sign_in(web, new_member(app, acme, "member"))

    def trail_down(_events, **_options):
        raise audit.AuditWriteError("the trail is down")

    monkeypatch.setattr(audit, "write_batch", trail_down)
    page = web.get(f"/t/acme/crm/contacts/{contact}")
    assert page.status_code == 503
    assert "could not record this access" in page.get_data(as_text=True)
    assert "Novak" not in page.get_data(as_text=True)


def test_without_redis_there_is_no_inbox(make_app):
    app = make_app(REDIS_URL="")
    assert app.extensions[audit_inbox.ENABLED] is False


@pytest.mark.obligation("DPA-B.logging")
def test_awkward_details_reach_the_chain_as_they_were_pushed_and_verify(app, acme):
    details = {"via": "api", "search": True, "q": 'Novák "the\\elder" \u2028 ☃', "ids": [str(uuid.uuid4())] * 3,
               "nested": {"n": 1.5, "none": None, "big": 2 ** 60}}
    with in_app(app):
        values = {"tenant_id": acme.id, "occurred_at": T0, "actor_type": "api_client", "actor_id": "c1",
                  "action": "crm.contact.listed", "target_type": "contact", "target_id": None, "outcome": "success",
                  "ip": "192.0.2.1", "user_agent": "Ünïcode/1.0", "details": details}
        assert audit_inbox.push([values, {**values, "action": "crm.contact.viewed"}])
    assert _drain(app) == 2
    with in_app(app, commit=False), all_tenants():
        rows = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.tenant_id == acme.id,
                                                              AuditEvent.action.in_(["crm.contact.listed",
                                                                                     "crm.contact.viewed"]))
                                  .order_by(AuditEvent.seq)).all()
        assert [r.action for r in rows] == ["crm.contact.listed", "crm.contact.viewed"]
        assert all(r.details == details and r.user_agent == "Ünïcode/1.0" and r.inbox_key for r in rows)
    assert _chain_ok(app, acme)
