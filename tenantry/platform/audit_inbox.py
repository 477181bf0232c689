"""Read events through a Redis inbox, written into the chain in batches [DPA-B.logging].

With Redis (production), a read of personal data pushes its event onto a Redis list: one
round trip (an API read takes Redis's answer only when its response is ready, see Push),
instead of the read's transaction becoming a write (head row lock, insert, commit) for every
page an integration fetches. A drainer (an RQ job, and the sweep as a backstop)
writes what the list holds into the chain a few hundred events per transaction. Only events
that carry no sealed values come this way: reads name ids, never values. Writes of personal
data keep their events in their own transaction and fail closed (audit.py).

An event is never lost:
- a push Redis refuses is not an error: the caller writes the event itself, as without Redis,
  and withholds the response if that fails too;
- the drainer reads the head of the list under a lock, commits the events, and only then
  trims what it wrote, and only while it still holds the lock. One that dies in between leaves
  the items for the next, which skips those whose delivery key is already in the table (unique
  where set), so each event is written once;
- an item that cannot be read is moved to a dead-letter list and logged, never dropped;
- Redis acknowledges a push only once it is on disk: production runs it with
  `appendfsync always` (docker-compose.yml).

An event reaches the trail within a second or so: the first push finding no drain running asks
RQ for one, which stays while reads keep coming and writes what gathered every POLL seconds.
The minute's sweep drains whatever a lost request for a drain left. The event's time is the
read's, not the drain's.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app
from redis import Redis
from redis.exceptions import NoScriptError, RedisError
from sqlalchemy.dialects.postgresql import ARRAY

from tenantry.platform import audit_chain, jobs, redis_scripts
from tenantry.platform.audit import AuditEvent, direct_append_listeners
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context

INBOX = "tenantry:audit:inbox"
DEAD = "tenantry:audit:inbox:dead"
LOCK = "tenantry:audit:inbox:lock"
KICK = "tenantry:audit:inbox:kick"
KICK_MS = 5000  # a push asks for a drain when none ran for this long
LOCK_MS = 15_000  # a drainer that died blocks the next for at most this long
BATCH = 500
POLL = 0.5  # seconds a lingering drain lets events gather between batches
LINGER = 2.0  # seconds of an empty inbox before the RQ job ends
LIFETIME = 300.0  # seconds before a drain ends anyway; the next push starts another
DRAIN_JOB = "tenantry.platform.audit_inbox:drain_job"
ENABLED = "tenantry.audit_inbox"
log = logging.getLogger(__name__)

# Trim only while the lock is still ours (and keep it for the next batch): a drainer whose lock
# expired must not trim items another drainer has taken since.
_TRIM = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('ltrim', KEYS[2], ARGV[2], -1)
  redis.call('pexpire', KEYS[1], ARGV[3])
  return 1
end
return 0
"""
# One command for the push and the question whether a drain is running: each API read pays it.
_PUSH = """
redis.call('rpush', KEYS[1], unpack(ARGV, 2))
if redis.call('set', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then return 1 end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
def _run(redis, script: str, keys: list[str], args: list[Any]) -> Any:
    return redis_scripts.run(redis, script, keys, args)


_threads = threading.local()


def _push_client() -> Redis:
    """A push is sent and its answer read later (Push), so nothing else may use its connection
    in between: it has one of its own."""
    return redis_scripts.kept_client("audit-inbox")


def enabled() -> bool:
    return bool(current_app.extensions.get(ENABLED))


def eligible(values: dict[str, Any]) -> bool:
    """A tenant's event with nothing sealed: exactly what audit_chain.append_direct writes."""
    return values.get("tenant_id") is not None and set(values) <= {*audit_chain.DIRECT_COLUMNS}


def _item(values: dict[str, Any]) -> str:
    fields = dict(values)
    fields["tenant_id"] = str(fields["tenant_id"])
    fields["occurred_at"] = fields["occurred_at"].isoformat()
    return json.dumps({"key": uuid.uuid4().hex, "event": fields}, separators=(",", ":"), default=str)


class Push:
    """Events sent to the inbox whose answer is not read yet. The request goes on meanwhile (its
    commit, its body) and reads the answer before the response leaves (audit's after_request):
    the round trip to Redis overlaps the database's instead of adding its own wait. Measured
    with a PostgreSQL round trip beside it: 27 us of CPU and 22 us of waiting more, against
    84 and 136 us for a push answered at once."""

    def __init__(self, client: Redis, items: list[str]):
        self.client, self.items = client, items

    def taken(self) -> bool:
        """True once Redis has the events; False when it refused them (the caller then writes
        them itself). Called exactly once, before the thread pushes again."""
        _threads.sent = None
        connection = self.client.connection
        try:
            try:
                kicked = connection.read_response()
            except NoScriptError:
                kicked = self.client.eval(_PUSH, 2, INBOX, KICK, KICK_MS, *self.items)
        except (RedisError, OSError):
            connection.disconnect()  # an answer may still be on its way: never read it as the next one's
            log.warning("the audit inbox refused %d event(s); they are written directly", len(self.items),
                        exc_info=True)
            return False
        if kicked:
            jobs.enqueue_now("maintenance", DRAIN_JOB)
        return True


def send(events: Iterable[dict[str, Any]]) -> Push | None:
    """Send read events (values as audit._values makes them, with occurred_at) without waiting
    for the answer; None when they could not even be sent: the caller then writes them itself."""
    items = [_item(values) for values in events]
    client = None
    try:
        client = _push_client()  # connects when new: Redis may be down right here
        unread = getattr(_threads, "sent", None)
        if unread is not None:
            # A push whose answer nobody read (a bug elsewhere): read it now, so that it cannot
            # pass for this one's. Closing the socket instead could make Redis drop that push.
            log.error("an audit inbox push was never answered; its answer is read now")
            unread.taken()
        client.connection.send_command("EVALSHA", redis_scripts.sha1(_PUSH), 2, INBOX, KICK, KICK_MS, *items)
    except (RedisError, OSError):
        if client is not None:
            client.connection.disconnect()
        log.warning("the audit inbox is unreachable; %d event(s) are written directly", len(items), exc_info=True)
        return None
    _threads.sent = Push(client, items)
    return _threads.sent


def push(events: Iterable[dict[str, Any]]) -> bool:
    """Queue read events and wait for Redis to take them. False when it did not: the caller
    then writes them itself."""
    events = list(events)
    if not events:
        return True
    sent = send(events)
    return sent is not None and sent.taken()


# --- draining ----------------------------------------------------------------------------


def _parse(raw: bytes) -> tuple[str, dict[str, Any]] | None:
    try:
        item = json.loads(raw)
        key, fields = item["key"], dict(item["event"])
        if not isinstance(key, str) or len(key) != 32 or not eligible(fields):
            return None
        fields["tenant_id"] = uuid.UUID(fields["tenant_id"])
        fields["occurred_at"] = datetime.fromisoformat(fields["occurred_at"])
        if fields["occurred_at"].tzinfo is None or not isinstance(fields.get("action"), str):
            return None
        return key, fields
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def _written(keys: list[str]) -> set[str]:
    column = AuditEvent.inbox_key
    # One bound array on PostgreSQL: the statement's text is the same for every batch size.
    where = column == sa.any_(sa.bindparam("keys", keys, type_=ARRAY(sa.String))) \
        if db.session.get_bind().dialect.name == "postgresql" else column.in_(keys)
    return set(db.session.scalars(sa.select(column).where(where)))


def _write(items: list[tuple[str, dict[str, Any]]]) -> int:
    """Chain and commit the events not yet written; returns how many were written."""
    tenant_ids = {fields["tenant_id"] for _key, fields in items}
    with all_tenants():
        done = _written([key for key, _fields in items])
        tenants = {t.id: t for t in db.session.scalars(sa.select(Tenant).where(Tenant.id.in_(tenant_ids)))}
    by_tenant: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for key, fields in items:
        if key in done:
            continue
        done.add(key)
        if fields["tenant_id"] not in tenants:
            # The tenant was deleted, and its trail with it: there is no chain left to join.
            log.info("audit inbox: dropped %s of deleted tenant %s", fields["action"], fields["tenant_id"])
            continue
        by_tenant.setdefault(fields["tenant_id"], []).append({**fields, "inbox_key": key})
    written = []
    try:
        for tenant_id, rows in by_tenant.items():
            with tenant_context(tenants[tenant_id]):
                ids = audit_chain.append_many(db.session.connection(), AuditEvent.__table__,
                                              audit_chain.chain_of(tenant_id), rows, extra=("inbox_key",),
                                              parsed=True)
            written.extend(zip(rows, ids, strict=True))
        for listener in direct_append_listeners:
            listener(written)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return len(written)


def drain(max_batches: int | None = None, *, linger: float = 0.0, lifetime: float = LIFETIME) -> int:
    """Write the inbox into the chain until it is empty; returns how many events were written.
    Returns 0 at once while another drainer holds the lock.

    With `linger` (the RQ job) it waits for more while events keep coming, batching what
    arrives every POLL seconds, and ends once the inbox stayed empty that long, or after
    `lifetime`. Then it lets the next push ask for a drain again, and looks once more after
    letting go of the lock, so that an event pushed meanwhile is not left for the sweep."""
    redis = jobs.redis_connection()
    deadline = time.monotonic() + lifetime
    written = 0
    while True:
        got = _drain_locked(redis, max_batches, linger, deadline)
        if got is None:
            return written
        written += got
        if linger:
            redis.delete(KICK)
        if max_batches is not None or time.monotonic() >= deadline or not redis.llen(INBOX):
            return written


def _drain_locked(redis, max_batches: int | None, linger: float, deadline: float) -> int | None:
    token = uuid.uuid4().hex
    if not redis.set(LOCK, token, nx=True, px=LOCK_MS):
        return None
    written = batches = 0
    quiet_since: float | None = None
    try:
        while (max_batches is None or batches < max_batches) and time.monotonic() < deadline:
            if linger:
                redis.set(KICK, "1", px=KICK_MS)  # a drain is running: pushes need not ask for one
            raw = redis.lrange(INBOX, 0, BATCH - 1)
            if not raw:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= linger:
                    break
                time.sleep(POLL)
                continue
            quiet_since = None
            parsed = [(r, _parse(r)) for r in raw]
            bad = [r for r, item in parsed if item is None]
            written += _write([item for _r, item in parsed if item is not None])
            if bad:
                log.error("audit inbox: %d unreadable item(s) moved to %s", len(bad), DEAD)
                redis.rpush(DEAD, *bad)
            if not _run(redis, _TRIM, [LOCK, INBOX], [token, len(raw), LOCK_MS]):
                log.warning("audit inbox: the drain lock expired; the next drain takes over")
                break
            batches += 1
            if linger and len(raw) < BATCH:
                time.sleep(POLL)  # let the next batch gather rather than write a few events at a time
    finally:
        _run(redis, _RELEASE, [LOCK], [token])
    return written


def drain_job() -> int:
    """The RQ job a push asks for: it stays while reads keep coming (see drain)."""
    return drain(linger=LINGER)


def sweep(_as_of: datetime) -> int:
    """The sweep's step: whatever no job drained (a worker was down, a push's request for a
    drain was lost)."""
    return drain() if enabled() else 0


def init_app(app: Flask) -> None:
    from tenantry.platform import cron

    settings = app.extensions["tenantry.settings"]
    app.extensions[ENABLED] = bool(settings.redis_url) and app.config.get("TENANTRY_AUDIT_INBOX", True)
    cron.register(app, "audit_inbox", sweep)
