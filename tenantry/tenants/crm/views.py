"""The CRM's pages under /t/<slug>/crm/: lists, details, and forms for companies and contacts.

Everyone in the workspace reads; members and above write (`require_role("member")`, so a
viewer gets 403 on every form, GET included). Another tenant's id is simply not found: the
ORM scopes every query to the current tenant, and the answer is 404.
"""

from __future__ import annotations

import uuid

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from tenantry.platform.db import db
from tenantry.platform.web import require_role, tenant_blueprint

from . import companies, contacts, forms

bp = tenant_blueprint("crm", __name__)


def _page_arg() -> int:
    return request.args.get("page", 1, type=int) or 1


def _uuid_arg(name: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(request.args.get(name, ""))
    except ValueError:
        return None


# --- contacts ------------------------------------------------------------------------------


@bp.get("/crm/contacts")
def contact_list():
    q = request.args.get("q", "")[:200]
    company_id = _uuid_arg("company")
    sort = request.args.get("sort", "name")
    page = contacts.listing(q=q, company_id=company_id, sort=sort, page=_page_arg())
    return render_template("crm/contacts.html", page=page, q=q, company_id=company_id, sort=sort,
                           company_choices=companies.choices(), display_name=contacts.display_name)


@bp.get("/crm/contacts/<uuid:contact_id>")
def contact_show(contact_id):
    contact = contacts.get(contact_id) or abort(404)
    company = companies.get(contact.company_id) if contact.company_id else None
    return render_template("crm/contact.html", contact=contact, plain=contact.plain(),
                           company=company, company_name=company.reveal("name") if company else "",
                           display_name=contacts.display_name)


def _contact_form(contact=None):
    form = forms.ContactForm(company_choices=companies.choices())
    if request.method == "GET":
        if contact is not None:
            form.fill_from(contact, contact.plain())
        elif request.args.get("company"):
            form.company.data = request.args["company"]
    status = 200
    if form.validate_on_submit():
        try:
            if contact is None:
                contact = contacts.create(form.data_for_service(), actor=current_user)
            else:
                contacts.update(contact, form.data_for_service(), actor=current_user)
        except contacts.UnknownCompany as exc:
            db.session.rollback()
            form.company.errors = [*form.company.errors, str(exc)]
        else:
            db.session.commit()
            flash("Contact saved.", "success")
            return redirect(url_for("crm.contact_show", contact_id=contact.id))
    if form.errors:
        status = 422
    return render_template("crm/contact_form.html", form=form, contact=contact), status


@bp.route("/crm/contacts/new", methods=["GET", "POST"])
@require_role("member")
def contact_new():
    return _contact_form()


@bp.route("/crm/contacts/<uuid:contact_id>/edit", methods=["GET", "POST"])
@require_role("member")
def contact_edit(contact_id):
    return _contact_form(contacts.get(contact_id) or abort(404))


@bp.post("/crm/contacts/<uuid:contact_id>/delete")
@require_role("member")
def contact_delete(contact_id):
    contact = contacts.get(contact_id) or abort(404)
    contacts.delete(contact, actor=current_user)
    db.session.commit()
    flash("Contact deleted.", "success")
    return redirect(url_for("crm.contact_list"))


# --- companies -----------------------------------------------------------------------------


@bp.get("/crm/companies")
def company_list():
    q = request.args.get("q", "")[:200]
    has_contacts = request.args.get("has_contacts", "")
    sort = request.args.get("sort", "name")
    page = companies.listing(q=q, has_contacts=has_contacts, sort=sort, page=_page_arg())
    return render_template("crm/companies.html", page=page, q=q, has_contacts=has_contacts, sort=sort)


@bp.get("/crm/companies/<uuid:company_id>")
def company_show(company_id):
    company = companies.get(company_id) or abort(404)
    return render_template("crm/company.html", company=company, plain=company.plain(),
                           people=contacts.of_company(company.id), display_name=contacts.display_name)


def _company_form(company=None):
    form = forms.CompanyForm()
    if request.method == "GET" and company is not None:
        form.fill_from(company, company.plain())
    if form.validate_on_submit():
        if company is None:
            company = companies.create(form.data_for_service(), actor=current_user)
        else:
            companies.update(company, form.data_for_service(), actor=current_user)
        db.session.commit()
        flash("Company saved.", "success")
        return redirect(url_for("crm.company_show", company_id=company.id))
    return render_template("crm/company_form.html", form=form, company=company), 422 if form.errors else 200


@bp.route("/crm/companies/new", methods=["GET", "POST"])
@require_role("member")
def company_new():
    return _company_form()


@bp.route("/crm/companies/<uuid:company_id>/edit", methods=["GET", "POST"])
@require_role("member")
def company_edit(company_id):
    return _company_form(companies.get(company_id) or abort(404))


@bp.post("/crm/companies/<uuid:company_id>/delete")
@require_role("member")
def company_delete(company_id):
    company = companies.get(company_id) or abort(404)
    detached = companies.delete(company, actor=current_user)
    db.session.commit()
    flash(f"Company deleted; {detached} contact(s) kept without a company.", "success")
    return redirect(url_for("crm.company_list"))
