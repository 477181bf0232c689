"""The staff member's notice inbox: in-app notices addressed to them (incident reports and
reminders, cooperation and audit requests), read and acknowledged here, newest first."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user

from tenantry.admin.access import staff_blueprint
from tenantry.platform import notify
from tenantry.platform.db import db
from tenantry.platform.notify import Notification

# Every staff role has an inbox: the gate of the blueprint (staff, two-factor) is the only check.
bp = staff_blueprint("staff_notices", __name__, url_prefix="/admin/notices")


def _mine():
    return sa.select(Notification).where(Notification.staff_id == current_user.id, Notification.in_app.is_(True))


def unread_count(staff_id: uuid.UUID) -> int:
    """Notices the staff member has not opened yet, or must still acknowledge (console header)."""
    return db.session.execute(
        sa.select(sa.func.count()).select_from(Notification).where(
            Notification.staff_id == staff_id, Notification.in_app.is_(True),
            sa.or_(Notification.read_at.is_(None),
                   sa.and_(Notification.requires_ack.is_(True), Notification.acknowledged_at.is_(None))))
    ).scalar_one()


def _get(notice_id: uuid.UUID) -> Notification:
    # Another staff member's notice answers 404, as if it did not exist.
    note = db.session.execute(_mine().where(Notification.id == notice_id)).scalar_one_or_none()
    if note is None:
        abort(404)
    return note


@bp.route("/")
def index():
    notes = list(db.session.execute(
        _mine().order_by(Notification.created_at.desc(), Notification.id).limit(200)).scalars())
    return render_template("admin/notices.html", notes=notes)


@bp.route("/<uuid:notice_id>")
def show(notice_id: uuid.UUID):
    note = _get(notice_id)
    if notify.mark_read(note):
        db.session.commit()
    return render_template("admin/notice.html", note=note)


@bp.route("/<uuid:notice_id>/acknowledge", methods=["POST"])
def acknowledge(notice_id: uuid.UUID):
    note = _get(notice_id)
    if not note.requires_ack:
        abort(400, "This notice needs no acknowledgement.")
    notify.acknowledge_recorded(note, current_user)
    db.session.commit()
    flash("Acknowledged.", "success")
    return redirect(url_for("staff_notices.show", notice_id=note.id))
