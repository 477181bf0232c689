"""The member's notices in this workspace: read them, and acknowledge those that ask for it."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user

from tenantry.platform import notify
from tenantry.platform.db import db
from tenantry.platform.notify import Notification
from tenantry.platform.tenancy import current_tenant_id
from tenantry.platform.web import tenant_blueprint

bp = tenant_blueprint("notices", __name__)


def _mine():
    return sa.select(Notification).where(
        Notification.user_id == current_user.id,
        Notification.tenant_id == current_tenant_id(),
        Notification.in_app.is_(True),
    )


def awaiting_acknowledgement() -> int:
    """How many notices in this workspace still wait for the member's acknowledgement (banner)."""
    return db.session.execute(
        sa.select(sa.func.count()).select_from(_mine().where(
            Notification.requires_ack.is_(True), Notification.acknowledged_at.is_(None)).subquery())
    ).scalar_one()


def _get(notice_id: uuid.UUID) -> Notification:
    note = db.session.execute(_mine().where(Notification.id == notice_id)).scalar_one_or_none()
    if note is None:
        abort(404)
    return note


@bp.route("/notices")
def index():
    notes = list(db.session.execute(_mine().order_by(Notification.created_at.desc()).limit(200)).scalars())
    return render_template("tenants/notices.html", notes=notes)


@bp.route("/notices/<uuid:notice_id>")
def show(notice_id: uuid.UUID):
    note = _get(notice_id)
    if notify.mark_read(note):
        db.session.commit()
    return render_template("tenants/notice.html", note=note)


@bp.route("/notices/<uuid:notice_id>/acknowledge", methods=["POST"])
def acknowledge(notice_id: uuid.UUID):
    note = _get(notice_id)
    if not note.requires_ack:
        abort(400, "This notice needs no acknowledgement.")
    notify.acknowledge_recorded(note, current_user)
    db.session.commit()
    flash("Acknowledged. Thank you.", "success")
    return redirect(url_for("notices.show", notice_id=note.id))
