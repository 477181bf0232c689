"""The volume rule counts real API requests, per client and hour, off the request path."""

from __future__ import annotations

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
