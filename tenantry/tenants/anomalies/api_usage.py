"""API request counting for the volume rule when Redis is there (production).

A request adds one to a Redis counter per tenant, client and clock hour (INCR, EXPIRE and the
key's registration in one pipelined round trip) instead of queueing a job per request, which
cost every API call several Redis commands and a worker an upsert. The sweep folds the counters
into api_usage_hours, the rule's table, and checks the rule for the clients it saw, so a spike
is found at most one sweep (a minute) after it starts. Without Redis each request is counted
by an inline job (rules.count_api_request), as before.

A counter is taken with GETDEL, so a fold and a request never both count one request; a sweep
that dies between GETDEL and its commit loses that minute's counts, which only lowers the
rule's baseline: this is monitoring, not billing.

A worker process adds up its requests in memory and sends them at most once a second (the
request that finds the counts that old sends them, or a flusher thread once requests stop),
so a request costs no Redis round trip of its own for counting. A worker killed outright loses
at most its last second of counts, which the same reasoning allows.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from flask import current_app

from tenantry.platform import jobs
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context
from tenantry.tenants.anomalies import rules

PREFIX = "tenantry:api-usage:"
KEYS = PREFIX + "keys"
TTL = int(timedelta(days=2).total_seconds())  # a counter nobody folded for two days is dropped
log = logging.getLogger(__name__)


FLUSH_SECONDS = 1.0

# Per Redis client (an app has one; tests make many apps): counter key -> requests not sent.
_unsent: dict[Any, dict[str, int]] = {}
_lock = threading.Lock()
_sent_at = 0.0
_flusher_pid: int | None = None


def count(tenant_id: uuid.UUID, client_id: str, at: datetime) -> None:
    key = f"{PREFIX}{tenant_id}:{client_id}:{rules.hour_of(at).isoformat()}"
    redis = jobs.redis_connection()
    with _lock:
        counts = _unsent.setdefault(redis, {})
        counts[key] = counts.get(key, 0) + 1
        due = time.monotonic() - _sent_at >= FLUSH_SECONDS
    _start_flusher()
    if due:
        flush()


def flush() -> int:
    """Send this process's unsent counts to Redis (one pipelined round trip per Redis);
    returns how many requests were sent. Counts Redis refused stay for the next try."""
    global _sent_at
    with _lock:
        taken = {redis: counts for redis, counts in _unsent.items() if counts}
        _unsent.clear()
        _sent_at = time.monotonic()
    sent = 0
    for redis, counts in taken.items():
        try:
            pipe = redis.pipeline(transaction=False)
            for key, requests in counts.items():
                pipe.incrby(key, requests)
                pipe.expire(key, TTL)
                pipe.sadd(KEYS, key)
            pipe.execute()
            sent += sum(counts.values())
        except Exception:  # Redis away: keep the counts, a later flush sends them
            log.warning("could not send %d API request counts to Redis; kept for the next try", len(counts))
            with _lock:
                again = _unsent.setdefault(redis, {})
                for key, requests in counts.items():
                    again[key] = again.get(key, 0) + requests
    return sent


def _start_flusher() -> None:
    """One daemon thread per process (a forked worker starts its own), sending counts left
    unsent when requests stop, and once more at exit."""
    global _flusher_pid
    if _flusher_pid == os.getpid():
        return
    with _lock:
        if _flusher_pid == os.getpid():
            return
        _flusher_pid = os.getpid()
    threading.Thread(target=_flush_forever, name="tenantry-api-usage", daemon=True).start()
    atexit.register(flush)


def _flush_forever() -> None:
    while True:
        time.sleep(min(max(FLUSH_SECONDS, 0.05), 0.25))  # a short tick: the interval may be set lower later
        try:
            if time.monotonic() - _sent_at >= FLUSH_SECONDS:
                flush()
        except Exception:  # the thread must outlive any one failure
            log.exception("the API usage flusher failed; it goes on")


def _forget_after_fork() -> None:
    # The parent's counts are the parent's to send, and its lock may be held by its flusher.
    global _lock, _unsent, _flusher_pid
    _lock, _unsent, _flusher_pid = threading.Lock(), {}, None


os.register_at_fork(after_in_child=_forget_after_fork)


def _parse(key: str) -> tuple[uuid.UUID, str, datetime] | None:
    try:
        tenant_id, client_id, hour = key[len(PREFIX):].split(":", 2)
        return uuid.UUID(tenant_id), client_id, datetime.fromisoformat(hour)
    except ValueError:
        return None


def fold(as_of: datetime) -> int:
    """Sweep step: move the Redis counters into api_usage_hours and check the volume rule for
    each client seen; returns how many requests were folded."""
    if not current_app.extensions["tenantry.settings"].redis_url:
        return 0
    flush()  # this process's own counts (make run, tests); workers send theirs every second
    redis = jobs.redis_connection()
    folded = 0
    for raw in sorted(redis.smembers(KEYS)):
        key = raw.decode() if isinstance(raw, bytes) else raw
        redis.srem(KEYS, key)  # before the GETDEL: a request after it registers the key again
        value = redis.getdel(key)
        parsed = _parse(key)
        if value is None or parsed is None:
            continue
        tenant_id, client_id, hour = parsed
        requests = int(value)
        with all_tenants():
            tenant = db.session.get(Tenant, tenant_id)
        if tenant is None or requests <= 0:
            continue
        with tenant_context(tenant):
            rules.add_api_requests(tenant_id, client_id, hour, requests)
        # The rule reads the hour's count; a counter of an hour already over is checked at its end.
        at = min(as_of, hour + timedelta(hours=1) - timedelta(microseconds=1))
        rules.check_api_volume(tenant, client_id, at)
        db.session.commit()
        folded += requests
    return folded


def pending(tenant_id: uuid.UUID) -> int:
    """Requests counted in Redis and not folded yet (for tests and the console)."""
    flush()
    redis = jobs.redis_connection()
    total = 0
    for raw in redis.smembers(KEYS):
        key = raw.decode() if isinstance(raw, bytes) else raw
        if key.startswith(f"{PREFIX}{tenant_id}:"):
            total += int(redis.get(key) or 0)
    return total
