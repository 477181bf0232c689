"""Background jobs: RQ queues named by purpose, or inline when no REDIS_URL is set.

A job is a dotted function path plus ids (never ORM objects) and the tenant id. It is
dispatched only after the transaction that asked for it commits, so a worker never sees a
row that is not there yet; a rolled-back transaction drops its jobs. Every job runs inside
an application context with its tenant made current. Redis being down delays a job: the
state that asked for it is in the database, and the sweep asks again.
"""

from __future__ import annotations

import importlib
import logging
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from tenantry.platform.db import db

QUEUES = ("mail", "exports", "maintenance")
log = logging.getLogger(__name__)


@dataclass
class JobSpec:
    queue: str
    func: str
    tenant_id: str | None
    kwargs: dict[str, Any] = field(default_factory=dict)


_local = threading.local()


def _ready() -> list[JobSpec]:
    if not hasattr(_local, "ready"):
        _local.ready = []
    return _local.ready


def enqueue(queue: str, func: str, *, tenant_id: uuid.UUID | str | None = None, **kwargs: Any) -> JobSpec:
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")
    spec = JobSpec(queue, func, str(tenant_id) if tenant_id else None, kwargs)
    session = db.session()
    if session.in_transaction():
        session.info.setdefault("tenantry_jobs", []).append(spec)
    else:
        _dispatch([spec])
    return spec


def enqueue_now(queue: str, func: str, *, tenant_id: uuid.UUID | str | None = None, **kwargs: Any) -> JobSpec:
    """Dispatch at once, whatever the session's transaction: for work that needs no row of the
    caller's transaction (e.g. counting a request after the response is made, when a read-only
    view left a transaction open that will only be closed, never committed)."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")
    spec = JobSpec(queue, func, str(tenant_id) if tenant_id else None, kwargs)
    _dispatch([spec])
    return spec


@event.listens_for(Session, "after_commit")
def _after_commit(session):
    specs = session.info.pop("tenantry_jobs", None)
    if specs:
        _dispatch(specs)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session):
    session.info.pop("tenantry_jobs", None)


def _dispatch(specs: list[JobSpec]) -> None:
    redis_url = current_app.extensions["tenantry.settings"].redis_url if has_app_context() else ""
    if not redis_url:
        _ready().extend(specs)
        return
    for spec in specs:
        try:
            rq_queue(spec.queue).enqueue(
                "tenantry.platform.jobs.execute", spec.func, spec.tenant_id, spec.kwargs,
                job_timeout=3600, result_ttl=86400, failure_ttl=7 * 86400,
            )
        except Exception:  # Redis down: the sweep re-asks from database state.
            log.exception("could not queue %s on %s; the sweep will retry", spec.func, spec.queue)


def redis_connection():
    from redis import Redis

    ext = current_app.extensions
    if "tenantry.redis" not in ext:
        ext["tenantry.redis"] = Redis.from_url(ext["tenantry.settings"].redis_url)
    return ext["tenantry.redis"]


def rq_queue(name: str):
    from rq import Queue

    return Queue(name, connection=redis_connection())


def drain() -> int:
    """Run the inline jobs whose transactions have committed. Returns how many ran."""
    ran = 0
    while _ready():
        spec = _ready().pop(0)
        try:
            run(spec.func, spec.tenant_id, spec.kwargs)
        except Exception:
            log.exception("inline job %s failed", spec.func)
        ran += 1
    return ran


def discard_pending() -> None:
    _ready().clear()


def run(func: str, tenant_id: str | None, kwargs: dict[str, Any]) -> Any:
    """Run one job in the current application context, with its tenant made current."""
    from tenantry.platform import tenancy

    module_name, _, attr = func.partition(":")
    target = getattr(importlib.import_module(module_name), attr)
    db.session.remove()
    try:
        if tenant_id is None:
            result = target(**kwargs)
        else:
            with tenancy.all_tenants():
                tenant = db.session.get(tenancy.Tenant, uuid.UUID(tenant_id))
            if tenant is None:
                log.warning("job %s for a tenant that is gone (%s); skipped", func, tenant_id)
                return None
            with tenancy.tenant_context(tenant):
                result = target(**kwargs)
        db.session.commit()
        return result
    except Exception:
        db.session.rollback()
        raise
    finally:
        db.session.remove()


_worker_app: Flask | None = None


def worker_app() -> Flask:
    """The application of this worker process, built on first use. A forking worker builds it
    before it forks (platform/rq_worker.py), and every work horse inherits it."""
    global _worker_app
    if _worker_app is None:
        from tenantry import create_app

        _worker_app = create_app()
        with _worker_app.app_context():
            db.engine.dispose()  # no database connection is shared across a fork
    return _worker_app


def execute(func: str, tenant_id: str | None, kwargs: dict[str, Any]) -> Any:
    """The entry point RQ workers call: one application per worker process."""
    if has_app_context():
        return run(func, tenant_id, kwargs)
    with worker_app().app_context():
        return run(func, tenant_id, kwargs)


def init_app(app: Flask) -> None:
    @app.teardown_appcontext
    def _run_inline_jobs(_exc):
        if not _ready():
            return
        # The request's own transaction is over; whatever it did not commit is discarded.
        db.session.remove()
        drain()
