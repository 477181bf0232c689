"""Job and notification health for platform admins: what is queued, failed or retried, and a
retry button. Notices are database rows first, so their state is read from the database; RQ's
queues and failed-job registry are read when REDIS_URL is set (jobs run inline otherwise).

No personal data: a notice is shown by kind, tenant and delivery state, never its address or
text, and error messages have e-mail addresses masked.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from redis.exceptions import RedisError

from tenantry.admin.access import require_staff_role, staff_blueprint
from tenantry.platform import audit, clock, jobs, notify
from tenantry.platform.db import db
from tenantry.platform.identity.models import StaffRole
from tenantry.platform.notify import Notification
from tenantry.platform.tenancy import Tenant

bp = staff_blueprint("admin_jobs", __name__, url_prefix="/admin/jobs")

_EMAIL = re.compile(r"[^\s<>@\"']+@[^\s<>@\"']+")
STALE_PENDING = timedelta(minutes=5)


def masked(text: str | None) -> str:
    return _EMAIL.sub("[address]", text or "")


@dataclass
class QueueHealth:
    name: str
    queued: int
    started: int
    scheduled: int
    failed: list[dict]


def notice_counts() -> dict[str, int]:
    rows = db.session.execute(
        sa.select(Notification.delivery_state, sa.func.count()).group_by(Notification.delivery_state)
    ).all()
    counts = {state: 0 for state in ("pending", "sent", "failed", "none")}
    counts.update(dict(rows))
    counts["retried"] = db.session.execute(
        sa.select(sa.func.count()).select_from(Notification).where(Notification.attempts > 1)
    ).scalar_one()
    return counts


def troubled_notices(limit: int = 100) -> list[Notification]:
    """Failed notices, and pending ones older than the sweep's patience."""
    stale = clock.now() - STALE_PENDING
    return list(db.session.execute(
        sa.select(Notification)
        .where(sa.or_(Notification.delivery_state == "failed",
                      sa.and_(Notification.delivery_state == "pending", Notification.created_at <= stale)))
        .order_by(Notification.created_at.desc()).limit(limit)
    ).scalars())


class RedisDown(str):
    """rq_health()'s answer when Redis does not: the error, with addresses masked."""


def rq_health() -> list[QueueHealth] | RedisDown | None:
    """Each queue's health; None without REDIS_URL; RedisDown when Redis does not answer,
    which is when an admin most needs this page."""
    if not current_app.extensions["tenantry.settings"].redis_url:
        return None
    try:
        return _queues()
    except RedisError as exc:
        return RedisDown(masked(str(exc))[:300])


def _queues() -> list[QueueHealth]:
    from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

    result = []
    for name in jobs.QUEUES:
        queue = jobs.rq_queue(name)
        failed_registry = FailedJobRegistry(queue=queue)
        failed = []
        for job in queue.job_class.fetch_many(failed_registry.get_job_ids()[:50], connection=queue.connection):
            if job is None:
                continue
            last_line = (job.exc_info or "").strip().splitlines()[-1:] or [""]
            failed.append({"id": job.id, "func": job.args[0] if job.args else job.func_name,
                           "ended_at": job.ended_at, "error": masked(last_line[0])[:200]})
        result.append(QueueHealth(name, len(queue), StartedJobRegistry(queue=queue).count,
                                  ScheduledJobRegistry(queue=queue).count, failed))
    return result


def retry_notice(note: Notification, by) -> None:
    """Send now, whatever the back-off or the attempt limit said: a person asked for it."""
    note.next_attempt_at = clock.now()
    audit.record("notice.retry_requested", actor=by, target_type="notification", target_id=note.id,
                 details={"kind": note.kind, "attempts": note.attempts})
    jobs.enqueue("mail", "tenantry.platform.notify:deliver", notification_id=str(note.id), tenant_id=None)


def retry_job(queue_name: str, job_id: str, by) -> bool:
    from rq.registry import FailedJobRegistry

    if queue_name not in jobs.QUEUES or not current_app.extensions["tenantry.settings"].redis_url:
        return False
    registry = FailedJobRegistry(queue=jobs.rq_queue(queue_name))
    if job_id not in registry.get_job_ids():
        return False
    registry.requeue(job_id)
    audit.record("job.retry_requested", actor=by, target_type="rq_job", target_id=job_id,
                 details={"queue": queue_name})
    return True


@bp.get("/")
@require_staff_role(StaffRole.PLATFORM_ADMIN)
def index():
    notices = troubled_notices()
    tenant_ids = {n.tenant_id for n in notices if n.tenant_id}
    slugs = dict(db.session.execute(sa.select(Tenant.id, Tenant.slug).where(Tenant.id.in_(tenant_ids))).all()) \
        if tenant_ids else {}
    return render_template("admin/jobs.html", counts=notice_counts(), notices=notices, slugs=slugs,
                           queues=rq_health(), masked=masked, max_attempts=notify.MAX_ATTEMPTS)


@bp.post("/notices/<uuid:notice_id>/retry")
@require_staff_role(StaffRole.PLATFORM_ADMIN)
def retry_notice_view(notice_id: uuid.UUID):
    note = db.session.get(Notification, notice_id) or abort(404)
    if note.delivery_state in ("sent", "none"):
        flash("That notice needs no retry.", "info")
        return redirect(url_for("admin_jobs.index"))
    retry_notice(note, current_user)
    db.session.commit()
    flash("The notice was queued for sending again.", "success")
    return redirect(url_for("admin_jobs.index"))


@bp.post("/queues/<queue_name>/<job_id>/retry")
@require_staff_role(StaffRole.PLATFORM_ADMIN)
def retry_job_view(queue_name: str, job_id: str):
    try:
        retried = retry_job(queue_name, job_id, current_user)
    except RedisError as exc:
        db.session.rollback()
        flash(f"Redis does not answer, so the job cannot be put back now: {masked(str(exc))[:300]}", "error")
        return redirect(url_for("admin_jobs.index"))
    if not retried:
        abort(404)
    db.session.commit()
    flash("The job was put back on its queue.", "success")
    return redirect(url_for("admin_jobs.index"))
