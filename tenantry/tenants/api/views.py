"""Tenant admins' page for API clients at /t/<slug>/settings/api-clients: create one (its
secret is shown once, on the response to the create request, and never again), list,
revoke."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from tenantry.dpa.duties.forms import MultiCheckboxField
from tenantry.platform.db import db
from tenantry.platform.forms import Form
from tenantry.platform.web import require_role, tenant_blueprint

from . import clients, oauth
from .models import SCOPES
from .openapi import SCOPE_HELP

bp = tenant_blueprint("api_clients", __name__)


class ApiClientForm(Form):
    name = StringField("Name", validators=[DataRequired(message="Give the client a name."), Length(max=100)])
    scopes = MultiCheckboxField("Scopes", choices=[(s, f"{s} — {SCOPE_HELP[s]}") for s in SCOPES])

    def validate_scopes(self, field):
        try:
            field.data = clients.normalise_scopes(field.data or [])
        except clients.ClientError as exc:
            from wtforms.validators import ValidationError

            raise ValidationError(str(exc)) from exc


def _page(form: ApiClientForm, *, created=None, status: int = 200):
    return render_template("tenants/api_clients.html", form=form, clients=clients.listing(), created=created,
                           token_lifetime_minutes=int(oauth.TOKEN_LIFETIME.total_seconds() // 60)), status


@bp.get("/settings/api-clients")
@require_role("admin")
def index():
    return _page(ApiClientForm())


@bp.post("/settings/api-clients")
@require_role("admin")
def create():
    form = ApiClientForm()
    if not form.validate_on_submit():
        return _page(form, status=422)
    created = clients.create(form.name.data, form.scopes.data, actor=current_user)
    db.session.commit()
    return _page(ApiClientForm(formdata=None), created=created)


@bp.post("/settings/api-clients/<uuid:api_client_id>/revoke")
@require_role("admin")
def revoke(api_client_id):
    client = clients.get(api_client_id) or abort(404)
    if clients.revoke(client, actor=current_user):
        db.session.commit()
        flash(f"“{client.name}” revoked: its tokens no longer work.", "success")
    return redirect(url_for("api_clients.index"))
