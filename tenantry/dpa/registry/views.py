"""Pages of the registry: public (HTML, JSON, Atom) and the tenant's own with its objection form."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET

import sqlalchemy as sa
from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, url_for
from flask_login import current_user

from tenantry.dpa import recipients
from tenantry.dpa.registry import services
from tenantry.dpa.registry.forms import ObjectionForm
from tenantry.dpa.registry.models import Objection, TenantSubprocessor
from tenantry.platform import clock
from tenantry.platform.db import db
from tenantry.platform.identity.models import Role
from tenantry.platform.tenancy import current_tenant
from tenantry.platform.web import require_role, tenant_blueprint

public = Blueprint("subprocessors", __name__)
bp = tenant_blueprint("registry", __name__)

ATOM = "http://www.w3.org/2005/Atom"


@public.route("/subprocessors")
def page():
    return render_template("registry/public.html", subs=services.listed(), changes=services.changes())


@public.route("/subprocessors.json")
def as_json():
    return jsonify({
        "updated": _updated().isoformat(),
        "subprocessors": [s.snapshot() for s in services.listed()],
        "changes": [{"at": c.occurred_at.isoformat(), "action": c.action, "subprocessor_id": str(c.subprocessor_id),
                     "state": c.state} for c in services.changes()],
    })


def _updated():
    latest = services.changes(limit=1)
    return latest[0].occurred_at if latest else clock.now()


@public.route("/subprocessors.atom")
def as_atom():
    base = recipients.base_url()
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")

    def child(parent, tag, text=None, **attrs):
        element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        if text is not None:
            element.text = text
        return element

    child(feed, "id", f"{base}/subprocessors.atom")
    child(feed, "title", "Tenantry subprocessors")
    child(feed, "updated", _updated().isoformat())
    child(feed, "link", href=f"{base}/subprocessors.atom", rel="self")
    child(feed, "link", href=f"{base}/subprocessors", rel="alternate")
    author = child(feed, "author")
    child(author, "name", "Tenantry")
    for change in services.changes():
        state = change.state
        entry = child(feed, "entry")
        child(entry, "id", f"{base}/subprocessors#change-{change.id}")
        child(entry, "title", f"{change.action.capitalize()}: {state['legal_name']}")
        child(entry, "updated", change.occurred_at.isoformat())
        child(entry, "link", href=f"{base}/subprocessors#sub-{state['id']}", rel="alternate")
        child(entry, "summary", (
            f"{state['legal_name']} ({state['purpose']}); status {state['status']}; processing in "
            f"{state['processing_location']}; transfer mechanism {state['transfer_mechanism']}; "
            f"effective {state['effective_at']}."
        ))
    body = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return Response(body, mimetype="application/atom+xml")


# --- the tenant's page -----------------------------------------------------------------------


def _row_or_404(row_id: uuid.UUID) -> TenantSubprocessor:
    row = db.session.execute(sa.select(TenantSubprocessor).where(TenantSubprocessor.id == row_id)).scalar_one_or_none()
    if row is None:
        abort(404)
    return row


def _render(forms=None, status=200):
    tenant = current_tenant._get_current_object()
    entries = services.for_tenant(tenant)
    for _sub, _status, row in entries:
        if row is not None:
            services.refresh_delivery(row)
    own = {o.tenant_subprocessor_id: o for o in db.session.execute(sa.select(Objection)).scalars()}
    db.session.commit()
    forms = forms or {}
    for _sub, _status, row in entries:
        if row is not None and row.id not in forms:
            forms[row.id] = ObjectionForm(prefix=f"o{row.id.hex[:8]}")
    return render_template("registry/tenant.html", entries=entries, objections=own, forms=forms,
                           can_object=services.window_open, now=clock.now()), status


@bp.route("/subprocessors")
def index():
    return _render()


@bp.route("/subprocessors/<uuid:tenant_subprocessor_id>/object", methods=["POST"])
@require_role(Role.ADMIN)
def object_to(tenant_subprocessor_id: uuid.UUID):
    row = _row_or_404(tenant_subprocessor_id)
    form = ObjectionForm(prefix=f"o{row.id.hex[:8]}")
    if form.validate_on_submit():
        try:
            services.object_to(row, current_user, form.reason.data)
        except services.RegistryError as exc:
            db.session.rollback()
            form.reason.errors = [*form.reason.errors, str(exc)]
        else:
            db.session.commit()
            flash(f"Your objection to {row.subprocessor.legal_name} is recorded. The operator will resolve it "
                  "with you; until then the subprocessor is not engaged for your workspace.", "success")
            return redirect(url_for("registry.index"))
    db.session.rollback()
    row = _row_or_404(tenant_subprocessor_id)
    return _render({row.id: form}, 422)
