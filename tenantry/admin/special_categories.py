"""Staff record of explicit agreements to process special categories of personal data
[DPA-A.special, DPA-5.3]: per tenant, who signed it, when, its reference or document, the
categories and purpose it covers, and its revocation. Platform admins and the DPO record
and revoke; every change is in the audit trail of the tenant concerned."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from wtforms import DateField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from tenantry.admin.access import require_staff_role, staff_blueprint
from tenantry.dpa import special_categories
from tenantry.dpa.duties.forms import MultiCheckboxField
from tenantry.platform.db import db
from tenantry.platform.forms import Form
from tenantry.platform.identity.models import StaffRole
from tenantry.platform.tenancy import Tenant, TenantStatus, all_tenants

bp = staff_blueprint("special_categories", __name__, url_prefix="/admin/special-categories")

ROLES = (StaffRole.PLATFORM_ADMIN, StaffRole.DPO)


class AgreementForm(Form):
    reference = StringField("Reference or document", validators=[
        DataRequired(message="Enter the agreement's reference, e.g. its contract number or file name."),
        Length(max=200)])
    signed_by = StringField("Signed for the controller by", validators=[
        DataRequired(message="Enter who signed it for the tenant (name and role)."), Length(max=200)])
    signed_on = DateField("Signed on", validators=[DataRequired(message="Enter the date it was signed (YYYY-MM-DD).")])
    categories = MultiCheckboxField("Special categories covered", choices=list(special_categories.CATEGORIES.items()))
    scope = TextAreaField("Scope and purpose", validators=[
        DataRequired(message="Describe what the tenant may process and why."), Length(max=5000)])

    def data_for_service(self) -> special_categories.AgreementData:
        return special_categories.AgreementData(
            reference=self.reference.data.strip(), signed_by=self.signed_by.data.strip(),
            signed_on=self.signed_on.data, categories=list(self.categories.data or []),
            scope=self.scope.data.strip())


class RevokeForm(Form):
    reason = TextAreaField("Reason for the revocation", validators=[
        DataRequired(message="Say why the agreement ends."), Length(max=2000)])


def _tenant(tenant_id) -> Tenant:
    tenant = db.session.get(Tenant, tenant_id)
    if tenant is None or tenant.status == TenantStatus.DELETED:
        abort(404)
    return tenant


@bp.get("/")
@require_staff_role(*ROLES)
def index():
    with all_tenants():
        tenants = list(db.session.execute(
            db.select(Tenant).where(Tenant.status != TenantStatus.DELETED).order_by(Tenant.slug)).scalars())
        active = {t.id: special_categories.active(t.id) for t in tenants}
    return render_template("admin/special_categories.html", tenants=tenants, active=active)


def _page(tenant, form=None, revoke_form=None, status=200):
    with all_tenants():
        history = special_categories.for_tenant(tenant.id)
    return render_template("admin/special_categories_tenant.html", tenant=tenant, history=history,
                           form=form or AgreementForm(), revoke_form=revoke_form or RevokeForm(),
                           categories=special_categories.CATEGORIES), status


@bp.route("/<uuid:tenant_id>", methods=["GET", "POST"])
@require_staff_role(*ROLES)
def tenant_page(tenant_id):
    tenant = _tenant(tenant_id)
    form = AgreementForm()
    if request.method == "GET":
        return _page(tenant)
    if form.validate_on_submit():
        try:
            with all_tenants():
                special_categories.record(tenant.id, form.data_for_service(), staff=current_user)
        except special_categories.AgreementError as exc:
            db.session.rollback()
            target = getattr(form, exc.field or "reference")
            target.errors = [*target.errors, str(exc)]
        else:
            db.session.commit()
            flash("Agreement recorded: the tenant may now mark custom fields as special categories.", "success")
            return redirect(url_for("special_categories.tenant_page", tenant_id=tenant.id))
    if not form.categories.data and not form.categories.errors:
        form.categories.errors = ["Choose the special categories the agreement covers."]
    return _page(tenant, form=form, status=422)


@bp.post("/<uuid:tenant_id>/<uuid:special_agreement_id>/revoke")
@require_staff_role(*ROLES)
def revoke(tenant_id, special_agreement_id):
    tenant = _tenant(tenant_id)
    with all_tenants():
        agreement = special_categories.get(tenant.id, special_agreement_id)
    if agreement is None:
        abort(404)
    form = RevokeForm(prefix=f"r{agreement.id.hex[:8]}")
    if form.validate_on_submit():
        try:
            with all_tenants():
                special_categories.revoke(agreement, form.reason.data.strip(), staff=current_user)
        except special_categories.AgreementError as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return redirect(url_for("special_categories.tenant_page", tenant_id=tenant.id))
        db.session.commit()
        flash("Agreement revoked: special-category fields stop taking values, and the values they hold are "
              "withheld from the tenant's pages, list exports and API until it deletes them or a new agreement "
              "is recorded.", "success")
        return redirect(url_for("special_categories.tenant_page", tenant_id=tenant.id))
    return _page(tenant, revoke_form=form, status=422)
