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
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from flask import current_app

from tenantry.platform import jobs
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context
from tenantry.tenants.anomalies import rules

PREFIX = "tenantry:api-usage:"
KEYS = PREFIX + "keys"
TTL = int(timedelta(days=2).total_seconds())  # a counter nobody folded for two days is dropped


def count(tenant_id: uuid.UUID, client_id: str, at: datetime) -> None:
    key = f"{PREFIX}{tenant_id}:{client_id}:{rules.hour_of(at).isoformat()}"
    pipe = jobs.redis_connection().pipeline(transaction=False)
    pipe.incr(key)
    pipe.expire(key, TTL)
    pipe.sadd(KEYS, key)
    pipe.execute()


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
    redis = jobs.redis_connection()
    total = 0
    for raw in redis.smembers(KEYS):
        key = raw.decode() if isinstance(raw, bytes) else raw
        if key.startswith(f"{PREFIX}{tenant_id}:"):
            total += int(redis.get(key) or 0)
    return total
