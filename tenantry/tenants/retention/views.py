"""Settings > Retention: the workspace's retention rules, their preview and the sweep's run history,
for its owners and admins."""

from __future__ import annotations

import uuid

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from tenantry.platform import clock
from tenantry.platform.db import db
from tenantry.platform.identity.models import Role
from tenantry.platform.web import require_role, tenant_blueprint

from . import service
from .forms import DeleteRuleForm, RuleForm
from .models import ACTIONS, CONDITIONS, RetentionRule, describe

bp = tenant_blueprint("retention", __name__)


@bp.route("/settings/retention")
@require_role(Role.ADMIN)
def index():
    now = clock.now()
    rules = service.rules()
    due_now = {r.id: service.count_due(r.condition, r.months, r.action, now) for r in rules}
    return render_template("retention/index.html", rules=rules, due_now=due_now, runs=service.runs(),
                           delete_form=DeleteRuleForm(), conditions=CONDITIONS, actions=ACTIONS, describe=describe,
                           backup_days=current_app.extensions["tenantry.settings"].backup_retention_days)


def _form_page(form: RuleForm, rule: RetentionRule | None, preview=None, status: int = 200):
    return render_template("retention/form.html", form=form, rule=rule, preview=preview, actions=ACTIONS,
                           conditions=CONDITIONS), status


def _submit(form: RuleForm, rule: RetentionRule | None):
    if not form.validate_on_submit():
        return _form_page(form, rule, status=422 if form.errors else 200)
    data = form.data_for_service()
    unchanged = rule is not None and rule.enabled and service.RuleData(
        rule.condition, rule.months, rule.action).signature == data.signature
    if form.preview.data or (data.enabled and not unchanged and form.previewed.data != data.signature):
        # An enabled rule is saved only once its preview for these very settings has been seen.
        preview = service.preview(data, actor=current_user)
        if not form.preview.data:
            form.enabled.errors = ["Check below what this rule would remove, then save it again to enable it."]
        form.previewed.data = data.signature
        return _form_page(form, rule, preview, status=200 if form.preview.data else 422)
    try:
        if rule is None:
            rule = service.create(data, actor=current_user)
        else:
            service.update(rule, data, actor=current_user)
    except service.RuleError as exc:
        db.session.rollback()
        getattr(form, exc.field).errors = [str(exc)]
        return _form_page(form, rule, status=422)
    db.session.commit()
    flash("Retention rule saved." + ("" if data.enabled else " It is disabled: the sweep leaves it alone."),
          "success")
    return redirect(url_for("retention.index"))


@bp.route("/settings/retention/new", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def new():
    form = RuleForm()
    if request.method == "GET":
        form.action.data, form.months.data = "anonymise", 24
    return _submit(form, None) if request.method == "POST" else _form_page(form, None)


@bp.route("/settings/retention/<uuid:retention_rule_id>", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def edit(retention_rule_id: uuid.UUID):
    rule = service.get(retention_rule_id) or abort(404)
    form = RuleForm(obj=rule)
    if request.method == "GET":
        return _form_page(form, rule)
    return _submit(form, rule)


@bp.route("/settings/retention/<uuid:retention_rule_id>/delete", methods=["POST"])
@require_role(Role.ADMIN)
def delete(retention_rule_id: uuid.UUID):
    rule = service.get(retention_rule_id) or abort(404)
    if not DeleteRuleForm().validate_on_submit():
        abort(400, "The form expired. Reload the page and try again.")
    service.delete(rule, actor=current_user)
    db.session.commit()
    flash("Retention rule removed. Nothing it already removed comes back.", "success")
    return redirect(url_for("retention.index"))
