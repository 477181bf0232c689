"""Anomaly alerts [TT-activity-log, DPA-B.monitoring]: rules with per-tenant thresholds over the
audit trail, alerts told to the tenant's owners and shown on the staff security dashboard.

Requests only note which audit events (and API requests) there were; the rules run in a job
after commit (rules.evaluate_events, rules.count_api_request), so evaluation never slows the
request that produced the events.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace

import sqlalchemy as sa
from flask import Flask, current_app, g
from sqlalchemy import event
from sqlalchemy.orm import Session

from tenantry.platform import audit, clock, jobs
from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.tenancy import current_tenant_id
from tenantry.tenants.anomalies import api_usage

EVALUATE = "tenantry.tenants.anomalies.rules:evaluate_events"
COUNT_API_REQUEST = "tenantry.tenants.anomalies.rules:count_api_request"
QUEUE = "maintenance"
log = logging.getLogger(__name__)


@event.listens_for(Session, "after_flush")
def _note_audit_events(session, _flush_context):
    from tenantry.tenants.anomalies.rules import relevant

    ids = [obj.id for obj in session.new if isinstance(obj, AuditEvent) and relevant(obj)]
    if not ids:
        return
    try:
        ours = db.session() is session
    except RuntimeError:  # no application context: not the app's session
        ours = False
    if ours:
        # Queued with the transaction: dispatched after it commits, dropped if it rolls back.
        jobs.enqueue(QUEUE, EVALUATE, tenant_id=None, event_ids=ids)


def _note_direct_events(appended: list[tuple[dict, int]]) -> None:
    from tenantry.tenants.anomalies.rules import relevant

    ids = [event_id for values, event_id in appended if relevant(SimpleNamespace(**values))]
    if ids:
        # Queued with the transaction, as for the ORM's events above.
        jobs.enqueue(QUEUE, EVALUATE, tenant_id=None, event_ids=ids)


audit.direct_append_listeners.append(_note_direct_events)


def _count_api_request(response):
    client = g.get("api_client")
    tenant_id = current_tenant_id()
    if client is None or tenant_id is None:
        return response
    try:
        # The identity key needs no query: the view may have committed and expired the client.
        identity = sa.inspect(client).identity
        client_id = str(identity[0] if identity else client.id)
        if current_app.extensions["tenantry.settings"].redis_url:
            # With Redis, one pipelined round trip per request; the sweep folds the counters
            # into api_usage_hours and checks the rule (api_usage.fold), at most a minute later.
            api_usage.count(tenant_id, client_id, clock.now())
        else:
            jobs.enqueue_now(QUEUE, COUNT_API_REQUEST, tenant_id=tenant_id, client_id=client_id,
                             at=clock.now().isoformat())
    except Exception:  # counting is monitoring; it never costs the client its response
        log.exception("could not count an API request for the volume rule")
    return response


def init_app(app: Flask) -> None:
    from tenantry.platform import cron
    from tenantry.platform.web import add_tenant_nav
    from tenantry.tenants.anomalies import models, views  # noqa: F401  (models belong to the schema)

    app.register_blueprint(views.bp)
    app.after_request(_count_api_request)
    cron.register(app, "anomalies.api-usage", api_usage.fold)
    add_tenant_nav(app, "anomalies.settings", "Alerts", role="admin", order=94)
