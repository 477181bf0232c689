"""The account review page of a workspace, for owners and admins [TT-account-review]."""

from __future__ import annotations

import uuid

from flask import abort, flash, g, redirect, render_template, url_for
from flask_login import current_user
from wtforms import IntegerField
from wtforms.validators import NumberRange, Optional

from tenantry.platform import audit
from tenantry.platform.db import db
from tenantry.platform.forms import Form
from tenantry.platform.identity.models import Role
from tenantry.platform.tenancy import current_tenant
from tenantry.platform.web import require_role, tenant_blueprint
from tenantry.tenants import account_review as service

bp = tenant_blueprint("account_review", __name__)


class AutoDeactivateForm(Form):
    days = IntegerField(
        "Deactivate members inactive for this many days",
        validators=[Optional(), NumberRange(min=service.AUTO_MIN_DAYS, max=service.AUTO_MAX_DAYS,
                                            message=f"Choose between {service.AUTO_MIN_DAYS} and "
                                                    f"{service.AUTO_MAX_DAYS} days, or leave it empty.")])


def _page(form: AutoDeactivateForm, status: int = 200):
    current = service.review()
    audit.record("account_review.viewed", actor=current_user, tenant_id=current_tenant.id,
                 target_type="tenant", target_id=current_tenant.id)
    db.session.commit()
    return render_template("tenants/account_review.html", review=current, form=form,
                           reports=service.reports(), auto_days=service.auto_deactivate_days(),
                           short_days=service.SHORT_IDLE_DAYS, long_days=service.LONG_IDLE_DAYS,
                           client_days=service.CLIENT_IDLE_DAYS), status


@bp.get("/settings/account-review")
@require_role(Role.ADMIN)
def index():
    form = AutoDeactivateForm(data={"days": service.auto_deactivate_days()})
    return _page(form)


@bp.post("/settings/account-review/auto-deactivation")
@require_role(Role.ADMIN)
def auto_deactivation():
    form = AutoDeactivateForm()
    if form.validate_on_submit():
        try:
            service.set_auto_deactivate(g.membership, form.days.data)
        except service.ReviewError as exc:
            form.days.errors = [*form.days.errors, str(exc)]
        else:
            db.session.commit()
            flash(f"Members inactive for {form.days.data} days will be deactivated automatically."
                  if form.days.data else "Automatic deactivation is off.", "success")
            return redirect(url_for("account_review.index"))
    db.session.rollback()
    return _page(form, 422)


def _membership(membership_id: uuid.UUID):
    return service.get_membership(membership_id) or abort(404)


def _change_member(membership_id: uuid.UUID, change, done: str):
    """Deactivate or reactivate one member from the review; a refusal is flashed, nothing kept."""
    target = _membership(membership_id)
    try:
        changed = change(target)
    except service.ReviewError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        if changed:
            flash(done.format(name=target.user.display_name), "success")
    return redirect(url_for("account_review.index"))


@bp.post("/settings/account-review/members/<uuid:membership_id>/deactivate")
@require_role(Role.ADMIN)
def deactivate(membership_id: uuid.UUID):
    return _change_member(membership_id,
                          lambda target: service.deactivate_member(g.membership, target, reason="account-review"),
                          "{name} is deactivated and can no longer open this workspace.")


@bp.post("/settings/account-review/members/<uuid:membership_id>/reactivate")
@require_role(Role.ADMIN)
def reactivate(membership_id: uuid.UUID):
    return _change_member(membership_id, lambda target: service.reactivate_member(g.membership, target),
                          "{name} can open this workspace again.")


@bp.post("/settings/account-review/api-clients/<uuid:api_client_id>/revoke")
@require_role(Role.ADMIN)
def revoke_client(api_client_id: uuid.UUID):
    """One-click revocation of an API client the review found unused (the page links here)."""
    client = service.revoke_client(g.membership, api_client_id) or abort(404)
    db.session.commit()
    flash(f"The API client {client.name} is revoked; its tokens no longer work.", "success")
    return redirect(url_for("account_review.index"))


@bp.get("/settings/account-review/reports/<uuid:account_review_id>")
@require_role(Role.ADMIN)
def report(account_review_id: uuid.UUID):
    stored = service.get_report(account_review_id) or abort(404)
    current = service.review()
    memberships = {str(m.membership.id): m for m in current.members + current.deactivated}
    audit.record("account_review.viewed", actor=current_user, tenant_id=current_tenant.id,
                 target_type="account_review", target_id=stored.id)
    db.session.commit()
    return render_template("tenants/account_review_report.html", report=stored, f=stored.findings,
                           memberships=memberships, short_days=service.SHORT_IDLE_DAYS,
                           long_days=service.LONG_IDLE_DAYS, client_days=service.CLIENT_IDLE_DAYS)
