"""Pages for CSV import and export of the CRM, and the custom-field settings.

Import and export are for members and above; custom-field definitions for admins and
owners. An import is visible only to the person who uploaded it; another tenant's import,
or someone else's, is not found (404).
"""

from __future__ import annotations

import re
import uuid

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf.file import FileField
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from tenantry.platform.crypto.fields import fold
from tenantry.platform.csv_cells import csv_download
from tenantry.platform.db import db
from tenantry.platform.forms import Form
from tenantry.platform.tenancy import current_tenant
from tenantry.platform.web import require_role, tenant_blueprint

from . import bulk, contacts, csv_export, csv_import, custom_fields, forms
from .models import COMPANY, CONTACT

bp = tenant_blueprint("crm_io", __name__)


class ImportForm(Form):
    file = FileField("CSV file")


class CustomFieldForm(Form):
    label = StringField("Label", validators=[DataRequired("Enter the field's label."), Length(max=100)])
    key = StringField("Key", validators=[Optional(), Length(max=40)])
    type = SelectField("Type", choices=list(custom_fields.TYPES.items()), validators=[DataRequired("Choose a type.")])
    options = TextAreaField("Options", validators=[Optional(), Length(max=5000)])
    required = BooleanField("Required")
    special_category = BooleanField("Special category of personal data (GDPR art. 9)")

    def data_for_service(self) -> custom_fields.DefinitionData:
        label = self.label.data.strip()
        key = (self.key.data or "").strip().lower() or _key_from(label)
        options = [o.strip() for o in (self.options.data or "").splitlines() if o.strip()]
        return custom_fields.DefinitionData(label=label, key=key, type=self.type.data, options=options,
                                            required=bool(self.required.data),
                                            special_category=bool(self.special_category.data))


def _key_from(label: str) -> str:
    key = re.sub(r"[^a-z0-9]+", "_", fold(label)).strip("_")[:40]
    return key if key[:1].isalpha() else f"f_{key}"[:40]


# --- import --------------------------------------------------------------------------------

ENTITIES = {"contacts": CONTACT, "companies": COMPANY}
LIST_PAGES = {CONTACT: "crm.contact_list", COMPANY: "crm.company_list"}


def _upload(entity: str):
    form = ImportForm()
    if request.method == "POST" and form.validate_on_submit():
        upload = request.files.get("file")
        data = upload.stream.read(csv_import.MAX_BYTES + 1) if upload else b""
        if not upload or not upload.filename:
            form.file.errors = ["Choose a CSV file."]
        elif len(data) > csv_import.MAX_BYTES:
            form.file.errors = [f"The file is larger than {csv_import.MAX_BYTES // (1024 * 1024)} MB: split it "
                                "and import the parts."]
        else:
            try:
                imp, _checked = csv_import.start(entity, data, actor=current_user)
            except csv_import.ImportFileError as exc:
                db.session.rollback()
                form.file.errors = [str(exc)]
            else:
                db.session.commit()
                return redirect(url_for("crm_io.import_show", import_id=imp.id))
    status = 422 if form.errors or form.file.errors else 200
    return render_template("crm/import.html", form=form, entity=entity,
                           definitions=custom_fields.usable() if entity == CONTACT else [],
                           headers=csv_import.CONTACT_HEADERS if entity == CONTACT else csv_import.COMPANY_HEADERS,
                           ), status


@bp.route("/crm/contacts/import", methods=["GET", "POST"])
@require_role("member")
def contact_import():
    return _upload(CONTACT)


@bp.route("/crm/companies/import", methods=["GET", "POST"])
@require_role("member")
def company_import():
    return _upload(COMPANY)


def _own_import(import_id: uuid.UUID) -> csv_import.CsvImport:
    imp = csv_import.get(import_id)
    if imp is None or imp.created_by_id != current_user.id:
        abort(404)
    return imp


def _preview(imp, *, error: str | None = None, status: int = 200):
    checked, problem = None, error
    if imp.status == csv_import.PREVIEWED:
        try:
            checked = csv_import.load(imp)
        except csv_import.ImportFileError as exc:
            problem = str(exc)
    return render_template("crm/import_preview.html", imp=imp, checked=checked, problem=problem,
                           list_page=LIST_PAGES[imp.entity], max_errors=csv_import.PREVIEW_ERRORS,
                           max_valid=csv_import.PREVIEW_VALID), status


@bp.get("/crm/imports/<uuid:import_id>")
@require_role("member")
def import_show(import_id):
    return _preview(_own_import(import_id))


@bp.post("/crm/imports/<uuid:import_id>/commit")
@require_role("member")
def import_commit(import_id):
    imp = _own_import(import_id)
    only_valid = request.form.get("mode") == "valid"
    try:
        csv_import.commit(imp, only_valid=only_valid, actor=current_user)
    except (csv_import.NotAllValid, csv_import.ImportFileError) as exc:
        db.session.rollback()
        return _preview(csv_import.get(import_id), error=str(exc), status=422)
    db.session.commit()
    flash(f"Imported {imp.rows_imported} row{'s' if imp.rows_imported != 1 else ''}.", "success")
    return redirect(url_for("crm_io.import_show", import_id=imp.id))


@bp.get("/crm/imports/<uuid:import_id>/rejected.csv")
@require_role("member")
def import_rejected(import_id):
    imp = _own_import(import_id)
    try:
        header, rows, delimiter = csv_import.rejected(imp, actor=current_user)
    except csv_import.ImportFileError as exc:
        abort(404, str(exc))
    db.session.commit()
    return csv_download(f"rejected-{imp.entity}-rows.csv", header, rows, delimiter=delimiter)


@bp.post("/crm/imports/<uuid:import_id>/discard")
@require_role("member")
def import_discard(import_id):
    imp = _own_import(import_id)
    csv_import.discard(imp, actor=current_user)
    db.session.commit()
    flash("The upload was deleted.", "success")
    return redirect(url_for(LIST_PAGES[imp.entity]))


# --- export --------------------------------------------------------------------------------


def _uuid_arg(name: str) -> uuid.UUID | None:
    return forms.uuid_or_none(request.args.get(name))


def _export(entity: str, header, rows, ids):
    csv_export.record(entity, ids, actor=current_user, tenant_id=current_tenant.id)
    db.session.commit()
    return csv_download(f"{current_tenant.slug}-{entity}.csv", header, rows)


@bp.get("/crm/contacts/export.csv")
@require_role("member")
def contact_export():
    by_field = custom_fields.filter_of(request.args)
    return _export("contacts", *csv_export.contact_rows(
        q=request.args.get("q", "")[:200], company_id=_uuid_arg("company"),
        tag=request.args.get("tag", "").strip()[:contacts.MAX_TAG], sort=request.args.get("sort", "name"),
        custom=by_field.condition if by_field else None))


@bp.get("/crm/companies/export.csv")
@require_role("member")
def company_export():
    return _export("companies", *csv_export.company_rows(
        q=request.args.get("q", "")[:200], has_contacts=request.args.get("has_contacts", ""),
        sort=request.args.get("sort", "name")))


@bp.get("/crm/deals/export.csv")
@require_role("member")
def deal_export():
    return _export("deals", *csv_export.deal_rows(
        q=request.args.get("q", "")[:200], stage_id=_uuid_arg("stage"), owner_id=_uuid_arg("owner"),
        unowned=request.args.get("owner") == bulk.NOBODY,
        close=request.args.get("close", ""), next_step=request.args.get("next", ""),
        reason=request.args.get("reason", ""), sort=request.args.get("sort", "-value")))


@bp.get("/crm/activities/export.csv")
@require_role("member")
def activity_export():
    return _export("activities", *csv_export.activity_rows(
        q=request.args.get("q", "")[:200], kind=request.args.get("kind", ""), owner=request.args.get("owner", ""),
        # done=yes|no: the links of earlier versions, still in bookmarks
        state=request.args.get("state") or {"yes": "done", "no": "open"}.get(request.args.get("done", ""), "")))


# --- custom fields (admins) ----------------------------------------------------------------


def _fields_page(form=None, status: int = 200):
    return render_template("crm/custom_fields.html", definitions=custom_fields.definitions(),
                           form=form or CustomFieldForm(), agreement=custom_fields.agreement(),
                           withheld=custom_fields.withheld(),
                           types=custom_fields.TYPES), status


def _apply(form, error) -> None:
    target = getattr(form, error.field, None) or form.label
    target.errors = [*target.errors, str(error)]


@bp.get("/settings/custom-fields")
@require_role("admin")
def custom_field_list():
    return _fields_page()


@bp.post("/settings/custom-fields")
@require_role("admin")
def custom_field_new():
    form = CustomFieldForm()
    if form.validate_on_submit():
        try:
            custom_fields.create(form.data_for_service(), actor=current_user)
        except custom_fields.DefinitionError as exc:
            db.session.rollback()
            _apply(form, exc)
        else:
            db.session.commit()
            flash("Custom field added.", "success")
            return redirect(url_for("crm_io.custom_field_list"))
    return _fields_page(form, 422)


@bp.route("/settings/custom-fields/<uuid:custom_field_id>/edit", methods=["GET", "POST"])
@require_role("admin")
def custom_field_edit(custom_field_id):
    definition = custom_fields.get(custom_field_id) or abort(404)
    form = CustomFieldForm()
    if request.method == "GET":
        form.label.data, form.key.data, form.type.data = definition.label, definition.key, definition.type
        form.options.data = custom_fields.options_text(definition)
        form.required.data, form.special_category.data = definition.required, definition.special_category
    elif form.validate_on_submit():
        try:
            custom_fields.update(definition, form.data_for_service(), actor=current_user)
        except custom_fields.DefinitionError as exc:
            db.session.rollback()
            _apply(form, exc)
        else:
            db.session.commit()
            flash("Custom field saved.", "success")
            return redirect(url_for("crm_io.custom_field_list"))
    status = 422 if request.method == "POST" else 200
    return render_template("crm/custom_fields_edit.html", form=form, definition=definition,
                           agreement=custom_fields.agreement()), status


@bp.post("/settings/custom-fields/<uuid:custom_field_id>/move")
@require_role("admin")
def custom_field_move(custom_field_id):
    definition = custom_fields.get(custom_field_id) or abort(404)
    custom_fields.move(definition, "up" if request.form.get("direction") == "up" else "down", actor=current_user)
    db.session.commit()
    return redirect(url_for("crm_io.custom_field_list"))


@bp.post("/settings/custom-fields/<uuid:custom_field_id>/delete")
@require_role("admin")
def custom_field_delete(custom_field_id):
    definition = custom_fields.get(custom_field_id) or abort(404)
    removed = custom_fields.delete(definition, actor=current_user)
    db.session.commit()
    flash(f"Custom field deleted with its {removed} value{'s' if removed != 1 else ''}.", "success")
    return redirect(url_for("crm_io.custom_field_list"))
