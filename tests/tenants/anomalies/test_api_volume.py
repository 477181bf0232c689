"""The volume rule counts real API requests, per client and hour, off the request path."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tenantry.platform.db import db
from tenantry.platform.tenancy import all_tenants
from tenantry.tenants.anomalies import rules
from tenantry.tenants.anomalies.models import AlertSettings, ApiUsageHour
from tests.identity.support import T0, in_app, new_tenant
from tests.tenants.anomalies.support import alerts

api = pytest.importorskip("tests.tenants.api.conftest")


@pytest.fixture
def api_app(make_app):
    from tests.identity.support import NO_LIMIT

    return make_app(WTF_CSRF_ENABLED=False, TENANTRY_RATELIMIT_LOGIN=NO_LIMIT,
                    TENANTRY_API_RATE_LIMIT=NO_LIMIT, TENANTRY_API_TOKEN_RATE_LIMIT=NO_LIMIT)


def _usage(app) -> dict:
    with in_app(app, commit=False), all_tenants():
        return {(row.client_id, row.hour_start): row.requests
                for row in db.session.execute(sa.select(ApiUsageHour)).scalars()}


@pytest.mark.obligation("TT-activity-log", "DPA-B.monitoring")
def test_api_requests_are_counted_per_client_and_hour_and_a_spike_alerts(api_app, frozen):
    http = api_app.test_client()
    acme = new_tenant(api_app, "acme")
    creds = api.new_client(api_app, acme, scopes="crm:read")
    bearer = api.Bearer(http, api.token_for(http, creds))
    hour = rules.hour_of(T0)
    with in_app(api_app), all_tenants():
        db.session.add(AlertSettings(tenant_id=acme.id, api_volume_min_baseline=1))
        db.session.add(ApiUsageHour(tenant_id=acme.id, client_id=str(creds.pk), hour_start=hour - timedelta(days=1),
                                    requests=1))
    for _ in range(9):
        assert bearer.get("/api/v1/contacts").status_code == 200
    assert _usage(api_app)[(str(creds.pk), hour)] == 9
    assert alerts(api_app) == []
    assert bearer.get("/api/v1/contacts").status_code == 200
    [alert] = alerts(api_app)
    assert (alert["rule"], alert["subject_id"], alert["observed"], alert["threshold"]) == (
        "api_volume", str(creds.pk), 10, 10)


@pytest.mark.redis
@pytest.mark.obligation("TT-activity-log", "DPA-B.monitoring")
def test_with_redis_requests_are_counted_there_and_the_sweep_folds_them_and_alerts(make_app, redis_url, frozen):
    """Production counts in Redis (one pipelined round trip per request, no job); the sweep
    moves the counts into api_usage_hours exactly once and checks the rule."""
    from tenantry.platform import cron
    from tenantry.tenants.anomalies import api_usage
    from tests.identity.support import NO_LIMIT

    app = make_app(WTF_CSRF_ENABLED=False, REDIS_URL=redis_url, TENANTRY_RATELIMIT_LOGIN=NO_LIMIT,
                   TENANTRY_API_RATE_LIMIT=NO_LIMIT, TENANTRY_API_TOKEN_RATE_LIMIT=NO_LIMIT)
    http = app.test_client()
    acme = new_tenant(app, "acme")
    creds = api.new_client(app, acme, scopes="crm:read")
    bearer = api.Bearer(http, api.token_for(http, creds))
    hour = rules.hour_of(T0)
    with in_app(app), all_tenants():
        db.session.add(AlertSettings(tenant_id=acme.id, api_volume_min_baseline=1))
        db.session.add(ApiUsageHour(tenant_id=acme.id, client_id=str(creds.pk), hour_start=hour - timedelta(days=1),
                                    requests=1))
    for _ in range(12):
        assert bearer.get("/api/v1/contacts").status_code == 200
    with in_app(app, commit=False):
        assert api_usage.pending(acme.id) == 12
    assert (str(creds.pk), hour) not in _usage(app)  # nothing written on the request path
    assert alerts(app) == []

    with in_app(app):
        assert cron.sweep()["anomalies.api-usage"] == 12
    assert _usage(app)[(str(creds.pk), hour)] == 12
    [alert] = alerts(app)
    assert (alert["rule"], alert["observed"], alert["threshold"]) == ("api_volume", 12, 10)

    with in_app(app):  # a second sweep finds nothing more to fold
        assert cron.sweep()["anomalies.api-usage"] == 0
        assert api_usage.pending(acme.id) == 0
    assert _usage(app)[(str(creds.pk), hour)] == 12


def _in_redis(redis_url: str, tenant_id) -> int:
    from redis import Redis

    from tenantry.tenants.anomalies import api_usage

    redis = Redis.from_url(redis_url)
    keys = [k for k in redis.smembers(api_usage.KEYS) if k.decode().startswith(f"{api_usage.PREFIX}{tenant_id}:")]
    return sum(int(redis.get(k) or 0) for k in keys)


@pytest.fixture
def held_counts(make_app, redis_url, monkeypatch):
    """A bearer client of acme on an app counting in Redis, with counts held in the process
    (FLUSH_SECONDS an hour) and nothing unsent to begin with."""
    from tenantry.tenants.anomalies import api_usage
    from tests.identity.support import NO_LIMIT

    app = make_app(WTF_CSRF_ENABLED=False, REDIS_URL=redis_url, TENANTRY_RATELIMIT_LOGIN=NO_LIMIT,
                   TENANTRY_API_RATE_LIMIT=NO_LIMIT, TENANTRY_API_TOKEN_RATE_LIMIT=NO_LIMIT)
    http = app.test_client()
    acme = new_tenant(app, "acme")
    bearer = api.Bearer(http, api.token_for(http, api.new_client(app, acme, scopes="crm:read")))
    monkeypatch.setattr(api_usage, "FLUSH_SECONDS", 3600.0)
    api_usage.flush()
    return bearer, acme


@pytest.mark.redis
def test_a_worker_sends_its_counts_together_and_the_flusher_sends_what_is_left(held_counts, redis_url, monkeypatch):
    """Counting costs a request no Redis round trip of its own: counts wait in the process for
    at most FLUSH_SECONDS, then go in one pipeline; a thread sends them when requests stop."""
    from tenantry.tenants.anomalies import api_usage
    bearer, acme = held_counts
    for _ in range(7):
        assert bearer.get("/api/v1/contacts").status_code == 200
    assert _in_redis(redis_url, acme.id) == 0  # all seven wait in this process
    assert api_usage.flush() == 7
    assert _in_redis(redis_url, acme.id) == 7

    # Once the interval has passed, the next request sends its count with the others.
    monkeypatch.setattr(api_usage, "FLUSH_SECONDS", 0.0)
    assert bearer.get("/api/v1/contacts").status_code == 200
    assert _in_redis(redis_url, acme.id) == 8

    # Requests stop with a count unsent: the flusher thread sends it on its own.
    monkeypatch.setattr(api_usage, "FLUSH_SECONDS", 0.2)
    monkeypatch.setattr(api_usage, "_sent_at", time.monotonic())
    assert bearer.get("/api/v1/contacts").status_code == 200
    assert api_usage._flusher_pid is not None
    deadline = time.monotonic() + 10
    while _in_redis(redis_url, acme.id) < 9 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _in_redis(redis_url, acme.id) == 9


@pytest.mark.redis
def test_counts_redis_refused_are_kept_for_the_next_flush(held_counts, redis_url, monkeypatch):
    from redis.client import Pipeline

    from tenantry.tenants.anomalies import api_usage
    bearer, acme = held_counts
    for _ in range(3):
        assert bearer.get("/api/v1/contacts").status_code == 200
    real_execute = Pipeline.execute

    def refuse(self, *args, **kwargs):
        raise ConnectionError("redis is away")

    monkeypatch.setattr(Pipeline, "execute", refuse)
    assert api_usage.flush() == 0
    monkeypatch.setattr(Pipeline, "execute", real_execute)
    assert _in_redis(redis_url, acme.id) == 0
    assert api_usage.flush() == 3
    assert _in_redis(redis_url, acme.id) == 3


def test_a_forked_child_does_not_send_its_parents_counts_again():
    import os

    from tenantry.tenants.anomalies import api_usage

    api_usage._unsent.setdefault("a redis", {})["key"] = 5
    try:
        pid = os.fork()
        if pid == 0:  # the child: nothing of the parent's to send, a lock of its own
            os._exit(0 if api_usage._unsent == {} and api_usage._flusher_pid is None
                     and api_usage._lock.acquire(timeout=1) else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert api_usage._unsent["a redis"]["key"] == 5  # the parent keeps its own
    finally:
        api_usage._unsent.pop("a redis", None)
